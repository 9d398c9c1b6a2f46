"""Frame sampling against hand-computed positions (paper 002 Supplement D.1, official code facts)."""

import numpy as np
import pytest

from benchmark.data.sampling import (
    clip_offsets,
    dense_test,
    dense_train,
    sample_positions,
    uniform_test,
    uniform_train,
)


def test_clip_offsets_follow_minus_half_m_to_half_m():
    # -m/2 <= i < m/2, integers
    assert clip_offsets(1) == [0]
    assert clip_offsets(2) == [-1, 0]
    assert clip_offsets(3) == [-1, 0, 1]
    assert clip_offsets(10) == [-5, -4, -3, -2, -1, 0, 1, 2, 3, 4]


def test_uniform_test_single_clip_takes_segment_centres():
    # 20 frames, 4 segments of 5: centres int(2.5 + 5k)
    assert uniform_test(20, 4, 1) == [[2, 7, 12, 17]]
    # 16 frames, 8 segments of 2: int(1 + 2k)
    assert uniform_test(16, 8, 1) == [[1, 3, 5, 7, 9, 11, 13, 15]]


def test_uniform_test_multi_clip_offsets_are_clamped_to_the_segment():
    clips = uniform_test(20, 4, 10)
    base = np.array([0, 5, 10, 15])
    expected = [base + d for d in (0, 0, 0, 0, 1, 2, 3, 4, 4, 4)]  # offsets -5..4 kept in [-2.5, 2.5)
    assert clips == [list(e) for e in expected]
    assert uniform_test(20, 4, 2) == [[1, 6, 11, 16], [2, 7, 12, 17]]


def test_uniform_short_video_repeats_frames():
    # 3 frames, 8 segments: floor(0.1875 + 0.375 k)
    assert uniform_test(3, 8, 1) == [[0, 0, 0, 1, 1, 2, 2, 2]]
    rng = np.random.default_rng(0)
    for _ in range(20):
        pos = uniform_train(3, 8, rng)
        assert len(pos) == 8 and pos == sorted(pos) and all(0 <= p < 3 for p in pos)


def test_uniform_train_shared_offset_keeps_equal_spacing():
    seen = set()
    for seed in range(200):
        pos = uniform_train(20, 4, np.random.default_rng(seed))
        o = pos[0]
        assert pos == [o, 5 + o, 10 + o, 15 + o]
        seen.add(o)
    assert seen == {0, 1, 2, 3, 4}


def test_uniform_train_per_segment_draws_each_segment_independently():
    spacings = set()
    for seed in range(200):
        pos = uniform_train(20, 4, np.random.default_rng(seed), per_segment=True)
        assert all(5 * k <= p < 5 * (k + 1) for k, p in enumerate(pos))
        spacings.add(tuple(np.diff(pos)))
    assert len(spacings) > 10  # not one shared offset


def test_dense_train_is_contiguous_at_stride_from_a_random_start():
    starts = set()
    for seed in range(300):
        pos = dense_train(30, 4, 2, np.random.default_rng(seed))
        s = pos[0]
        assert pos == [s, s + 2, s + 4, s + 6]
        assert 0 <= s < 30 - 2 * 4
        starts.add(s)
    assert starts == set(range(22))


def test_dense_short_video_loops():
    assert dense_train(5, 4, 2, np.random.default_rng(0)) == [0, 2, 4, 1]
    assert dense_test(5, 4, 2, 3) == [[0, 2, 4, 1]] * 3


def test_dense_test_spreads_clips_evenly_from_the_start():
    assert dense_test(30, 4, 2, 1) == [[0, 2, 4, 6]]  # clip level: the first clip
    assert dense_test(30, 4, 2, 3) == [[0, 2, 4, 6], [11, 13, 15, 17], [22, 24, 26, 28]]


def test_sample_positions_dispatch_and_determinism():
    a = sample_positions(50, 8, sampling="uniform", train=True, rng=np.random.default_rng([1, 2, 3]))
    b = sample_positions(50, 8, sampling="uniform", train=True, rng=np.random.default_rng([1, 2, 3]))
    assert a == b and len(a) == 1 and len(a[0]) == 8
    assert sample_positions(20, 4, sampling="uniform", train=False, rng=None, num_clips=2) == uniform_test(20, 4, 2)
    assert sample_positions(30, 4, sampling="dense", train=False, rng=None, stride=2, num_clips=3) == dense_test(
        30, 4, 2, 3)
    with pytest.raises(ValueError):
        sample_positions(0, 4, sampling="uniform", train=False, rng=None)
