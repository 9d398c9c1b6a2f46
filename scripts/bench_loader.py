"""Loader throughput on a synthesised Kinetics-like dataset: `stbench data bench` (the suite's loader
beside an ARP-style PIL loader) on JPEG frame folders, then sparse 8-frame clip decoding with each
video decoder (PyAV, TorchCodec when installed) side by side.

Writes textured moving videos at Kinetics-like resolution (340x256, 10 s at 30 fps by default) once,
as JPEG frame folders (and, for the decoder table, H.264 mp4), then runs the library bench
(benchmark.data.bench) exactly as `stbench data bench DIR/frames.txt` would. Not a unit test: run
it, copy the tables into docs/data.md.

    python scripts/bench_loader.py [--videos 24] [--frames-per-video 300] [--batches 8] [--rounds 3]
    python scripts/bench_loader.py --decoders-only [--clips 96] [--rounds 3]
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np
import torch

from benchmark.data import resolve_data_config
from benchmark.data.bench import bench_loaders
from benchmark.data.decoders import DECODERS
from benchmark.data.encode import write_frames, write_video
from benchmark.data.sampling import uniform_train
from benchmark.errors import ConfigError


def textured_video(n: int, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """Smooth random texture panning across the frame: realistic work for JPEG and H.264 codecs."""
    coarse = rng.integers(0, 255, size=(h // 8 + 2, (w + n * 2) // 8 + 2, 3)).astype(np.float32)
    big = np.kron(coarse, np.ones((8, 8, 1), np.float32))
    big = (big + np.roll(big, 4, 0) + np.roll(big, 4, 1)) / 3
    return np.stack([big[:h, 2 * t:2 * t + w] for t in range(n)]).astype(np.uint8)


def make_data(root: Path, videos: int, frames: int, encode_videos: bool) -> None:
    """Frame folders (``frames.txt``); with ``encode_videos`` also the mp4 lists of the decoder table."""
    marker = root / ("done-videos" if encode_videos else "done-frames")
    if marker.is_file() and marker.read_text() == f"3 {videos} {frames}":  # this version, these sizes
        return
    rng = np.random.default_rng(0)
    frame_lines, video_lines, gop_lines = [], [], []
    for i in range(videos):
        v = textured_video(frames, 256, 340, rng)
        write_frames(v, root / "frames" / f"v{i:03d}", quality=90)
        if encode_videos:
            write_video(v, root / "videos" / f"v{i:03d}.mp4", fps=30, crf=23)
            write_video(v, root / "videos_gop30" / f"v{i:03d}.mp4", fps=30, crf=23, keyint=30)
        frame_lines.append(f"frames/v{i:03d} 1 {frames} {i % 4}")
        video_lines.append(f"videos/v{i:03d}.mp4 {i % 4}")
        gop_lines.append(f"videos_gop30/v{i:03d}.mp4 {i % 4}")
    (root / "frames.txt").write_text("\n".join(frame_lines) + "\n")
    if encode_videos:
        (root / "videos.txt").write_text("\n".join(video_lines) + "\n")
        (root / "videos_gop30.txt").write_text("\n".join(gop_lines) + "\n")
    marker.write_text(f"3 {videos} {frames}")


SOURCES = {"videos.txt": "H.264 mp4, key frame every 250", "videos_gop30.txt": "H.264 mp4, key frame every 30"}


def loader_table(root: Path, batches: int, rounds: int, workers: list[int], cpu_norm: bool) -> None:
    cfg = resolve_data_config(dict(root=str(root), format="frames", train_list="frames.txt", val_list="frames.txt",
                                   num_classes=4, resize=256, crop=224))
    print("| frames | workers | stbench clips/s | PIL clips/s | ratio |")
    print("|---|---|---|---|---|")
    for row in bench_loaders(cfg, frames=(8, 16), workers=workers, batches=batches, rounds=rounds,
                             normalise_on_cpu=cpu_norm):
        print(f"| {row.frames} | {row.workers} | {row.stbench_clips_per_s:.1f} | {row.pil_clips_per_s:.1f} | "
              f"{row.ratio:.2f}x |", flush=True)


def available_decoders() -> list[str]:
    names = []
    for name in DECODERS.names():
        try:
            DECODERS.get(name).require()
        except ConfigError as exc:
            print(f"# {name}: skipped ({exc})")
            continue
        names.append(name)
    return names


def decode_rate(root: Path, list_name: str, decoder: str, clips: int) -> float:
    """Clips/s of decoding alone: open a video, read 8 training-mode uniform positions, close."""
    paths = [root / line.split()[0] for line in (root / list_name).read_text().splitlines()]
    cls = DECODERS.get(decoder)
    rng = np.random.default_rng(0)  # the same positions for every decoder
    start = time.perf_counter()
    for i in range(clips):
        video = cls(paths[i % len(paths)], "bench")
        video.read(uniform_train(video.num_frames, 8, rng))
    return clips / (time.perf_counter() - start)


def decoder_table(root: Path, clips: int, rounds: int) -> None:
    """Decoders alternate within each round (same files, same positions, same load); best round kept."""
    names = available_decoders()
    print(f"\n| source | {' | '.join(f'{n} clips/s' for n in names)} |")
    print(f"|---|{'---|' * len(names)}")
    for list_name in ("videos.txt", "videos_gop30.txt"):
        best = dict.fromkeys(names, 0.0)
        for _ in range(rounds):
            for name in names:
                best[name] = max(best[name], decode_rate(root, list_name, name, clips))
        print(f"| {SOURCES[list_name]} | {' | '.join(f'{best[n]:.1f}' for n in names)} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=24)
    parser.add_argument("--frames-per-video", type=int, default=300)
    parser.add_argument("--batches", type=int, default=8, help="loader table: timed batches per loader and round")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--normalise-on-cpu", action="store_true", help="count the suite's normalisation on the CPU")
    parser.add_argument("--dir", default="/tmp/stbench-bench")
    parser.add_argument("--clips", type=int, default=96, help="decoder table: clips per decoder and round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per table (the best is shown)")
    parser.add_argument("--decoders-only", action="store_true", help="only the decoder table")
    args = parser.parse_args()
    torch.set_num_threads(1)
    root = Path(args.dir)
    make_data(root, args.videos, args.frames_per_video, encode_videos=args.decoders_only)
    print(f"# {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{args.videos} videos 340x256, {args.frames_per_video} frames each; train mode, 224 crops, batch 4\n")
    if args.decoders_only:
        decoder_table(root, args.clips, args.rounds)
    else:
        loader_table(root, args.batches, args.rounds, args.workers, args.normalise_on_cpu)


if __name__ == "__main__":
    main()
