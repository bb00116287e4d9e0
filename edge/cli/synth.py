"""`microexpr synth`: annotated micro-expression footage, rendered from a real face photo or made from a real clip."""

from __future__ import annotations

import argparse
import sys

from edge.errors import InputError
from edge.events.record import EMOTIONS
from edge.synth.faces import IDENTITIES
from edge.synth.render import CODECS, FPS_CHOICES, HEAD_MOTIONS, NOISE_MODELS, SynthSpec, generate

# --realistic: the unit's own conditions (hw/bom.csv: Camera Module 3 at 1536x864, the pipeline's default
# lores stream is half of it, where a face at 0.8-1.5 m is 110-60 px wide).
REALISTIC = {"size": (768, 432), "face_size": (60, 110), "parallax": True, "head_motion": "natural", "mains": 50,
             "noise": "sensor", "codec": "h264", "jpeg_quality": 0}


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


def _face_size(text: str) -> tuple[int, int]:
    try:
        parts = [int(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected PIXELS or LOW,HIGH, got {text!r}") from None
    if len(parts) not in (1, 2) or parts[0] > parts[-1]:
        raise argparse.ArgumentTypeError(f"expected PIXELS or LOW,HIGH with LOW <= HIGH, got {text!r}")
    return parts[0], parts[-1]


def _indices(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated episode numbers, got {text!r}") from None


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "synth",
        help="generate annotated footage (video + annotations.csv + manifest)",
        description="Animate a real face photo into a video with known micro and macro expressions (or, with "
        "--from-clip, make real-texture micro expressions from a real clip's annotated episodes), "
        "write OUT_DIR/<name>.mp4, OUT_DIR/<name>.manifest.json and add its rows to OUT_DIR/annotations.csv.",
    )
    p.add_argument("out_dir", metavar="OUT_DIR")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--fps", type=int, default=120, choices=FPS_CHOICES)
    p.add_argument("--duration", type=float, default=None, help="seconds (default 60; 20 with --from-clip)")
    p.add_argument("--identity", default="astronaut", choices=list(IDENTITIES))
    p.add_argument("--micro", type=int, default=None, help="micro expressions (default 12; 6 with --from-clip)")
    p.add_argument("--macro", type=int, default=4, help="macro expressions (default 4)")
    p.add_argument("--emotions", default=None,
                   help="comma-separated emotions to cycle through (default all seven; with --from-clip: only episodes "
                   "annotated with one of them, default any)")
    p.add_argument("--parallax", action="store_true",
                   help="render head yaw and pitch with depth parallax (a 3-D head; default: a planar face)")
    p.add_argument("--no-distractors", action="store_true", help="no blinks, head motion, talking, flicker, noise or JPEG")
    p.add_argument("--size", type=_size, default=None, help="WIDTHxHEIGHT (default 640x480; --realistic 768x432)")
    p.add_argument("--face-size", type=_face_size, default=None,
                   help="face width in pixels, or LOW,HIGH drawn per seed (default 220; --realistic 60,110)")
    p.add_argument("--name", default="", help="file stem (default synth-<identity>-s<seed>-<fps>fps)")
    p.add_argument("--codec", default=None, choices=list(CODECS),
                   help="mp4v -> .mp4 (default), MJPG -> .avi, h264 -> .mp4 at --bitrate (default with --realistic)")
    p.add_argument("--bitrate", type=int, default=0, help="h264 kbit/s (default 0.1 bit per pixel)")
    p.add_argument("--encoder", default="auto", choices=["auto", "ffmpeg", "opencv"],
                   help="auto: the ffmpeg binary at high quality if installed, else OpenCV's writer")
    p.add_argument("--micro-ms", type=_range, default=None,
                   help="micro duration range LOW,HIGH in ms (default 100,480; 40,500 with --from-clip)")
    p.add_argument("--macro-ms", type=_range, default=(600.0, 3500.0), help="macro duration range LOW,HIGH in ms")
    p.add_argument("--micro-intensity", type=_range, default=None,
                   help="micro apex intensity range (default 0.35,0.85 of the AUs; 0.5,1 of the real episode with --from-clip)")
    p.add_argument("--macro-intensity", type=_range, default=(0.6, 1.0), help="macro apex intensity range")
    p.add_argument("--talking-per-min", type=float, default=3.0)
    p.add_argument("--blinks-per-min", type=float, default=15.0)
    p.add_argument("--nods-per-min", type=float, default=3.0)
    unit = p.add_argument_group("the unit's nuisances (--realistic turns them all on)")
    unit.add_argument("--realistic", action="store_true",
                      help="the unit's conditions: 768x432, face 60-110 px, parallax, natural head motion, 50 Hz mains "
                      "flicker, sensor noise, H.264; each can still be set on its own")
    unit.add_argument("--head-motion", default=None, choices=list(HEAD_MOTIONS), help="head drift amplitudes (default: default)")
    unit.add_argument("--mains", type=int, default=None, choices=[0, 50, 60], help="mains flicker at 2x this frequency (0 = off)")
    unit.add_argument("--exposure-ms", type=float, default=0.0, help="exposure for mains flicker (default 70%% of a frame)")
    unit.add_argument("--noise", default=None, choices=list(NOISE_MODELS), help="sensor noise model (default gaussian)")
    clip = p.add_argument_group("real-texture micro expressions from a real clip")
    clip.add_argument("--from-clip", metavar="CLIP", default="", help="a real clip, e.g. footage/clips/single_face.mp4")
    clip.add_argument("--clip-annotations", metavar="CSV", default="", help="its annotation CSV (required with --from-clip)")
    clip.add_argument("--ranges", metavar="CSV", default="", help="its ranges file (default: STEM.ranges.csv beside the CSV)")
    clip.add_argument("--episodes", type=_indices, default=(), help="which annotated episodes (0-based, onset order; default all)")
    clip.add_argument("--gap", type=float, default=1.0, help="seconds of neutral between events at least (default 1)")
    clip.add_argument("--lead-in", type=float, default=3.0, help="seconds of neutral before the first event (default 3)")
    clip.add_argument("--min-neutral", type=float, default=1.0, help="shortest usable neutral stretch, seconds (default 1)")
    clip.add_argument("--masked", action="store_true",
                      help="cover each micro expression with one of the clip's smiles (annotated happiness) from halfway "
                           "down its fall, 0.8-2 s long, a macro row of its own: a concealed feeling masked")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.from_clip:
        return _run_real(args)
    if args.clip_annotations or args.masked:
        raise InputError(f"{'--clip-annotations' if args.clip_annotations else '--masked'} needs --from-clip CLIP")
    emotions = _emotions(args.emotions) or EMOTIONS
    micro_ms = args.micro_ms or (100.0, 480.0)
    if micro_ms[1] > 500 or micro_ms[0] < 1:
        raise InputError(f"--micro-ms: micro expressions last 40..500 ms, got {micro_ms[0]:g},{micro_ms[1]:g}")
    real = REALISTIC if args.realistic else {}
    pick = lambda given, key, default: given if given is not None else real.get(key, default)  # noqa: E731
    size = pick(args.size, "size", (640, 480))
    face = pick(args.face_size, "face_size", (220, 220))
    spec = SynthSpec(
        out_dir=args.out_dir, seed=args.seed, fps=float(args.fps), duration_s=pick(args.duration, "", 60.0), identity=args.identity,
        micro=pick(args.micro, "", 12), macro=args.macro, emotions=emotions, distractors=not args.no_distractors,
        parallax=args.parallax or bool(real.get("parallax")), width=size[0], height=size[1], face_size=face[0],
        face_size_max=face[1] if face[1] > face[0] else 0, name=args.name, codec=pick(args.codec, "codec", "mp4v"),
        encoder=args.encoder, bitrate_kbps=args.bitrate, micro_ms=micro_ms, macro_ms=args.macro_ms,
        micro_intensity=args.micro_intensity or (0.35, 0.85), macro_intensity=args.macro_intensity,
        talking_per_min=args.talking_per_min, blink_per_min=args.blinks_per_min, nods_per_min=args.nods_per_min,
        head_motion=pick(args.head_motion, "head_motion", "default"), mains_hz=pick(args.mains, "mains", 0),
        exposure_ms=args.exposure_ms, noise_model=pick(args.noise, "noise", "gaussian"),
        jpeg_quality=real.get("jpeg_quality", -1),
    )
    bar = _Progress() if sys.stderr.isatty() else None
    result = generate(spec, progress=bar)
    if bar:
        bar.done()
    print(f"{result.video}\t{result.frames} frames\t{len(result.rows)} expressions\t{result.render_fps:.0f} fps rendered")
    print(result.annotations)
    print(result.manifest)
    return 0


def _emotions(text: str | None) -> tuple[str, ...]:
    if text is None:
        return ()
    emotions = tuple(e.strip() for e in text.split(",") if e.strip())
    bad = [e for e in emotions if e not in EMOTIONS]
    if bad or not emotions:
        raise InputError(f"--emotions: unknown emotion {bad[0] if bad else '(none)'!r}; choose from {', '.join(EMOTIONS)}")
    return emotions


def _run_real(args: argparse.Namespace) -> int:
    """Real-texture micro expressions (edge.synth.realtex)."""
    from edge.synth.realtex import RealSpec, generate_real

    if not args.clip_annotations:
        raise InputError("--from-clip needs --clip-annotations CSV (the clip's annotated episodes)")
    if args.realistic:
        raise InputError("--realistic is for generated footage: a real clip already has its camera's light, noise and "
                         "compression (--codec h264 re-encodes it as H.264)")
    spec = RealSpec(
        out_dir=args.out_dir, clip=args.from_clip, annotations=args.clip_annotations, ranges=args.ranges, seed=args.seed,
        micro=args.micro if args.micro is not None else 6, micro_ms=args.micro_ms or (40.0, 500.0),
        intensity=args.micro_intensity or (0.5, 1.0), episodes=args.episodes, emotions=_emotions(args.emotions),
        duration_s=args.duration if args.duration is not None else 20.0, gap_s=args.gap, lead_in_s=args.lead_in,
        min_neutral_s=args.min_neutral, masked=args.masked,
        name=args.name, codec=args.codec or "mp4v", encoder=args.encoder, bitrate_kbps=args.bitrate,
    )
    result = generate_real(spec)
    print(f"{result.video}\t{result.frames} frames\t{len(result.rows)} expressions\treal texture from {spec.clip}")
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
