from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.config import SourceConfig
from edge.errors import SourceError
from edge.sources import open_source
from edge.sources.video import VideoFileSource
from fixtures.footage import write_head_motion_clip, write_truncated_avi


def test_120fps_timestamps_come_from_the_container(head_motion_clip_120):
    with VideoFileSource(head_motion_clip_120) as src:
        frames = list(src.frames())
    assert src.nominal_fps == pytest.approx(120.0)
    assert len(frames) == 120
    dt_ms = np.diff([f.t_ns for f in frames]) / 1e6
    assert np.allclose(dt_ms, 1000 / 120, atol=0.05), "8.33 ms apart, not 33 ms"
    assert [f.index for f in frames] == list(range(120))
    assert frames[0].image.shape == (480, 640, 3) and frames[0].image.dtype == np.uint8


def test_frames_are_rgb(tmp_path):
    p = tmp_path / "red.avi"
    w = cv2.VideoWriter(str(p), cv2.VideoWriter_fourcc(*"MJPG"), 30, (64, 48))
    for _ in range(3):
        w.write(np.dstack([np.zeros((48, 64)), np.zeros((48, 64)), np.full((48, 64), 255)]).astype(np.uint8))
    w.release()
    with VideoFileSource(p) as src:
        img = next(iter(src.frames())).image
    assert img[..., 0].mean() > 200 and img[..., 2].mean() < 50


def test_realtime_paces_to_the_file_rate(tmp_path):
    import time

    clip = write_head_motion_clip(tmp_path / "c.mp4", fps=60.0, seconds=0.5, size=(160, 120))
    with VideoFileSource(clip, realtime=True) as src:
        t0 = time.monotonic()
        n = sum(1 for _ in src.frames())
        elapsed = time.monotonic() - t0
    assert n == 30
    assert elapsed >= 29 / 60 - 0.01  # never faster than the file


def _put(path, data: bytes):
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    "make, expect",
    [
        (lambda d: d / "absent.mp4", "no such file"),
        (lambda d: _put(d / "empty.mp4", b""), "empty file"),
        (lambda d: _put(d / "notes.mp4", b"hello, not a video\n" * 50), "not a readable video"),
        (lambda d: d, "is a directory"),
    ],
)
def test_bad_files_one_clear_error(tmp_path, make, expect):
    path: Path = make(tmp_path)
    with pytest.raises(SourceError) as e:
        VideoFileSource(path)
    assert str(path) in str(e.value) and expect in str(e.value)


def test_truncated_avi_yields_good_frames_then_fails(tmp_path):
    src = VideoFileSource(write_truncated_avi(tmp_path / "cut.avi"))
    got = []
    with pytest.raises(SourceError, match="truncated"):
        for f in src.frames():
            got.append(f)
    assert 10 < len(got) < 60


def test_missing_camera_is_one_clear_error():
    with pytest.raises(SourceError, match=r"/dev/video57: camera not found"):
        open_source(SourceConfig(kind="webcam", camera_index=57))


def test_video_kind_without_path():
    with pytest.raises(SourceError, match="source.path"):
        open_source(SourceConfig(kind="video"))
