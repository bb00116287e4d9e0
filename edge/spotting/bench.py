"""Per-frame cost of the spotter: ``python -m edge.spotting.bench [--fps 120] [--seconds 30]``.

Feeds a landmark stream (a real neutral face from the generator's identities,
landmark jitter, a smile every few seconds) with the identity's photo (pixel
noise, so the optical flow has work to do) through Spotter.update and prints
microseconds per frame, split into alignment + features, the region optical
flow, and the rest. No camera, no models: the number to compare with the
landmark model's ms/frame.
"""

from __future__ import annotations

import argparse
import time
from types import SimpleNamespace

import numpy as np

from edge.config import SpottingConfig
from edge.spotting.align import Aligner
from edge.spotting.features import FeatureExtractor
from edge.spotting.flow import FlowChannel
from edge.spotting.spotter import Spotter


def stream(fps: float, seconds: float, seed: int = 0) -> list[tuple[SimpleNamespace, SimpleNamespace]]:
    from edge.synth.faces import load_identity

    identity = load_identity("astronaut")
    neutral = np.asarray(identity.landmarks, dtype=np.float64)
    neutral = np.column_stack([neutral, np.zeros(len(neutral))])
    iod = float(np.linalg.norm(neutral[263] - neutral[33]))
    rng = np.random.default_rng(seed)
    photo = identity.image.astype(np.int16)
    images = [np.clip(photo + rng.normal(0.0, 3.0, photo.shape), 0, 255).astype(np.uint8) for _ in range(8)]
    out = []
    for i in range(int(fps * seconds)):
        t_ms = i * 1000.0 / fps
        lm = neutral + rng.normal(0.0, 0.003 * iod, neutral.shape)
        phase = (t_ms % 3000.0) - 2000.0  # a 300 ms smile every 3 s
        if 0 <= phase < 300:
            a = np.sin(np.pi * phase / 300.0) ** 2
            lm[[61, 291], 1] -= a * 0.03 * iod
        t_ns = int(t_ms * 1e6)
        out.append((SimpleNamespace(t_ns=t_ns, index=i, image=images[i % len(images)]),
                    SimpleNamespace(face=True, landmarks=lm.astype(np.float32), pose=(0.0, 0.0, 0.0), emotion=None)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fps", type=float, default=120.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    frames = stream(args.fps, args.seconds)
    sp = Spotter(SpottingConfig())
    events = 0
    t0 = time.perf_counter()
    for frame, res in frames:
        events += len(sp.update(frame, res))
    total = time.perf_counter() - t0
    events += len(sp.flush())
    aligner, fx = Aligner(frames[0][1].landmarks), FeatureExtractor()
    t1 = time.perf_counter()
    for _, res in frames:
        fx.of_rows(aligner.align(res.landmarks, rows=fx.landmarks).points)
    part = time.perf_counter() - t1
    flow = FlowChannel(fx.landmarks, fx.weights)
    t2 = time.perf_counter()
    for frame, res in frames:
        flow.update(frame.t_ns / 1e6, frame.image, res.landmarks)
    flow_s = time.perf_counter() - t2
    n = len(frames)
    print(f"spotter: {total / n * 1e6:.0f} us/frame over {n} frames at {args.fps:g} fps "
          f"(align + features {part / n * 1e6:.0f} us/frame, region flow {flow_s / n * 1e6:.0f} us/frame "
          f"where computed); {events} events")


if __name__ == "__main__":
    main()
