"""Frames from a Raspberry Pi camera through picamera2 (libcamera), at high frame rate.

picamera2 and libcamera come from Raspberry Pi OS's apt, not PyPI, so the module
is imported lazily and its absence is one clear SourceError. Each frame and its
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

import numpy as np

from edge.config import SourceConfig
from edge.errors import ConfigError, SourceError
from edge.sources.base import FrameSource
from edge.sources.frame import Frame

log = logging.getLogger(__name__)

# picamera2 names formats after libcamera's DRM fourccs: "BGR888" arrays are
# [R, G, B] per pixel, which is what the models eat, so no conversion is needed.
RGB_FORMAT = "BGR888"
BUFFERS = 6


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
        raise SourceError(
            f"picamera2: no sensor mode reaches {fps:g} fps "
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
        raise SourceError(
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
    ) -> None:
        if stream not in ("lores", "main"):
            raise ConfigError(f"source.stream: must be 'lores' or 'main', got {stream!r}")
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
            self.controls = self._controls(exposure_us, analogue_gain)
            main_size = (min(width, self.mode.size[0]) & ~1, min(height, self.mode.size[1]) & ~1)
            lores_size = ((main_size[0] // 2) & ~1, (main_size[1] // 2) & ~1)
            config = self._cam.create_video_configuration(
                main={"size": main_size, "format": RGB_FORMAT if stream == "main" else "YUV420"},
                lores={"size": lores_size, "format": RGB_FORMAT},
                sensor={"output_size": self.mode.size, "bit_depth": self.mode.bit_depth},
                controls=self.controls,
                buffer_count=BUFFERS,
            )
            self._cam.configure(config)
            self._cam.start()
        except SourceError:
            self._cam.close()
            raise
        except Exception as e:
            self._cam.close()
            raise SourceError(f"picamera2: cannot configure camera {camera_num} ({e})") from None
        self.nominal_fps = 1e6 / self.frame_duration_us
        self.frame_size = lores_size if stream == "lores" else main_size
        self._timeout_s = max(1.0, 20 * self.frame_duration_us / 1e6)
        self._closed = False
        log.info(
            "picamera2: sensor mode %dx%d@%.1f, %s stream %dx%d, frame duration %d us, %s",
            self.mode.size[0], self.mode.size[1], self.mode.fps, stream, *self.frame_size,
            self.frame_duration_us,
            f"exposure {exposure_us} us gain {analogue_gain:g}" if exposure_us else "auto exposure",
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
        )

    def _controls(self, exposure_us: int, gain: float) -> dict[str, Any]:
        controls: dict[str, Any] = {"FrameDurationLimits": (self.frame_duration_us, self.frame_duration_us)}
        if exposure_us > 0:
            # Exposure cannot exceed the frame duration; fixed values stop the AGC from
            # breathing, which would look like a facial intensity change to the spotter.
            controls.update(
                {
                    "AeEnable": False,
                    "ExposureTime": min(int(exposure_us), self.frame_duration_us),
                    "AnalogueGain": float(gain),
                }
            )
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
            if image.ndim != 3 or image.shape[2] != 3:
                raise SourceError(f"{self.name}: unexpected {self.stream} array shape {image.shape}")
            yield Frame(np.ascontiguousarray(image), int(t_ns), index)
            index += 1

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._cam.stop()
        finally:
            self._cam.close()
