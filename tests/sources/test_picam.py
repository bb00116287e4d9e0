"""PiCameraSource against a fake picamera2 module that behaves like its documented API.

The fake is the hardware edge: sensor_modes, create_video_configuration,
configure/start/stop/close, capture_request(wait=) -> request with
make_array(stream) / get_metadata() / release().
"""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from edge.config import load_config
from edge.errors import ConfigError, SourceError
from edge.sources import open_source
from edge.sources.picam import PiCameraSource, choose_sensor_mode

# What picamera2 reports for a Camera Module 3 (IMX708), trimmed to the used keys.
IMX708_MODES = [
    {"size": (1536, 864), "fps": 120.13, "bit_depth": 10},
    {"size": (2304, 1296), "fps": 56.03, "bit_depth": 10},
    {"size": (4608, 2592), "fps": 14.35, "bit_depth": 10},
]


class FakeRequest:
    def __init__(self, cam: "FakePicamera2", n: int) -> None:
        self.cam, self.n = cam, n
        self.released = False

    def make_array(self, name: str) -> np.ndarray:
        assert not self.released, "array made from a released request"
        cfg = self.cam.config[name]
        w, h = cfg["size"]
        self.cam.arrays_made.append(name)
        if cfg["format"] == "YUV420":
            return np.zeros((h * 3 // 2, w), np.uint8)
        a = np.zeros((h, w, 3), np.uint8)
        a[..., 0] = self.n % 256  # channel 0 = R for "BGR888", as picamera2 documents
        return a

    def get_metadata(self) -> dict:
        md = {"ExposureTime": 4000, "FrameDuration": 8325}
        if self.cam.with_timestamps:
            md["SensorTimestamp"] = 1_000_000_000 + self.n * 8_325_000
        return md

    def release(self) -> None:
        assert not self.released, "request released twice"
        self.released = True
        self.cam.released += 1


class FakePicamera2:
    cameras: list = [{"Model": "imx708", "Num": 0}]
    fail_after: int | None = None
    with_timestamps = True
    instances: list["FakePicamera2"] = []

    def __init__(self, camera_num: int = 0) -> None:
        self.camera_num = camera_num
        self.sensor_modes = IMX708_MODES
        self.config: dict | None = None
        self.started = self.closed = False
        self.captured = self.released = 0
        self.arrays_made: list[str] = []
        self.waits: list = []
        FakePicamera2.instances.append(self)

    @staticmethod
    def global_camera_info() -> list:
        return FakePicamera2.cameras

    def create_video_configuration(self, main=None, lores=None, sensor=None, controls=None, buffer_count=None, **kw):
        return {"use_case": "video", "main": dict(main), "lores": dict(lores) if lores else None,
                "sensor": dict(sensor or {}), "controls": dict(controls or {}), "buffer_count": buffer_count}

    def configure(self, config: dict) -> None:
        assert not self.started
        self.config = config

    def start(self) -> None:
        assert self.config is not None, "start() before configure()"
        self.started = True

    def capture_request(self, wait=None, flush=None) -> FakeRequest:
        assert self.started
        self.waits.append(wait)
        if self.fail_after is not None and self.captured >= self.fail_after:
            raise TimeoutError("Frontend has timed out!")
        self.captured += 1
        return FakeRequest(self, self.captured - 1)

    def stop(self) -> None:
        self.started = False

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def fake_picamera2(monkeypatch):
    mod = types.ModuleType("picamera2")

    class Cam(FakePicamera2):
        cameras = [{"Model": "imx708", "Num": 0}]
        instances: list = []
        fail_after = None
        with_timestamps = True

        def __init__(self, camera_num: int = 0) -> None:
            super().__init__(camera_num)
            Cam.instances.append(self)

        @staticmethod
        def global_camera_info() -> list:
            return Cam.cameras

    mod.Picamera2 = Cam
    monkeypatch.setitem(sys.modules, "picamera2", mod)
    return Cam


def test_choose_sensor_mode_prefers_smallest_covering_fast_mode():
    assert choose_sensor_mode(IMX708_MODES, 120, 1536, 864).size == (1536, 864)
    assert choose_sensor_mode(IMX708_MODES, 50, 1920, 1080).size == (2304, 1296)
    assert choose_sensor_mode(IMX708_MODES, 10, 4000, 2000).size == (4608, 2592)
    # Nothing covers 1920x1080 at 120 fps: the largest fast mode, not a slow one.
    assert choose_sensor_mode(IMX708_MODES, 120, 1920, 1080).size == (1536, 864)


def test_no_mode_fast_enough_names_the_fastest():
    with pytest.raises(SourceError, match=r"no sensor mode reaches 200 fps \(fastest: 1536x864 at 120.1 fps\)"):
        choose_sensor_mode(IMX708_MODES, 200, 640, 480)


def test_configures_lores_fixed_exposure_and_frame_duration(fake_picamera2):
    cfg = load_config(overrides={"source.kind": "picamera2", "source.fps": 120, "source.exposure_us": 4000,
                                 "source.analogue_gain": 6.0}, environ={})
    src = open_source(cfg.source)
    assert isinstance(src, PiCameraSource)
    cam = fake_picamera2.instances[-1]
    c = cam.config
    assert c["sensor"] == {"output_size": (1536, 864), "bit_depth": 10}
    assert c["main"]["size"] == (1536, 864)
    assert c["lores"] == {"size": (768, 432), "format": "BGR888"}
    assert c["controls"] == {"FrameDurationLimits": (8333, 8333), "AeEnable": False, "ExposureTime": 4000,
                             "AnalogueGain": 6.0}
    assert cam.started
    assert src.nominal_fps == pytest.approx(120.0, rel=1e-3)

    it = src.frames()
    frames = [next(it) for _ in range(5)]
    assert [f.index for f in frames] == [0, 1, 2, 3, 4]
    # Timestamps are the sensor's, 8.325 ms apart, not arrival times.
    assert np.diff([f.t_ns for f in frames]).tolist() == [8_325_000] * 4
    assert frames[0].t_ns == 1_000_000_000
    assert frames[3].image.shape == (432, 768, 3) and frames[3].image.dtype == np.uint8
    assert frames[3].image[0, 0, 0] == 3  # red channel untouched: no BGR swap applied
    assert cam.arrays_made == ["lores"] * 5
    assert cam.captured == cam.released == 5  # every request went back to libcamera
    assert all(w is not None and w >= 1.0 for w in cam.waits)  # never an unbounded wait
    src.close()
    assert cam.closed and not cam.started


def test_exposure_capped_by_frame_duration_and_auto_exposure(fake_picamera2):
    src = PiCameraSource(fps=120, width=1536, height=864, exposure_us=20000, stream="main")
    assert src.controls["ExposureTime"] == 8333
    assert fake_picamera2.instances[-1].config["main"]["format"] == "BGR888"
    next(src.frames())
    assert fake_picamera2.instances[-1].arrays_made == ["main"]
    src.close()
    auto = PiCameraSource(fps=60, width=1536, height=864, exposure_us=0)
    assert auto.controls == {"FrameDurationLimits": (16667, 16667)}
    auto.close()


def test_camera_that_stops_raises_source_error(fake_picamera2):
    fake_picamera2.fail_after = 3
    src = PiCameraSource(fps=120, width=1536, height=864)
    got = []
    with pytest.raises(SourceError, match=r"picamera2:0: camera stopped delivering frames \(TimeoutError"):
        for f in src.frames():
            got.append(f.index)
    assert got == [0, 1, 2]
    src.close()


def test_missing_timestamp_falls_back_to_arrival_time(fake_picamera2, caplog):
    fake_picamera2.with_timestamps = False
    src = PiCameraSource(fps=120, width=1536, height=864)
    it = src.frames()
    a, b = next(it), next(it)
    assert 0 < a.t_ns <= b.t_ns
    assert "no SensorTimestamp" in caplog.text
    src.close()


def test_absent_picamera2_is_one_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "picamera2", None)  # import raises ImportError
    cfg = load_config(overrides={"source.kind": "picamera2"}, environ={})
    with pytest.raises(SourceError) as e:
        open_source(cfg.source)
    msg = str(e.value)
    assert "\n" not in msg and "python3-picamera2" in msg and "--system-site-packages" in msg


def test_no_camera_detected(fake_picamera2):
    fake_picamera2.cameras = []
    with pytest.raises(SourceError, match="camera 0 not detected .0 found.; check the ribbon cable"):
        PiCameraSource(fps=120, width=1536, height=864)


def test_bad_stream_name_is_a_config_error(fake_picamera2):
    with pytest.raises(ConfigError, match="source.stream"):
        PiCameraSource(fps=120, width=1536, height=864, stream="raw")
