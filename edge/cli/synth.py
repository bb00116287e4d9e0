"""`microexpr synth`: render annotated micro-expression footage from a real face photo."""

from __future__ import annotations

import argparse
import sys

from edge.errors import InputError
from edge.events.record import EMOTIONS
from edge.synth.faces import IDENTITIES
from edge.synth.render import CODECS, FPS_CHOICES, SynthSpec, generate


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = text.lower().split("x")
        return int(w), int(h)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, got {text!r}") from None


def _range(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LOW,HIGH, got {text!r}") from None
    if not 0 <= lo <= hi:
        raise argparse.ArgumentTypeError(f"expected 0 <= LOW <= HIGH, got {text!r}")
    return lo, hi


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "synth",
        help="generate annotated footage (video + annotations.csv + manifest)",
        description="Animate a real face photo into a video with known micro and macro expressions, "
        "write OUT_DIR/<name>.mp4, OUT_DIR/<name>.manifest.json and add its rows to OUT_DIR/annotations.csv.",
    )
    p.add_argument("out_dir", metavar="OUT_DIR")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--fps", type=int, default=120, choices=FPS_CHOICES)
    p.add_argument("--duration", type=float, default=60.0, help="seconds (default 60)")
    p.add_argument("--identity", default="astronaut", choices=list(IDENTITIES))
    p.add_argument("--micro", type=int, default=12, help="micro expressions (default 12)")
    p.add_argument("--macro", type=int, default=4, help="macro expressions (default 4)")
    p.add_argument("--emotions", default=",".join(EMOTIONS), help="comma-separated emotions to cycle through")
    p.add_argument("--parallax", action="store_true",
                   help="render head yaw and pitch with depth parallax (a 3-D head; default: a planar face)")
    p.add_argument("--no-distractors", action="store_true", help="no blinks, head motion, talking, flicker, noise or JPEG")
    p.add_argument("--size", type=_size, default=(640, 480), help="WIDTHxHEIGHT (default 640x480)")
    p.add_argument("--face-size", type=int, default=220, help="face width in pixels (default 220)")
    p.add_argument("--name", default="", help="file stem (default synth-<identity>-s<seed>-<fps>fps)")
    p.add_argument("--codec", default="mp4v", choices=list(CODECS), help="mp4v -> .mp4, MJPG -> .avi")
    p.add_argument("--encoder", default="auto", choices=["auto", "ffmpeg", "opencv"],
                   help="auto: the ffmpeg binary at high quality if installed, else OpenCV's writer")
    p.add_argument("--micro-ms", type=_range, default=(100.0, 480.0), help="micro duration range LOW,HIGH in ms")
    p.add_argument("--macro-ms", type=_range, default=(600.0, 3500.0), help="macro duration range LOW,HIGH in ms")
    p.add_argument("--micro-intensity", type=_range, default=(0.35, 0.85), help="micro apex intensity range")
    p.add_argument("--macro-intensity", type=_range, default=(0.6, 1.0), help="macro apex intensity range")
    p.add_argument("--talking-per-min", type=float, default=3.0)
    p.add_argument("--blinks-per-min", type=float, default=15.0)
    p.add_argument("--nods-per-min", type=float, default=3.0)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    emotions = tuple(e.strip() for e in args.emotions.split(",") if e.strip())
    bad = [e for e in emotions if e not in EMOTIONS]
    if bad or not emotions:
        raise InputError(f"--emotions: unknown emotion {bad[0] if bad else '(none)'!r}; choose from {', '.join(EMOTIONS)}")
    if args.micro_ms[1] > 500 or args.micro_ms[0] < 1:
        raise InputError(f"--micro-ms: micro expressions last 40..500 ms, got {args.micro_ms[0]:g},{args.micro_ms[1]:g}")
    spec = SynthSpec(
        out_dir=args.out_dir, seed=args.seed, fps=float(args.fps), duration_s=args.duration, identity=args.identity,
        micro=args.micro, macro=args.macro, emotions=emotions, distractors=not args.no_distractors, parallax=args.parallax,
        width=args.size[0], height=args.size[1], face_size=args.face_size, name=args.name, codec=args.codec, encoder=args.encoder,
        micro_ms=args.micro_ms, macro_ms=args.macro_ms, micro_intensity=args.micro_intensity,
        macro_intensity=args.macro_intensity, talking_per_min=args.talking_per_min,
        blink_per_min=args.blinks_per_min, nods_per_min=args.nods_per_min,
    )
    bar = _Progress() if sys.stderr.isatty() else None
    result = generate(spec, progress=bar)
    if bar:
        bar.done()
    print(f"{result.video}\t{result.frames} frames\t{len(result.rows)} expressions\t{result.render_fps:.0f} fps rendered")
    print(result.annotations)
    print(result.manifest)
    return 0


class _Progress:
    """A one-line progress bar on stderr (only on a terminal)."""

    def __init__(self) -> None:
        self.last = -1

    def __call__(self, done: int, total: int) -> None:
        pct = int(100 * done / max(total, 1))
        if pct != self.last:
            self.last = pct
            bar = "#" * (pct // 4)
            sys.stderr.write(f"\r[{bar:<25}] {pct:3d}% {done}/{total} frames")
            sys.stderr.flush()

    def done(self) -> None:
        sys.stderr.write("\n")
