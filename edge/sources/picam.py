"""Frames from a Raspberry Pi camera through picamera2 (libcamera), at high frame rate.

picamera2 and libcamera come from Raspberry Pi OS's apt, not PyPI, so the module
is imported lazily and its absence is one clear, permanent error. The configuration
is aligned (`align_configuration`) and read back after `configure()`, so the frame
size recorded is the one the camera delivers; a configuration the camera refuses is
a ConfigError naming the setting (retrying cannot fix it), while a busy or lost
camera is a SourceError the capture thread retries. Each frame and its
SensorTimestamp come from one captured request, so the image and its time always
match; the request is released straight after the copy so libcamera never runs
out of buffers.
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from edge.config import SourceConfig
from edge.errors import ConfigError, InputError, SourceError
from edge.sources.base import FrameSource, PermanentSourceError
from edge.sources.flicker import flicker_period_us, flicker_safe
from edge.sources.frame import Frame

log = logging.getLogger(__name__)

# picamera2 names formats after libcamera's DRM fourccs: "BGR888" arrays are
# [R, G, B] per pixel, which is what the models eat, so no conversion is needed.
RGB_FORMAT = "BGR888"
YUV_FORMAT = "YUV420"  # planar I420: the Y plane, then U and V at half size (picamera2 arrays: (h * 3/2, w))
BUFFERS = 6
AE_FLICKER_MANUAL = 1  # libcamera's AeFlickerModeEnum.FlickerManual


@dataclass(frozen=True)
class SensorMode:
    size: tuple[int, int]
    fps: float
    bit_depth: int


def choose_sensor_mode(modes: Sequence[dict[str, Any]], fps: float, width: int, height: int) -> SensorMode:
    """The smallest mode that reaches `fps` and covers width x height, else the largest fast one.

    Smaller modes bin the sensor, so they are faster and less noisy; a mode that
    cannot reach the rate would silently halve the temporal resolution the
    spotter depends on, so that is an error.
    """
    parsed = [SensorMode(tuple(m["size"]), float(m["fps"]), int(m.get("bit_depth", 10))) for m in modes]
    if not parsed:
        raise SourceError("picamera2: the camera reports no sensor modes")
    fast = [m for m in parsed if m.fps + 0.5 >= fps]
    if not fast:
        best = max(parsed, key=lambda m: m.fps)
        raise ConfigError(
            f"source.fps: no sensor mode reaches {fps:g} fps "
            f"(fastest: {best.size[0]}x{best.size[1]} at {best.fps:.1f} fps); lower source.fps"
        )
    covering = [m for m in fast if m.size[0] >= width and m.size[1] >= height]
    if covering:
        return min(covering, key=lambda m: (m.size[0] * m.size[1], -m.bit_depth))
    return max(fast, key=lambda m: (m.size[0] * m.size[1], m.bit_depth))


def _import_picamera2() -> Any:
    try:
        return importlib.import_module("picamera2")
    except ImportError as e:
        raise PermanentSourceError(
            f"picamera2: not importable ({e}); on Raspberry Pi OS install python3-picamera2 "
            "and create the venv with --system-site-packages"
        ) from None


class PiCameraSource(FrameSource):
    """A CSI camera at a fixed frame duration and (optionally) fixed exposure."""

    def __init__(
        self,
        fps: float,
        width: int,
        height: int,
        exposure_us: int = 4000,
        analogue_gain: float = 4.0,
        stream: str = "lores",
        camera_num: int = 0,
        mains_hz: int = 50,
        pixel_format: str = "rgb",
    ) -> None:
        if stream not in ("lores", "main"):
            raise ConfigError(f"source.stream: must be 'lores' or 'main', got {stream!r}")
        if pixel_format not in ("rgb", "yuv420"):
            raise ConfigError(f"source.format: must be 'rgb' or 'yuv420', got {pixel_format!r}")
        self.format = RGB_FORMAT if pixel_format == "rgb" else YUV_FORMAT
        module = _import_picamera2()
        Picamera2 = module.Picamera2
        try:
            cameras = Picamera2.global_camera_info()
        except Exception as e:  # libcamera raises its own types
            raise SourceError(f"picamera2: cannot list cameras ({e})") from None
        if len(cameras) <= camera_num:
            raise SourceError(
                f"picamera2: camera {camera_num} not detected ({len(cameras)} found); "
                "check the ribbon cable and camera_auto_detect=1 in config.txt"
            )
        try:
            self._cam = Picamera2(camera_num)
        except Exception as e:
            raise SourceError(
                f"picamera2: cannot open camera {camera_num} ({e}); is another process using it?"
            ) from None
        self.name = f"picamera2:{camera_num}"
        self.stream = stream
        try:
            self.mode = choose_sensor_mode(self._cam.sensor_modes, fps, width, height)
            self.frame_duration_us = int(round(1e6 / fps))
            self.controls = self._controls(exposure_us, analogue_gain, mains_hz)
            self.frame_size = self._configure(width, height)
            self._cam.start()
        except InputError:
            self._cam.close()
            raise
        except Exception as e:
            self._cam.close()
            raise SourceError(f"picamera2: cannot start camera {camera_num} ({e})") from None
        self.nominal_fps = 1e6 / self.frame_duration_us
        self._timeout_s = max(1.0, 20 * self.frame_duration_us / 1e6)
        self._closed = False
        log.info(
            "picamera2: sensor mode %dx%d@%.1f, %s stream %dx%d, frame duration %d us, %s",
            self.mode.size[0], self.mode.size[1], self.mode.fps, stream, *self.frame_size,
            self.frame_duration_us,
            f"exposure {self.controls['ExposureTime']} us gain {self.controls['AnalogueGain']:.2f}"
            if "ExposureTime" in self.controls else "auto exposure",
        )

    @classmethod
    def from_config(cls, cfg: SourceConfig) -> "PiCameraSource":
        return cls(
            fps=cfg.fps,
            width=cfg.width,
            height=cfg.height,
            exposure_us=cfg.exposure_us,
            analogue_gain=cfg.analogue_gain,
            stream=cfg.stream,
            camera_num=cfg.camera_index,
            mains_hz=cfg.mains_hz,
            pixel_format=cfg.format,
        )

    def _configure(self, width: int, height: int) -> tuple[int, int]:
        """Aligned, configured and read back: the size of the stream handed on, as the camera applied it."""
        main_size = (min(width, self.mode.size[0]) & ~1, min(height, self.mode.size[1]) & ~1)
        lores_size = ((main_size[0] // 2) & ~1, (main_size[1] // 2) & ~1)
        config = self._cam.create_video_configuration(
            main={"size": main_size, "format": self.format if self.stream == "main" else YUV_FORMAT},
            lores={"size": lores_size, "format": self.format} if self.stream == "lores" else None,
            sensor={"output_size": self.mode.size, "bit_depth": self.mode.bit_depth},
            controls=self.controls,
            buffer_count=BUFFERS,
        )
        self._cam.align_configuration(config)  # widths the ISP writes without padding
        asked = dict(config[self.stream])
        try:
            self._cam.configure(config)
        except Exception as e:  # picamera2 raises RuntimeError for a configuration libcamera refuses
            raise ConfigError(_refused(self.stream, asked, e)) from None
        applied = self._cam.camera_configuration()[self.stream]
        if applied["format"] != self.format:
            raise ConfigError(f"source.stream: the camera delivers the {self.stream} stream as {applied['format']}, "
                              f"not {self.format}")
        size = (int(applied["size"][0]), int(applied["size"][1]))
        if size != tuple(asked["size"]):
            log.info("picamera2: %s stream adjusted by libcamera to %dx%d (asked %dx%d)", self.stream, *size,
                     *asked["size"])
        return size

    def _controls(self, exposure_us: int, gain: float, mains_hz: int) -> dict[str, Any]:
        controls: dict[str, Any] = {"FrameDurationLimits": (self.frame_duration_us, self.frame_duration_us)}
        available = dict(getattr(self._cam, "camera_controls", {}) or {})
        if exposure_us > 0:
            # Exposure cannot exceed the frame duration; fixed values stop the AGC from
            # breathing, which would look like a facial intensity change to the spotter.
            lo, hi = (available.get("AnalogueGain") or (1.0, 64.0, None))[:2]
            exp = flicker_safe(min(int(exposure_us), self.frame_duration_us), float(gain), 1e6 / self.frame_duration_us,
                               mains_hz, (float(lo), float(hi)))
            if exp.note:
                (log.warning if exp.beats else log.info)("picamera2: %s", exp.note)
            controls.update({"AeEnable": False, "ExposureTime": exp.exposure_us, "AnalogueGain": exp.gain})
        elif mains_hz:
            if "AeFlickerMode" in available and "AeFlickerPeriod" in available:
                controls.update({"AeFlickerMode": AE_FLICKER_MANUAL,
                                 "AeFlickerPeriod": int(round(flicker_period_us(mains_hz)))})
            else:
                log.warning("picamera2: this libcamera has no AeFlickerMode control, so auto exposure may flicker "
                            "under %d Hz light; set source.exposure_us for a fixed exposure", mains_hz)
        return controls

    def frames(self) -> Iterator[Frame]:
        index = 0
        warned = False
        while not self._closed:
            try:
                request = self._cam.capture_request(wait=self._timeout_s)
            except Exception as e:
                if self._closed:
                    return
                raise SourceError(f"{self.name}: camera stopped delivering frames ({type(e).__name__}: {e})") from None
            try:
                image = request.make_array(self.stream)
                t_ns = request.get_metadata().get("SensorTimestamp")
            finally:
                request.release()
            if t_ns is None:
                if not warned:
                    log.warning("%s: no SensorTimestamp in metadata; using arrival time", self.name)
                    warned = True
                t_ns = time.monotonic_ns()
            yield self._frame(image, int(t_ns), index)
            index += 1

    def _frame(self, image: np.ndarray, t_ns: int, index: int) -> Frame:
        """RGB for the models; with YUV420 also the Y plane, which the spotter's flow crops as it is.

        The conversion runs here, on the capture thread, so it overlaps the analysis stages."""
        if self.format == YUV_FORMAT:
            w, h = self.frame_size
            if image.ndim != 2 or image.shape[0] * 2 != h * 3 or image.shape[1] < w:
                raise SourceError(f"{self.name}: unexpected {self.stream} YUV420 array shape {image.shape}")
            planes = np.ascontiguousarray(image[:, :w])
            return Frame(cv2.cvtColor(planes, cv2.COLOR_YUV2RGB_I420), t_ns, index, luma=planes[:h])
        if image.ndim != 3 or image.shape[2] != 3:
            raise SourceError(f"{self.name}: unexpected {self.stream} array shape {image.shape}")
        return Frame(np.ascontiguousarray(image), t_ns, index)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._cam.stop()
        finally:
            self._cam.close()


def _refused(stream: str, asked: dict[str, Any], error: Exception) -> str:
    """One line naming the setting behind a configuration the camera refused, and what to change."""
    why = str(error).split(": {", 1)[0][:160]  # picamera2 appends the whole configuration dict
    w, h = asked["size"]
    if stream == "lores" and "YUV" in why:
        return (f"source.stream: the camera refuses a {w}x{h} {asked['format']} lores stream ({why}); "
                "a Pi 4 gives lores only as YUV: set source.format = 'yuv420' or source.stream = 'main'")
    return (f"source.width, source.height, source.stream: the camera refuses a {w}x{h} {asked['format']} "
            f"{stream} stream ({why})")
