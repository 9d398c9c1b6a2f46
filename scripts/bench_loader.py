"""Loader throughput: clips/s for JPEG frame folders and H.264 mp4, 8 and 16 frames, 224 crops, 0 and 2 workers;
then sparse 8-frame clip decoding with each video decoder (PyAV, TorchCodec when installed) side by side.

Writes a small dataset of textured moving videos at Kinetics-like resolution (340x256, 10 s at
30 fps by default) once, then times full training-mode loading (uniform sampling, multi-scale crop
to 224, flip, normalisation) of every configuration. Not a unit test: run it, copy the table into
docs/data.md.

    python scripts/bench_loader.py [--videos 24] [--frames-per-video 300] [--batches 6] [--dir /tmp/stbench-bench]
    python scripts/bench_loader.py --decoders-only [--clips 96] [--rounds 3]
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np
import torch

from benchmark.data import build_loader, resolve_data_config
from benchmark.data.decoders import DECODERS
from benchmark.data.encode import write_frames, write_video
from benchmark.data.formats import sniff_format
from benchmark.data.sampling import uniform_train
from benchmark.errors import ConfigError

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def textured_video(n: int, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """Smooth random texture panning across the frame: realistic work for JPEG and H.264 codecs."""
    coarse = rng.integers(0, 255, size=(h // 8 + 2, (w + n * 2) // 8 + 2, 3)).astype(np.float32)
    big = np.kron(coarse, np.ones((8, 8, 1), np.float32))
    big = (big + np.roll(big, 4, 0) + np.roll(big, 4, 1)) / 3
    return np.stack([big[:h, 2 * t:2 * t + w] for t in range(n)]).astype(np.uint8)


def make_data(root: Path, videos: int, frames: int) -> None:
    marker = root / "done"
    if marker.is_file() and marker.read_text() == "2":  # written by this version of the script
        return
    rng = np.random.default_rng(0)
    frame_lines, video_lines, gop_lines = [], [], []
    for i in range(videos):
        v = textured_video(frames, 256, 340, rng)
        write_frames(v, root / "frames" / f"v{i:03d}", quality=90)
        write_video(v, root / "videos" / f"v{i:03d}.mp4", fps=30, crf=23)
        write_video(v, root / "videos_gop30" / f"v{i:03d}.mp4", fps=30, crf=23, keyint=30)
        frame_lines.append(f"frames/v{i:03d} 1 {frames} {i % 4}")
        video_lines.append(f"videos/v{i:03d}.mp4 {i % 4}")
        gop_lines.append(f"videos_gop30/v{i:03d}.mp4 {i % 4}")
    (root / "frames.txt").write_text("\n".join(frame_lines) + "\n")
    (root / "videos.txt").write_text("\n".join(video_lines) + "\n")
    (root / "videos_gop30.txt").write_text("\n".join(gop_lines) + "\n")
    marker.write_text("2")


SOURCES = {
    "frames.txt": "JPEG frame folders",
    "videos.txt": "H.264 mp4, key frame every 250",
    "videos_gop30.txt": "H.264 mp4, key frame every 30",
}


def measure(root: Path, list_name: str, frames: int, workers: int, batches: int, batch_size: int = 4) -> float:
    fmt = sniff_format(root / list_name, None)  # the format whose reader claims the list
    cfg = resolve_data_config(dict(root=str(root), format=fmt, train_list=list_name, val_list=list_name,
                                   num_classes=4, resize=256, crop=224))
    loader = build_loader(cfg, "train", frames=frames, mean=MEAN, std=STD, train=True, batch_size=batch_size,
                          num_workers=workers)
    loader.set_epoch(0)
    it = iter(loader)
    next(it)  # worker start-up and first batch excluded
    start, clips = time.perf_counter(), 0
    for _ in range(batches):
        try:
            clips += len(next(it)["video"])
        except StopIteration:
            loader.set_epoch(1)
            it = iter(loader)
    return clips / (time.perf_counter() - start)


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
    parser.add_argument("--batches", type=int, default=6)
    parser.add_argument("--dir", default="/tmp/stbench-bench")
    parser.add_argument("--clips", type=int, default=96, help="decoder table: clips per decoder and round")
    parser.add_argument("--rounds", type=int, default=3, help="decoder table: rounds (the best is shown)")
    parser.add_argument("--decoders-only", action="store_true", help="only the decoder table")
    args = parser.parse_args()
    torch.set_num_threads(1)
    root = Path(args.dir)
    make_data(root, args.videos, args.frames_per_video)
    print(f"# {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{args.videos} videos 340x256, {args.frames_per_video} frames each; train mode, 224 crops\n")
    if not args.decoders_only:
        print("| source | frames | workers | clips/s |")
        print("|---|---|---|---|")
        for list_name, name in SOURCES.items():
            for frames in (8, 16):
                for workers in (0, 2):
                    rate = measure(root, list_name, frames, workers, args.batches)
                    print(f"| {name} | {frames} | {workers} | {rate:.1f} |", flush=True)
    decoder_table(root, args.clips, args.rounds)


if __name__ == "__main__":
    main()
