"""`--plot`: one timeline row per video, ground truth above predictions, as a PNG (matplotlib Agg)."""

from __future__ import annotations

from pathlib import Path

from edge.errors import InputError
from edge.evaluation.harness import Evaluation

COLOURS = {"micro": "#d62728", "macro": "#1f77b4"}


def plot_timelines(ev: Evaluation, out: Path) -> Path:
    """Draw ground truth (upper lane) against predictions (lower lane) for each video; matched pairs in full colour."""
    from matplotlib.figure import (
        Figure,  # no pyplot: no global figure state, Agg canvas by default
    )
    from matplotlib.patches import Patch

    videos = sorted({a.video for a in ev.truths} | {a.video for a in ev.predictions})
    if not videos:
        raise InputError("nothing to plot: no annotations and no predictions")
    matched = {id(m.truth) for m in ev.score.matches} | {id(m.prediction) for m in ev.score.matches}
    fig = Figure(figsize=(12, 1.3 + 1.1 * len(videos)))
    axes = fig.subplots(len(videos), 1, squeeze=False)
    for ax, v in zip(axes[:, 0], videos):
        for lane, rows in ((1, [a for a in ev.truths if a.video == v]), (0, [a for a in ev.predictions if a.video == v])):
            for a in rows:
                ok = id(a) in matched
                ax.broken_barh([(a.onset, a.offset - a.onset + 1)], (lane + 0.1, 0.8), facecolors=COLOURS[a.type],
                               alpha=1.0 if ok else 0.35, edgecolor="black" if ok else "none")
                if a.emotion:
                    ax.text(a.onset, lane + 0.5, a.emotion[:3], fontsize=6, va="center")
        end = ev.frames.get(v) or max([a.offset for a in ev.truths + ev.predictions if a.video == v] + [1])
        ax.set_xlim(0, end)
        ax.set_ylim(0, 2)
        ax.set_yticks([0.5, 1.5], ["predicted", "truth"])
        ax.set_title(v, fontsize=9, loc="left")
    axes[-1, 0].set_xlabel("frame")
    fig.legend(handles=[Patch(color=c, label=t) for t, c in COLOURS.items()] + [Patch(color="grey", alpha=0.35, label="unmatched")],
               loc="upper right", fontsize=8)
    fig.tight_layout()
    out = Path(out)
    try:
        fig.savefig(out, dpi=100)
    except OSError as e:
        raise InputError(f"{out}: cannot write plot ({e})") from None
    return out
