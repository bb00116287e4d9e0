"""What happened over a missed episode: the predictions that overlapped it and the spotter's rejections there.

Both scorers (`microexpr eval`, `microexpr footage score`) add this to every miss, so the next
look at a miss starts from what the spotter saw: a candidate it vetoed and why (a blink, head
motion, a new rest), a prediction that overlapped too little, or nothing over the threshold.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Iterable

from edge.events.annotations import Annotation
from edge.spotting.rejections import Rejection, overlapping


def explain(missed: Annotation, predictions: Iterable[Annotation], rejections: list[Rejection] | None) -> dict[str, Any]:
    """The miss as a dict, with `predicted` (predictions of its video overlapping it) and `rejected`
    (the spotter's rejections overlapping it; None where not known, as when scoring a CSV)."""
    preds = overlapping((p for p in predictions if p.video == missed.video), missed.onset, missed.offset)
    return asdict(missed) | {
        "predicted": [asdict(p) for p in preds],
        "rejected": None if rejections is None else [asdict(r) for r in overlapping(rejections, missed.onset, missed.offset)],
    }


def describe(m: dict[str, Any]) -> str:
    """One line's worth on an explained miss (`explain`'s dict)."""
    said = [f"predicted {p['onset']}-{p['offset']} {p['type']} (not a hit: too little overlap, another type or another match)"
            for p in m["predicted"]]
    if m["rejected"] is None:
        said.append("rejections not known (scored from a predictions CSV)")
    else:
        said += [(f"merged into a longer excursion judged at a higher apex: {r['onset']}-{r['offset']} left unjudged"
                  if r["reason"] == "merged" else f"rejected as {r['reason']} at {r['onset']}-{r['offset']}")
                 + f" (peak {r['peak']:g}x threshold at {r['apex']})" for r in m["rejected"]]
    return "; ".join(said) or "no candidate: the score stayed under the threshold"


def lines(rows: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """The block the scorers' tables end with: (video, explained miss) per row."""
    if not rows:
        return []
    out = ["", "missed episodes, and what the spotter did over their frames:"]
    for video, m in rows:
        what = f" {m['emotion']}" if m.get("emotion") else ""
        out.append(f"  {video[:25]:<26}{m['onset']:>6}-{m['offset']:<6}{m['type']}{what}: {describe(m)}")
    return out
