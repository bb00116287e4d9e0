"""PiCameraSource against a fake picamera2 module that behaves like its documented API.

The fake is the hardware edge, written after picamera2's own code (picamera2/picamera2.py):
global_camera_info(), Picamera2(n) (RuntimeError when the camera is busy), sensor_modes,
camera_controls (name -> (min, max, default)), create_video_configuration, the static
align_configuration(config) (widths to 64 px on a Pi 5, 32 on a Pi 4, twice that for YUV420),
configure(config) (a Pi 4 refuses a lores stream that is not YUV; libcamera's validate() may adjust
sizes, and picamera2 then writes the adjusted ones back; Invalid raises RuntimeError),
camera_configuration() (what was applied), start/stop/close and capture_request(wait=) -> request with
make_array(stream) / get_metadata() / release(). Tests install it in sys.modules themselves: the source
never falls back to it.
"""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from edge.config import load_config
from edge.errors import ConfigError, SourceError
from edge.sources import open_source
from edge.sources.frame import Frame
from edge.sources.picam import PiCameraSource, choose_sensor_mode

# What picamera2 reports for a Camera Module 3 (IMX708), trimmed to the used keys.
IMX708_MODES = [
    {"size": (1536, 864), "fps": 120.13, "bit_depth": 10},
    {"size": (2304, 1296), "fps": 56.03, "bit_depth": 10},
    {"size": (4608, 2592), "fps": 14.35, "bit_depth": 10},
]
IMX708_CONTROLS = {
    "AeEnable": (False, True, None),
    "ExposureTime": (26, 112015443, None),
    "AnalogueGain": (1.1228070259094238, 16.0, None),
    "FrameDurationLimits": (8333, 120000000, None),
}
FLICKER_CONTROLS = {"AeFlickerMode": (0, 2, 0), "AeFlickerPeriod": (100, 1000000, None)}  # libcamera >= 0.2
KNOWN_FORMATS = {"BGR888", "RGB888", "XBGR8888", "XRGB8888", "YUV420", "YVU420", "NV12", "NV21"}


class FakeRequest:
    def __init__(self, cam: "FakePicamera2", n: int) -> None:
        self.cam, self.n = cam, n
        self.released = False

    def make_array(self, name: str) -> np.ndarray:
        assert not self.released, "array made from a released request"
        cfg = self.cam.camera_config[name]
        w, h = cfg["size"]
        self.cam.arrays_made.append(name)
        if cfg["format"] == "YUV420":  # I420: Y (a per-frame level plus a ramp), then U and V at mid grey
            a = np.full((h * 3 // 2, w), 128, np.uint8)
            a[:h] = (self.n * 7 + np.arange(w)[None, :] // 8) % 200 + 30
            return a
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
    platform = "pisp"  # Pi 5; "vc4" is a Pi 4
    busy = False
    flicker_controls = True
    adjust = None  # libcamera's validate(): a function that may change the requested config ("Adjusted")

    def __init__(self, camera_num: int = 0) -> None:
        if type(self).busy:
            raise RuntimeError("Failed to acquire camera: Device or resource busy")
        self.camera_num = camera_num
        self.sensor_modes = IMX708_MODES
        self.config: dict | None = None
        self.camera_config: dict | None = None
        self.started = self.closed = False
        self.captured = self.released = 0
        self.arrays_made: list[str] = []
        self.waits: list = []
        self.aligned: list[dict] = []
        FakePicamera2.instances.append(self)

    @staticmethod
    def global_camera_info() -> list:
        return FakePicamera2.cameras

    @property
    def camera_controls(self) -> dict:
        return IMX708_CONTROLS | (FLICKER_CONTROLS if type(self).flicker_controls else {})

    def create_video_configuration(self, main=None, lores=None, sensor=None, controls=None, buffer_count=6, **kw):
        main = {"format": "XBGR8888", "size": (1280, 720)} | dict(main or {})
        if lores is not None:
            lores = {"format": "YUV420", "size": (640, 480)} | dict(lores)
        return {"use_case": "video", "transform": None, "colour_space": None, "buffer_count": buffer_count,
                "queue": True, "main": main, "lores": lores, "raw": None, "controls": dict(controls or {}),
                "sensor": dict(sensor or {}), "display": "main", "encode": "main"}

    def align_configuration(self, config: dict, optimal: bool = True) -> None:
        """picamera2's: every stream's width to the ISP's alignment (in place), heights even."""
        self.aligned.append(config)
        for name in ("main", "lores"):
            stream = config.get(name)
            if stream is None:
                continue
            align = 64 if type(self).platform == "pisp" else 32
            if stream["format"] in ("YUV420", "YVU420"):
                align *= 2
            w, h = stream["size"]
            stream["size"] = (w - w % align, h - h % 2)

    def configure(self, config: dict) -> None:
        assert not self.started, "Camera must be stopped before configuring"
        config = {k: (dict(v) if isinstance(v, dict) else v) for k, v in config.items()}
        lores, main = config["lores"], config["main"]
        if lores is not None:
            if type(self).platform == "vc4" and lores["format"] not in ("YUV420", "YVU420"):
                raise RuntimeError("lores stream must be YUV")
            if lores["size"][0] > main["size"][0] or lores["size"][1] > main["size"][1]:
                raise RuntimeError("lores stream dimensions may not exceed main stream")
        for stream in (main, lores):
            if stream is not None and stream["format"] not in KNOWN_FORMATS:
                raise RuntimeError(f"Invalid camera configuration: {config}")
        if type(self).adjust is not None:
            type(self).adjust(config)
        for stream in (main, lores):
            if stream is not None:
                w, h = stream["size"]
                stream["stride"] = w * (3 if stream["format"] in ("BGR888", "RGB888") else 1)
                stream["framesize"] = stream["stride"] * h
        self.config = config
        self.camera_config = config

    def camera_configuration(self) -> dict:
        return self.camera_config

    def start(self) -> None:
        assert self.camera_config is not None, "start() before configure()"
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
        platform = "pisp"
        busy = False
        flicker_controls = True
        adjust = None

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
    with pytest.raises(ConfigError, match=r"no sensor mode reaches 200 fps \(fastest: 1536x864 at 120.1 fps\)"):
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
    assert (c["lores"]["size"], c["lores"]["format"]) == ((768, 432), "BGR888")
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
    auto = PiCameraSource(fps=60, width=1536, height=864, exposure_us=0, mains_hz=0)
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


# ---- what the camera actually applied -------------------------------------------------------------


def test_the_configuration_is_aligned_and_the_recorded_size_is_the_applied_one(fake_picamera2):
    src = PiCameraSource(fps=120, width=1000, height=600)
    cam = fake_picamera2.instances[-1]
    assert cam.aligned, "align_configuration() was never called"
    # A Pi 5 aligns a YUV420 main stream to 128 px and an RGB lores to 64 px: 1000 -> 896, 500 -> 448.
    assert cam.camera_configuration()["lores"]["size"] == (448, 300)
    assert src.frame_size == (448, 300)
    assert next(src.frames()).image.shape == (300, 448, 3)
    src.close()


def test_a_size_libcamera_adjusts_is_read_back(fake_picamera2):
    fake_picamera2.adjust = staticmethod(lambda config: config["lores"].update(size=(640, 360)))
    src = PiCameraSource(fps=120, width=1536, height=864)
    assert src.frame_size == (640, 360)
    assert next(src.frames()).image.shape == (360, 640, 3)
    src.close()


def test_a_stream_format_the_camera_changes_is_refused(fake_picamera2):
    fake_picamera2.adjust = staticmethod(lambda config: config["lores"].update(format="XBGR8888"))
    with pytest.raises(ConfigError, match=r"^source.stream: .*XBGR8888.*not BGR888"):
        PiCameraSource(fps=120, width=1536, height=864)
    assert fake_picamera2.instances[-1].closed


# ---- permanent (a setting) and retryable (busy, lost) errors ---------------------------------------


def test_a_lores_format_a_pi4_refuses_is_one_permanent_line(fake_picamera2):
    fake_picamera2.platform = "vc4"
    with pytest.raises(ConfigError) as e:
        PiCameraSource(fps=60, width=1536, height=864, stream="lores")
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("source.stream: ") and "lores stream must be YUV" in msg
    assert "source.stream = 'main'" in msg
    assert fake_picamera2.instances[-1].closed
    # With the main stream the same Pi 4 delivers frames.
    src = PiCameraSource(fps=60, width=1536, height=864, stream="main")
    assert next(src.frames()).image.shape == (864, 1536, 3)
    src.close()


def test_a_refused_configuration_is_not_retried_by_the_capture_thread(fake_picamera2):
    from edge.sources.capture import FAILED, Capture

    fake_picamera2.platform = "vc4"
    cfg = load_config(overrides={"source.kind": "picamera2", "source.stream": "lores"}, environ={})
    cap = Capture(lambda: open_source(cfg.source), queue_frames=4, live=True, backoff_s=(0.01, 0.02)).start()
    try:
        assert cap.get(2.0) is None
        import time

        time.sleep(0.2)  # several backoff periods: a retrying capture would have reopened by now
        assert cap.ended and isinstance(cap.error, ConfigError)
        assert len(fake_picamera2.instances) == 1
        assert cap.stats().camera == FAILED and cap.stats().reconnects == 0
    finally:
        cap.stop()


def test_a_busy_camera_is_retried_until_it_is_free(fake_picamera2):
    import time

    from edge.sources.capture import OK, Capture

    fake_picamera2.busy = True
    with pytest.raises(SourceError) as e:
        PiCameraSource(fps=120, width=1536, height=864)
    assert not isinstance(e.value, ConfigError) and "busy" in str(e.value)
    cfg = load_config(overrides={"source.kind": "picamera2"}, environ={})
    cap = Capture(lambda: open_source(cfg.source), queue_frames=4, live=True, backoff_s=(0.01, 0.02)).start()
    try:
        time.sleep(0.1)
        assert not cap.ended and cap.stats().reconnects >= 2
        fake_picamera2.busy = False
        assert cap.get(2.0) is not None and cap.stats().camera == OK
    finally:
        cap.stop()


def test_missing_picamera2_is_not_retried(monkeypatch):
    from edge.sources.base import PermanentSourceError

    monkeypatch.setitem(sys.modules, "picamera2", None)
    with pytest.raises(PermanentSourceError):
        PiCameraSource(fps=120, width=1536, height=864)


# ---- mains flicker ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fps, mains, exposure, gain, want_exposure, want_gain", [
    (100, 50, 4000, 4.0, 4000, 4.0),  # a frame is one flicker period: every frame sees the same light
    (60, 60, 4000, 4.0, 4000, 4.0),  # likewise, two periods
    (30, 50, 4000, 4.0, 10000, 1.6),  # one whole period of 100 Hz light; the gain keeps the brightness
    (50, 60, 4000, 4.0, 8333, 1.92),  # one period of 120 Hz light
    (30, 50, 16000, 2.0, 20000, 1.6),  # the nearest whole number of periods
    (30, 50, 8000, 1.2, 10000, 1.1228),  # the gain cannot go under the sensor's minimum
    (30, 0, 4000, 4.0, 4000, 4.0),  # mains_hz = 0: left alone
])
def test_a_fixed_exposure_spans_whole_flicker_periods_where_the_frame_allows(
        fake_picamera2, fps, mains, exposure, gain, want_exposure, want_gain):
    src = PiCameraSource(fps=fps, width=1536, height=864, exposure_us=exposure, analogue_gain=gain, mains_hz=mains)
    applied = fake_picamera2.instances[-1].camera_configuration()["controls"]
    assert applied["ExposureTime"] == want_exposure
    assert applied["AnalogueGain"] == pytest.approx(want_gain, abs=1e-3)
    src.close()


def test_120_fps_under_50_hz_light_says_how_to_avoid_the_beat(fake_picamera2, caplog):
    src = PiCameraSource(fps=120, width=1536, height=864, exposure_us=4000, mains_hz=50)
    assert src.controls["ExposureTime"] == 4000  # 8.3 ms frames cannot hold a 10 ms period
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1
    assert "beats at 20 Hz" in warnings[0] and "source.fps = 100" in warnings[0]
    src.close()


def test_auto_exposure_avoids_the_flicker_period_with_libcamera_flicker_controls(fake_picamera2, caplog):
    src = PiCameraSource(fps=60, width=1536, height=864, exposure_us=0, mains_hz=50)
    assert src.controls == {"FrameDurationLimits": (16667, 16667), "AeFlickerMode": 1, "AeFlickerPeriod": 10000}
    src.close()
    fake_picamera2.flicker_controls = False  # libcamera before 0.2 has no flicker controls
    src = PiCameraSource(fps=60, width=1536, height=864, exposure_us=0, mains_hz=60)
    assert src.controls == {"FrameDurationLimits": (16667, 16667)}
    assert "AeFlickerMode" in caplog.text and "source.exposure_us" in caplog.text
    src.close()


def test_mains_frequency_comes_from_the_config(fake_picamera2):
    cfg = load_config(overrides={"source.kind": "picamera2", "source.fps": 50, "source.mains_hz": 60,
                                 "source.exposure_us": 4000}, environ={})
    src = open_source(cfg.source)
    assert src.controls["ExposureTime"] == 8333
    src.close()
    with pytest.raises(ConfigError, match=r"source\.mains_hz: must be 0, 50 or 60, got 55"):
        load_config(overrides={"source.mains_hz": 55}, environ={})


def test_yuv420_frames_carry_rgb_for_the_models_and_the_luma_plane_for_the_flow(fake_picamera2):
    cfg = load_config(overrides={"source.kind": "picamera2", "source.fps": 120, "source.format": "yuv420"},
                      environ={})
    src = open_source(cfg.source)
    cam = fake_picamera2.instances[-1]
    assert cam.config["lores"]["format"] == "YUV420" and cam.config["main"]["format"] == "YUV420"
    it = src.frames()
    frames = [next(it) for _ in range(3)]
    w, h = src.frame_size
    for f in frames:
        assert f.image.shape == (h, w, 3) and f.luma is not None and f.luma.shape == (h, w)
        expected = (f.index * 7 + np.arange(w)[None, :] // 8) % 200 + 30
        assert (f.luma == np.broadcast_to(expected, (h, w))).all()  # the Y plane itself, untouched
        # U = V = 128: no colour, so RGB is the luma's grey on every channel (within rounding of the conversion)
        assert np.abs(f.image.astype(int) - f.luma[..., None].astype(int)).max() <= 40
        assert (f.image[..., 0] == f.image[..., 1]).all() and (f.image[..., 1] == f.image[..., 2]).all()
    assert cam.captured == cam.released == 3
    src.close()


def test_the_spotter_gets_the_luma_plane_and_the_models_rgb():
    from edge.loop.frames import spot_view

    rgb = np.zeros((4, 6, 3), np.uint8)
    luma = np.full((4, 6), 77, np.uint8)
    f = Frame(rgb, 5, 2, luma=luma)
    v = spot_view(f)
    assert v.image is luma and (v.t_ns, v.index) == (5, 2)
    plain = Frame(rgb, 5, 2)
    assert spot_view(plain) is plain
