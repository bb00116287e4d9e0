"""The whole pipeline on real-texture micro expressions: franck's own expressions made brief.

`microexpr synth --from-clip` takes the annotated expression episodes of a real clip, compresses each
into 40-500 ms and splices it into the same person's neutral frames, with its own ground truth
(edge/synth/realtex.py). This is the project's only micro-expression footage with real skin, so its
score is guarded here (footage/thresholds.toml, [realtex]) like the real clips' scores are.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from edge.evaluation import misses
from edge.evaluation.harness import Evaluation, run_pipeline
from edge.synth.realtex import ANNOTATIONS_NAME, RealSpec, generate_real

pytestmark = [pytest.mark.hil, pytest.mark.slow]


@pytest.fixture(scope="module")
def guards(real_footage) -> dict[str, float]:
    with open(real_footage.directory / "thresholds.toml", "rb") as f:
        return tomllib.load(f)["realtex"]


@pytest.fixture(scope="module")
def scored(real_footage, guards, tmp_path_factory):
    """Seed `guards['seed']` of franck, generated as the CLI does, then run and scored as `microexpr eval` does."""
    out = tmp_path_factory.mktemp("realtex")
    spec = RealSpec(out_dir=str(out), clip=str(real_footage.clips_dir / "franck.mp4"),
                    annotations=str(real_footage.annotations_dir / "franck.csv"),
                    micro=12, duration_s=60.0, seed=int(guards["seed"]))
    generate_real(spec)
    return run_pipeline(Path(out), Path(out) / ANNOTATIONS_NAME)


def test_the_footage_holds_twelve_micro_expressions_at_the_clips_rate(scored):
    assert len(scored.truths) == 12 and all(t.type == "micro" for t in scored.truths)
    assert list(scored.fps.values()) == [pytest.approx(24.0, abs=0.01)]


def test_finds_real_texture_micro_expressions(scored, guards):
    micro = scored.score.micro
    found = f"{micro.tp} of {micro.tp + micro.fn} found, {micro.fp} false" + _why(scored)
    assert micro.f1 >= guards["micro_f1_min"], f"micro F1 {micro.f1:.2f} < {guards['micro_f1_min']}: {found}"
    assert micro.precision >= guards["micro_precision_min"], f"micro precision {micro.precision:.2f}: {found}"


def test_every_miss_says_what_the_spotter_did_there(scored):
    assert set(scored.rejections) == set(scored.frames)
    why = [misses.explain(a, scored.predictions, scored.rejections[a.video]) for a in scored.score.false_negatives]
    # Seed 10 misses lip presses the spotter took into a new rest or vetoed: each is on record.
    assert any(m["rejected"] for m in why), _why(scored)


def _why(ev: Evaluation) -> str:
    """The misses and what the spotter did over them, for a failure's message."""
    rows = [(a.video, misses.explain(a, ev.predictions, (ev.rejections or {}).get(a.video)))
            for a in ev.score.false_negatives]
    return "\n".join(misses.lines(rows))
