"""FASTER: clip scheduling, FAST-GRU properties, training step, the paper's GFLOP figures."""

import pytest
import torch

from benchmark.errors import ModelError
from benchmark.models import build_model, list_architectures
from benchmark.models.architectures.faster import Faster, FastGRU, r2d_26, r2plus1d_50, r2plus1d_width
from benchmark.models.profile import count_conv_macs, profile_model


@pytest.fixture(scope="module")
def faster():
    """2 clips of 8 frames, pattern 1:1 (expensive, cheap), 3 classes."""
    torch.manual_seed(0)
    return Faster(3, frames=16, clip_length=8, cheap_per_expensive=1).eval()


def test_registered_configurations():
    assert {"FASTER16", "FASTER32"} <= set(list_architectures())
    with torch.device("meta"):
        f16, f32 = build_model("FASTER16-f256", 400), build_model("FASTER32-f256", 400)
    assert (f16.clip_length, f16.expensive_clips) == (16, [0, 8])  # 16 clips, 1:7
    assert (f32.clip_length, f32.expensive_clips, f32.cheap_clips) == (32, [0, 2, 4, 6], [1, 3, 5, 7])


def test_clips_go_to_their_models(faster):
    calls = {}
    hooks = [m.register_forward_hook(lambda mod, i, o, key=key: calls.__setitem__(key, (i[0].shape, o.shape)))
             for key, m in (("expensive", faster.expensive), ("cheap", faster.cheap))]
    with torch.no_grad():
        faster(torch.randn(2, 3, 16, 32, 32))
    for hook in hooks:
        hook.remove()
    # 2 videos x 1 clip per model, each clip 8 frames -> L/8 = 1 time step of 2048 x 1 x 1
    assert calls["expensive"] == ((2, 3, 8, 32, 32), (2, 2048, 1, 1, 1))
    assert calls["cheap"] == ((2, 3, 8, 32, 32), (2, 2048, 1, 1, 1))


def test_output_independent_of_batch_composition(faster):
    torch.manual_seed(1)
    videos = torch.randn(2, 3, 16, 32, 32)
    with torch.no_grad():
        together = faster(videos)
        alone = torch.cat([faster(videos[i:i + 1]) for i in range(2)])
        reordered = faster(videos[[1, 0]])
    torch.testing.assert_close(together, alone, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(reordered, together[[1, 0]], rtol=1e-4, atol=1e-5)


def test_fast_gru_gates():
    torch.manual_seed(0)
    gru = FastGRU(channels=16, reduction=4)
    state, x = torch.randn(2, 16, 1, 3, 3), torch.randn(2, 16, 1, 3, 3)
    with torch.no_grad():
        gru.update_out.weight.zero_()
        gru.update_out.bias.fill_(-50.0)  # update gate closed: the state passes unchanged
        torch.testing.assert_close(gru(state, x), state)
        gru.update_out.bias.fill_(50.0)  # open: the state becomes the candidate
        gru.read_out.weight.zero_()
        gru.read_out.bias.fill_(-50.0)  # read gate closed: candidate = tanh(V_x x)
        torch.testing.assert_close(gru(state, x), torch.tanh(gru.candidate_x(x)))
    assert gru(state, x).shape == state.shape  # resolution kept, unlike a pooled GRU


@pytest.mark.slow
def test_forward_backward_tiny_video(faster):
    faster.train()
    logits = faster(torch.randn(2, 3, 16, 32, 32))
    assert logits.shape == (2, 3)
    logits.logsumexp(1).sum().backward()
    faster.eval()
    for part in (faster.expensive, faster.cheap, faster.aggregate, faster.classifier):
        assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in part.parameters())


def test_r2plus1d_middle_width_follows_table_1():
    assert [r2plus1d_width(c, c) for c in (64, 128, 256, 512)] == [144, 288, 576, 1152]


@pytest.mark.slow
def test_clip_model_and_aggregation_flops_match_paper():
    def gmacs(model, frames):
        with torch.device("meta"):
            net, clip = model().eval(), torch.empty(1, 3, frames, 224, 224)
        return count_conv_macs(net, clip) / 1e9

    # Table 2: R(2+1)D-50 30.0 / 60.0 / 119.9 and R2D-26 3.2 / 12.7 GFLOPs for 8 / 16 / 32 frames.
    assert [round(gmacs(r2plus1d_50, n), 1) for n in (8, 16, 32)] == [30.0, 60.0, 119.9]
    assert [round(gmacs(r2d_26, n), 1) for n in (8, 32)] == [3.2, 12.7]
    # Table 2 prints 6.0 for R2D-26 at 16 frames; its cost is exactly linear in L (one 8-frame stem
    # window per 8 frames), so 16 frames cost 2 x 3.166 = 6.33, which Table 4 confirms (FASTER16's
    # 230.4 = 2 x 60.0 + 14 x C16 + 15 x GRU step needs C16 = 6.35).
    assert gmacs(r2d_26, 16) == pytest.approx(2 * gmacs(r2d_26, 8))
    # One FAST-GRU step on 2048 x 1 x 7 x 7 maps: Table 4's all-expensive 8x32 row gives
    # (982.4 - 32 x 30.0) / 31 = 0.72 GFLOPs.
    with torch.device("meta"):
        gru, maps = FastGRU(), torch.empty(1, 2048, 1, 7, 7)
    assert round(count_conv_macs(gru, maps, maps) / 1e9, 2) == 0.72


@pytest.mark.slow
def test_whole_video_flops_match_paper():
    # Table 4/5: FASTER32 (32 frames x 8 clips, 1:1) 550.4, FASTER16 (16 x 16, 1:7) 230.4 GFLOPs.
    # That table is consistent with itself only to about 1 GFLOP (e.g. its all-expensive row implies
    # R(2+1)D-50 at 30.02), so we compare to 0.2%.
    assert profile_model("FASTER32-f256", 400)["macs_conv"] / 1e9 == pytest.approx(550.4, rel=2e-3)
    assert profile_model("FASTER16-f256", 400)["macs_conv"] / 1e9 == pytest.approx(230.4, rel=2e-3)


def test_invalid_requests():
    with pytest.raises(ModelError, match="multiple of the clip length 16"):
        build_model("FASTER16-f24", 10)
    with pytest.raises(ModelError, match="temporal pooling"):
        build_model("FASTER32-tp-f256", 10)
    with pytest.raises(ModelError, match="valid options: dropout, freeze_clip_models, inflate, pretrained"):
        build_model("FASTER32-f64", 10, frobnicate=True)


def test_frozen_clip_models_stay_fixed():
    with torch.device("meta"):
        model = build_model("FASTER32-f64", 10, freeze_clip_models=True)
    model.train()
    assert not model.expensive.training and not model.cheap.training  # BN statistics fixed too
    assert model.aggregate.training
    assert not any(p.requires_grad for p in model.expensive.parameters())
    assert all(p.requires_grad for p in model.aggregate.parameters())
