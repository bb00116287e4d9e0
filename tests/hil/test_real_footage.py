"""The whole pipeline on the real development clips (footage/), scored the annotation protocol's way.

The clips are fetched by `make setup` (`microexpr footage fetch`) and annotated by eye in
footage/annotations/; the guards live in one place, footage/thresholds.toml. The pipeline runs once
per session over every annotated clip (about 8000 frames when all are annotated); each test reads
that one result. It runs again on the same clips re-encoded (`footage score --perturb reencode`): the
settings were chosen on the originals, so a change that only fits their exact pixels fails there,
and the two runs are compared frame by frame (`footage score --perturb reencode --agreement`): a
change that makes the spotter's score less steady under a re-encode fails too. And once on every
episode cut into a short clip of its own with 1.2 s of lead-in (`footage score --cut 1.2`): how
soon the detectors work on a face they have just met, as in a short posed clip.
Replay only: the clips are files, not a scene in front of a camera.
"""

from __future__ import annotations

import logging
import tomllib

import pytest

from edge.evaluation.cuts import cut_clip, cuts_of
from edge.evaluation.harness import predict
from edge.evaluation.perturb import transcode
from edge.evaluation.real import ClipScore, score_clips, score_dict, total

pytestmark = [pytest.mark.hil, pytest.mark.slow]

log = logging.getLogger(__name__)


# footage variant -> its section of footage/thresholds.toml
SECTIONS = {"original": "total", "reencode": "reencode", "cut": "cut"}
CUT_LEAD_S = 1.2


@pytest.fixture(scope="session", params=list(SECTIONS))
def variant(request) -> str:
    return request.param


@pytest.fixture(scope="session")
def scored_truths(real_truths, variant):
    """What the variant scores: the annotated clips, or (cut) one short clip per episode with the lead-in."""
    if variant == "cut":
        return [c.truth for t in real_truths for c in cuts_of(t, CUT_LEAD_S)]
    return real_truths


_RUNS: dict[str, tuple[list, dict, dict]] = {}  # variant -> predictions, rejections, readings (one run a session)


def _run(variant: str, real_truths, scored_truths, tmp_path_factory) -> tuple[list, dict, dict]:
    """One pipeline run over every clip of the variant (its transcodes or cuts), kept for the session."""
    if variant in _RUNS:
        return _RUNS[variant]
    frames = {t.video: t.frames for t in scored_truths}
    if variant == "original":
        videos = {t.video: t.path for t in real_truths}
    elif variant == "cut":
        out = tmp_path_factory.mktemp(variant)
        videos = {c.truth.video: cut_clip(c, out) for t in real_truths for c in cuts_of(t, CUT_LEAD_S)}
    else:
        out = tmp_path_factory.mktemp(variant)
        videos = {t.video: transcode(t.path, variant, out) for t in real_truths}
    rejections: dict = {}
    readings: dict = {}
    preds = predict(videos, frames, rejections=rejections, readings=readings)
    assert frames == {t.video: t.frames for t in scored_truths}, "the decoder returned another frame count than expected"
    _RUNS[variant] = (preds, rejections, readings)
    return _RUNS[variant]


@pytest.fixture(scope="session")
def real_scores(real_truths, scored_truths, variant, tmp_path_factory) -> list[ClipScore]:
    """Each scored clip's score from one pipeline run over all of them (the variant's transcodes or cuts)."""
    preds, rejections, _ = _run(variant, real_truths, scored_truths, tmp_path_factory)
    return score_clips(scored_truths, preds, rejections)


@pytest.fixture(scope="session")
def thresholds(real_footage, variant) -> dict[str, float]:
    with open(real_footage.directory / "thresholds.toml", "rb") as f:
        return tomllib.load(f)[SECTIONS[variant]]


def _measured(scores: list[ClipScore]) -> str:
    from edge.cli.footage import table

    return "\n" + table(score_dict(scores))  # with each missed episode and what the spotter did over it


def test_every_annotated_clip_is_scored_at_its_manifest_length(real_footage, real_truths, scored_truths, real_scores):
    assert [s.video for s in real_scores] == [t.video for t in scored_truths]
    for t in real_truths:
        assert t.frames == real_footage.clips[t.name].frames, t.name
    everything = sum(len(t.episodes) + len(t.others) for t in scored_truths)
    assert total(real_scores).episodes + total(real_scores).dont_care == everything


def test_every_miss_says_what_the_spotter_did_there(real_scores):
    missed = [m for c in score_dict(real_scores)["clips"] for m in c["missed"]]
    assert all(isinstance(m["rejected"], list) for m in missed)
    # Every view of these clips misses episodes the gates vetoed (franck: head motion, new rests).
    assert any(m["rejected"] for m in missed), _measured(real_scores)
    assert all(r["onset"] <= m["offset"] and m["onset"] <= r["offset"] for m in missed for r in m["rejected"])


@pytest.mark.parametrize("metric", ["recall", "recall_iou50", "precision", "emotion_accuracy"])
def test_finds_the_annotated_episodes(real_scores, thresholds, metric):
    t = total(real_scores).as_dict(details=False)
    value = t[metric] if t[metric] is not None else 0.0
    assert value >= thresholds[f"{metric}_min"], f"{metric} {value} < {thresholds[f'{metric}_min']}" + _measured(real_scores)


@pytest.mark.parametrize("metric", ["false_micro_per_min", "false_micro_per_talking_min"])
def test_few_false_micro_events(real_scores, thresholds, metric):
    value = total(real_scores).as_dict(details=False)[metric]
    assert value is not None, f"{metric}: no annotated footage of that kind (talking ranges) to measure it on"
    assert value <= thresholds[f"{metric}_max"], f"{metric} {value} > {thresholds[f'{metric}_max']}" + _measured(real_scores)


def test_a_reencode_moves_the_score_no_further_than_measured(real_footage, real_truths, tmp_path_factory):
    """The clips as fetched and re-encoded, compared frame by frame and event by event (evaluation/agreement.py)."""
    from edge.evaluation.agreement import compare, lines

    with open(real_footage.directory / "thresholds.toml", "rb") as f:
        limits = tomllib.load(f)["agreement"]
    a, _, read_a = _run("original", real_truths, real_truths, tmp_path_factory)
    b, _, read_b = _run("reencode", real_truths, real_truths, tmp_path_factory)
    d = compare([t.video for t in real_truths], a, read_a, b, read_b)
    t = d["total"]
    measured = "\n".join(lines(d, "the clips as fetched", "reencode"))
    assert t["frames"] >= 0.9 * sum(x.frames for x in real_truths), measured
    assert t["score_log_ratio"] <= limits["score_log_ratio_max"], measured
    assert t["score_correlation"] >= limits["score_correlation_min"], measured
    assert t["events_kept"] >= limits["events_kept_min"], measured
