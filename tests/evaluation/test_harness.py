"""Which videos a run scores, input checks before a run, and the predictions path."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from edge.errors import InputError
from edge.evaluation.harness import annotated_videos, score_predictions, video_frames
from edge.events.annotations import Annotation, write_annotations


@pytest.fixture(scope="module")
def small(synth_footage):
    return synth_footage(seed=8, fps=30.0, duration_s=6.0, micro=1, macro=0, width=320, height=240, face_size=120,
                         distractors=False, name="small")


def test_video_frames_reads_the_container(small):
    assert video_frames(small.video) == (180, 30.0)


def _tree(tmp_path: Path, small) -> Path:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for d in ("a", "b"):
        shutil.copy(small.video, tmp_path / d / "clip.mp4")
    shutil.copy(small.video, tmp_path / "a" / "neutral.mp4")
    write_annotations(tmp_path / "gt.csv", [Annotation("a/clip.mp4", 10, 12, 14, "micro"), Annotation("b/clip.mp4", 20, 22, 24, "micro")])
    return tmp_path / "gt.csv"


def test_folder_scores_the_annotated_videos_under_it(tmp_path: Path, small):
    from edge.events.annotations import read_annotations

    gt = _tree(tmp_path, small)
    rows = read_annotations(gt)
    assert set(annotated_videos(tmp_path, gt, rows)) == {"a/clip.mp4", "b/clip.mp4"}
    assert set(annotated_videos(tmp_path / "a", gt, rows)) == {"a/clip.mp4"}
    assert set(annotated_videos(tmp_path / "a", gt, rows, all_videos=True)) == {"a/clip.mp4", "a/neutral.mp4"}
    # An explicit file no row names is footage without expressions.
    assert set(annotated_videos(tmp_path / "a" / "neutral.mp4", gt, rows)) == {"a/neutral.mp4"}
    assert annotated_videos(tmp_path / "b" / "clip.mp4", gt, rows) == {"b/clip.mp4": tmp_path / "b" / "clip.mp4"}


def test_missing_paths(tmp_path: Path, small):
    from edge.events.annotations import read_annotations

    gt = _tree(tmp_path, small)
    rows = read_annotations(gt)
    (tmp_path / "b" / "clip.mp4").unlink()
    with pytest.raises(InputError, match=r"video b/clip\.mp4 named by the annotations not found"):
        annotated_videos(tmp_path, gt, rows)
    with pytest.raises(InputError, match="no such file or folder"):
        annotated_videos(tmp_path / "nope", gt, rows)
    empty = tmp_path / "empty"
    empty.mkdir()
    other = tmp_path / "elsewhere" / "gt.csv"
    other.parent.mkdir()
    shutil.copy(gt, other)
    with pytest.raises(InputError, match=r"video a/clip\.mp4 named by the annotations not found"):
        annotated_videos(empty, other, rows)


def test_score_predictions_counts_frames_of_videos_next_to_the_csv(tmp_path: Path, small):
    gt = tmp_path / "gt.csv"
    shutil.copy(small.video, tmp_path / "small.mp4")
    truth = small.rows[0]
    write_annotations(gt, [truth])
    pred = tmp_path / "pred.csv"
    write_annotations(pred, [truth, Annotation("small.mp4", 150, 151, 152, "macro")])
    ev = score_predictions(pred, gt)
    assert ev.frames == {"small.mp4": 180} and ev.fps == {"small.mp4": 30.0}
    assert (ev.score.micro.tp, ev.score.macro.fp) == (1, 1)
    assert ev.videos == 1
