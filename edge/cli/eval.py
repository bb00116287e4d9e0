"""`microexpr eval`: MEGC spotting and recognition scores on annotated footage."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from edge.errors import InputError
from edge.evaluation import misses
from edge.evaluation.harness import Evaluation, run_pipeline, score_predictions
from edge.evaluation.metrics import score_dict
from edge.events.annotations import write_annotations


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="score spotting and recognition on annotated footage (MEGC protocol)",
        description="Run the whole pipeline on every annotated video under PATH and score it, "
        "or score a predictions CSV (--predictions) without running anything.",
    )
    p.add_argument("path", metavar="PATH", nargs="?", help="a video file or a folder of videos")
    p.add_argument("--annotations", metavar="GT.csv",
                   help="ground truth (video,onset,apex,offset,type,emotion,aus); with --convert, the file to write")
    p.add_argument("--predictions", metavar="PRED.csv", help="score these predictions instead of running the pipeline")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--plot", metavar="FILE.png", help="draw each video's timeline: truth against predictions")
    p.add_argument("--all-videos", action="store_true",
                   help="also score video files under PATH that no row names, as footage without expressions")
    p.add_argument("--save-predictions", metavar="OUT.csv", help="write the pipeline's predictions in the annotation format")
    p.add_argument("--convert", nargs=2, metavar=("FORMAT", "SHEET.csv"),
                   help="convert a dataset sheet exported as CSV (casme2 or samm-lv) into --annotations, then stop")
    p.add_argument("--video-pattern", default="", help="with --convert: video file name from {subject}, {code}, {name} "
                   "(default {code}.mkv)")
    p.add_argument("--first-frame", type=int, default=1, help="with --convert: number of the first image in a sequence")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not args.annotations:
        raise InputError("--annotations GT.csv is required")
    gt = Path(args.annotations)
    if args.convert:
        from edge.evaluation.convert import convert

        rows = convert(args.convert[0], Path(args.convert[1]), args.video_pattern, args.first_frame)
        write_annotations(gt, rows)
        print(f"{gt}: {len(rows)} rows ({sum(r.type == 'micro' for r in rows)} micro) from {args.convert[1]}")
        return 0
    if args.predictions and args.path:
        raise InputError("give either PATH (run the pipeline) or --predictions, not both")
    if args.predictions:
        ev = score_predictions(Path(args.predictions), gt)
    elif args.path:
        bar = _Progress() if sys.stderr.isatty() and not args.json else None
        ev = run_pipeline(Path(args.path), gt, args.config, progress=bar, all_videos=args.all_videos)
    else:
        raise InputError("nothing to score: give PATH (a video or folder) or --predictions PRED.csv")
    if args.save_predictions:
        write_annotations(Path(args.save_predictions), ev.predictions)
    if args.plot:
        from edge.evaluation.plot import plot_timelines

        plot_timelines(ev, Path(args.plot))
    d = score_dict(ev.score, ev.videos, sum(ev.frames.values()), ev.minutes)
    d["false_negatives"] = [misses.explain(a, ev.predictions, None if ev.rejections is None else
                                           ev.rejections.get(a.video, [])) for a in ev.score.false_negatives]
    if args.json:
        print(json.dumps(d))
    else:
        print(table(ev, d))
    return 0


def table(ev: Evaluation, d: dict) -> str:
    lines = [f"videos {d['videos']}  frames {d['frames']}  truths {len(ev.truths)}  predictions {len(ev.predictions)}  IoU >= {d['iou_threshold']}",
             "",
             f"{'spotting':<10}{'TP':>6}{'FP':>6}{'FN':>6}{'precision':>11}{'recall':>8}{'F1':>8}"]
    for k in ("micro", "macro", "overall"):
        c = d[k]
        lines.append(f"{k:<10}{c['tp']:>6}{c['fp']:>6}{c['fn']:>6}{c['precision']:>11.3f}{c['recall']:>8.3f}{c['f1']:>8.3f}")
    if d.get("false_micro_per_min") is not None:
        lines.append(f"false micro events: {d['micro']['fp']} in {d['minutes']:.2f} min of footage, "
                     f"{d['false_micro_per_min']:.2f} a minute")
    r = d["recognition"]
    lines += ["", f"recognition over {r['n']} matched micro expressions: accuracy {r['accuracy']:.3f}  UF1 {r['uf1']:.3f}  UAR {r['uar']:.3f}"]
    if r["n"]:
        labels = [lab[:4] or "none" for lab in r["labels"]]
        lines.append("truth \\ predicted " + " ".join(f"{lab:>5}" for lab in labels))
        for lab, row in zip(r["labels"][:-1], r["confusion"]):
            lines.append(f"{lab:<18}" + " ".join(f"{v:>5}" for v in row))
    return "\n".join(lines + misses.lines([(m["video"], m) for m in d.get("false_negatives", [])]))


class _Progress:
    """One line on stderr: frames analysed over all videos (only on a terminal)."""

    def __call__(self, name: str, done: int, total: int) -> None:
        pct = 100 * done // max(total, 1)
        bar = "#" * (pct // 4)
        sys.stderr.write(f"\r[{bar:<25}] {pct:3d}% {done}/{total} frames {name[:40]:<40}")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()
