"""Renders a schedule into a video, its annotation CSV rows and a manifest; `generate` is the API.

A frame is: the identity photo placed once in the output frame (face centred,
eyes level, at the requested face size) -> the face region warped by the AU
fields active at that frame, plus (with `parallax`) the depth parallax a flat
face lacks under yaw and pitch (edge.synth.parallax) -> head pose as a homography of a planar
face (drift, nods, turns) -> lighting gain (and, when asked, mains flicker through a
rolling shutter, edge.synth.nuisance) -> sensor noise (Gaussian, or shot plus read
noise) -> optional JPEG round-trip -> the video encoder (mp4v, MJPG, or H.264 at a
set bitrate). Everything random comes from one seeded
generator, so the same spec gives the same video bit for bit (per encoder
build) and exactly the same CSV and manifest.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np

from edge import __version__
from edge.errors import InputError
from edge.events.annotations import Annotation, read_annotations, write_annotations
from edge.events.record import EMOTIONS
from edge.synth.actions import INNER_MOUTH, component_keys, pixel_displacement
from edge.synth.encode import h264_kbps, open_writer
from edge.synth import parallax
from edge.synth.nuisance import SENSOR_READ_SIGMA, SENSOR_SHOT_GAIN, Flicker, SensorNoise, apply_row_gain
from edge.synth.faces import IDENTITIES, load_identity
from edge.synth.timeline import POSE_FIELDS, Timeline, TimelineSpec, schedule
from edge.synth.warp import MeshWarper

log = logging.getLogger(__name__)

FPS_CHOICES = (30, 60, 90, 120, 200)
MOUTH_OPENING = ("25", "26", "R10", "L10", "R16", "L16", "R20", "L20")  # components that can part the lips
CODECS = {"mp4v": ".mp4", "MJPG": ".avi", "h264": ".mp4"}
NOISE_MODELS = ("gaussian", "sensor")
HEAD_MOTIONS = ("default", "natural")
MAINS_HZ = (0, 50, 60)
ANNOTATIONS_NAME = "annotations.csv"


@dataclass(frozen=True)
class SynthSpec:
    """Everything that determines one generated video."""

    out_dir: str
    seed: int = 1
    fps: float = 120.0
    duration_s: float = 60.0
    identity: str = "astronaut"
    micro: int = 12
    macro: int = 4
    emotions: tuple[str, ...] = EMOTIONS
    distractors: bool = True
    width: int = 640
    height: int = 480
    face_size: int = 220  # cheek-to-cheek width of the face in output pixels
    face_size_max: int = 0  # > face_size: the width is drawn (seeded) from face_size..face_size_max
    name: str = ""  # file stem; default derived from the parameters
    codec: str = "mp4v"  # mp4v (.mp4), MJPG (.avi) or h264 (.mp4, ffmpeg's libx264 at bitrate_kbps)
    bitrate_kbps: int = 0  # h264 only; 0 = 0.1 bit per pixel (edge.synth.encode.h264_kbps)
    encoder: str = "auto"  # auto (ffmpeg if installed), ffmpeg, opencv
    noise_sigma: float = -1.0  # sensor noise std in grey levels; -1 = 2.0 with distractors, 0 without
    jpeg_quality: int = -1  # per-frame JPEG round-trip quality; -1 = 85 with distractors, 0 = off
    parallax: bool = False  # give yaw and pitch the depth parallax of a real head (edge.synth.parallax)
    head_motion: str = "default"  # default: drift of +-3 deg yaw; natural: a seated talker's (+-10 deg yaw, 6 pitch, 3 roll)
    mains_hz: int = 0  # 50 or 60: mains flicker (100/120 Hz light) through the exposure and a rolling shutter; 0 = off
    flicker_depth: float = 0.2  # light modulation depth for mains flicker
    exposure_ms: float = 0.0  # exposure time for mains flicker; 0 = 70 % of the frame period
    noise_model: str = "gaussian"  # gaussian (noise_sigma) or sensor (shot + read noise, always on)
    micro_ms: tuple[float, float] = (100.0, 480.0)
    macro_ms: tuple[float, float] = (600.0, 3500.0)
    micro_intensity: tuple[float, float] = (0.35, 0.85)
    macro_intensity: tuple[float, float] = (0.6, 1.0)
    lead_in_s: float = 3.0
    talking_per_min: float = 3.0
    blink_per_min: float = 15.0
    nods_per_min: float = 3.0

    @property
    def stem(self) -> str:
        return self.name or f"synth-{self.identity}-s{self.seed}-{int(self.fps)}fps"


@dataclass(frozen=True)
class SynthResult:
    video: Path
    annotations: Path
    manifest: Path
    frames: int
    rows: list[Annotation] = field(default_factory=list)
    render_fps: float = 0.0


def validate(spec: SynthSpec) -> None:
    if spec.fps not in FPS_CHOICES:
        raise InputError(f"fps must be one of {', '.join(map(str, FPS_CHOICES))}, got {spec.fps:g}")
    if spec.identity not in IDENTITIES:
        raise InputError(f"unknown identity {spec.identity!r}; choose one of {', '.join(IDENTITIES)}")
    if spec.encoder not in ("auto", "ffmpeg", "opencv"):
        raise InputError(f"encoder must be auto, ffmpeg or opencv, got {spec.encoder!r}")
    if spec.codec not in CODECS:
        raise InputError(f"codec must be one of {', '.join(CODECS)}, got {spec.codec!r}")
    if not (64 <= spec.width <= 4096 and 64 <= spec.height <= 4096) or spec.width % 2 or spec.height % 2:
        raise InputError(f"size must be even and 64..4096 px per side, got {spec.width}x{spec.height}")
    if spec.head_motion not in HEAD_MOTIONS or spec.noise_model not in NOISE_MODELS or spec.mains_hz not in MAINS_HZ:
        raise InputError(f"head motion {spec.head_motion!r}, noise model {spec.noise_model!r} or mains {spec.mains_hz} Hz unknown "
                         f"(head motion: {', '.join(HEAD_MOTIONS)}; noise: {', '.join(NOISE_MODELS)}; mains: 0, 50, 60)")
    if spec.face_size_max and spec.face_size_max < spec.face_size:
        raise InputError(f"face size range {spec.face_size}..{spec.face_size_max} is empty")
    if spec.mains_hz and not 0 <= spec.exposure_ms <= 1000.0 / spec.fps:
        raise InputError(f"exposure {spec.exposure_ms:g} ms does not fit a frame at {spec.fps:g} fps")
    if not 48 <= spec.face_size <= max(spec.face_size, spec.face_size_max) <= 0.8 * min(spec.width, spec.height):
        sizes = f"{spec.face_size}..{spec.face_size_max}" if spec.face_size_max else f"{spec.face_size}"
        raise InputError(f"face size {sizes}px does not fit a {spec.width}x{spec.height} frame "
                         f"(48..{int(0.8 * min(spec.width, spec.height))}, the face's width with room for the head)")
    if spec.duration_s <= 0 or spec.micro < 0 or spec.macro < 0:
        raise InputError("duration must be positive and event counts 0 or more")
    if "/" in spec.stem or spec.stem.startswith("."):
        raise InputError(f"bad name {spec.stem!r}")


class Scene:
    """The identity placed in the output frame, with its warper and cached AU fields."""

    def __init__(self, spec: SynthSpec) -> None:
        ident = load_identity(spec.identity)
        self.identity = ident
        lm = ident.landmarks
        width = float(np.linalg.norm(lm[454] - lm[234]))
        scale = spec.face_size / width
        eye = lm[263] - lm[33]
        roll = math.degrees(math.atan2(eye[1], eye[0]))
        centre = lm[[33, 263, 152, 10, 234, 454]].mean(axis=0)
        m = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), roll, scale)
        m[:, 2] += np.array([spec.width / 2, spec.height / 2 + 0.04 * spec.face_size]) - centre
        # Shrinking: bilinear (warpAffine has no area mode; the INTER_AREA asked for here until session 29
        # was bilinear too, so the footage is unchanged). The canvas is made once: its aliasing does not move.
        self.canvas = cv2.warpAffine(ident.image, m, (spec.width, spec.height), flags=cv2.INTER_LINEAR if scale < 1 else cv2.INTER_CUBIC,
                                     borderMode=cv2.BORDER_REFLECT101)
        self.landmarks = (np.column_stack([lm, np.ones(len(lm))]) @ m.T).astype(np.float32)
        self.centre = (float(spec.width / 2), float(spec.height / 2))
        self.focal = 1.2 * max(spec.width, spec.height)
        self.warper = MeshWarper(self.canvas, self.landmarks)
        self._shifts: dict[str, np.ndarray] = {}
        self._last: tuple[tuple[tuple[str, float], ...], np.ndarray] | None = None  # previous expression frame
        self._reach = 0.0  # largest parallax shift of any landmark at unit weight, pixels
        if spec.parallax and ident.depth is not None:
            for k, d in parallax.displacements(ident.depth * np.float32(scale)).items():
                self._shifts[k] = d.astype(np.float32)
                self.warper.cache_field(k, self._shifts[k])
            self._reach = float(np.abs(self._shifts[parallax.YAW_KEY]).max())

    def pose_weights(self, pose: np.ndarray) -> dict[str, float]:
        """Parallax field weights for a head pose (POSE_FIELDS); empty without depth or when negligible."""
        if not self._reach:
            return {}
        return parallax.weights(float(pose[POSE_FIELDS.index("yaw")]), float(pose[POSE_FIELDS.index("pitch")]), self._reach)

    def prepare(self, keys: list[str]) -> None:
        for k in keys:
            if not self.warper.has_field(k):
                self.warper.cache_field(k, pixel_displacement(self.landmarks, {k: 1.0}))

    def expression(self, weights: dict[str, float]) -> np.ndarray:
        """The output frame with the face warped by AU intensities, before pose, light and noise."""
        key = tuple(sorted(weights.items()))
        if self._last is not None and self._last[0] == key:  # slow drift: same (quantised) parallax as before
            return self._last[1].copy()
        frame = self._expression(weights)
        self._last = (key, frame.copy())
        return frame

    def _expression(self, weights: dict[str, float]) -> np.ndarray:
        self.prepare(list(weights))
        frame = self.canvas.copy()
        field = self.warper.field(weights)
        if field is not None:
            cavity = None
            if any(k in MOUTH_OPENING for k in weights):
                moved = self.landmarks + self._landmark_shift(weights)
                cavity = moved[list(INNER_MOUTH)]
            self.warper.render(field, out=frame, cavity=cavity)
        return frame

    def _landmark_shift(self, weights: dict[str, float]) -> np.ndarray:
        """(468, 2) pixel displacement of the landmarks at these AU intensities."""
        total = np.zeros_like(self.landmarks)
        for k, a in weights.items():
            if k not in self._shifts:
                self._shifts[k] = pixel_displacement(self.landmarks, {k: 1.0}).astype(np.float32)
            total += np.float32(a) * self._shifts[k]
        return total

    def posed(self, frame: np.ndarray, pose: np.ndarray) -> np.ndarray:
        """An expression frame (already carrying this pose's parallax) moved by the planar head pose."""
        h = self.homography(pose)
        if h is None:
            return frame
        size = (frame.shape[1], frame.shape[0])
        if abs(h[2, 0]) < 1e-9 and abs(h[2, 1]) < 1e-9:  # affine (no yaw or pitch): half the cost
            return cv2.warpAffine(frame, h[:2] / h[2, 2], size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
        return cv2.warpPerspective(frame, h, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)

    def homography(self, pose: np.ndarray) -> np.ndarray | None:
        """Planar-face head pose (POSE_FIELDS) -> 3x3 homography, None if ~identity."""
        tx, ty, roll, scale, yaw, pitch = (float(v) for v in pose)
        if max(abs(tx), abs(ty)) < 0.05 and max(abs(roll), abs(yaw), abs(pitch)) < 0.02 and abs(scale) < 1e-3:
            return None
        cx, cy = self.centre
        h = 0.6 * cx
        src = np.array([[-h, -h], [h, -h], [h, h], [-h, h]], dtype=np.float64)
        r = _rotation(math.radians(yaw), math.radians(pitch), math.radians(roll))
        pts3 = np.column_stack([src * (1 + scale), np.zeros(4)]) @ r.T
        z = self.focal + pts3[:, 2]
        dst = self.focal * pts3[:, :2] / z[:, None] + np.array([cx + tx, cy + ty])
        return cv2.getPerspectiveTransform((src + np.array([cx, cy])).astype(np.float32), dst.astype(np.float32))


def _rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    cy_, sy = math.cos(yaw), math.sin(yaw)
    cp, sp = math.cos(pitch), math.sin(pitch)
    cr, sr = math.cos(roll), math.sin(roll)
    ry = np.array([[cy_, 0, sy], [0, 1, 0], [-sy, 0, cy_]])
    rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    rz = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    return rz @ rx @ ry


class _Noise:
    """A bank of precomputed noise frames, replayed in a seeded order (fresh noise per frame costs 10 ms)."""

    def __init__(self, rng: np.random.Generator, shape: tuple[int, ...], sigma: float, bank: int = 24) -> None:
        self.pos: list[np.ndarray] = []
        self.neg: list[np.ndarray] = []
        for _ in range(bank):
            n = rng.normal(0.0, sigma, shape)
            self.pos.append(np.clip(n, 0, 255).astype(np.uint8))
            self.neg.append(np.clip(-n, 0, 255).astype(np.uint8))
        self.order = rng

    def apply(self, frame: np.ndarray) -> np.ndarray:
        i = int(self.order.integers(len(self.pos)))
        return cv2.subtract(cv2.add(frame, self.pos[i]), self.neg[i])


def resolved(spec: SynthSpec) -> SynthSpec:
    """The spec with its face size drawn from its range (from its own seeded stream: the rest of the render is unchanged)."""
    if spec.face_size_max <= spec.face_size:
        return spec
    size = int(np.random.default_rng([spec.seed, 0xFACE]).integers(spec.face_size, spec.face_size_max + 1))
    return replace(spec, face_size=size, face_size_max=0)


def flicker_for(spec: SynthSpec) -> Flicker | None:
    if not spec.mains_hz:
        return None
    phase = float(np.random.default_rng([spec.seed, 0xF11C]).uniform(0, 2 * math.pi))
    return Flicker(float(spec.mains_hz), spec.fps, spec.height, spec.flicker_depth, spec.exposure_ms / 1000.0, 0.0, phase)


def _effective(spec: SynthSpec) -> tuple[float, int]:
    noise = spec.noise_sigma if spec.noise_sigma >= 0 else (2.0 if spec.distractors else 0.0)
    jpeg = spec.jpeg_quality if spec.jpeg_quality >= 0 else (85 if spec.distractors else 0)
    return noise, jpeg


def timeline_for(spec: SynthSpec, rng: np.random.Generator) -> Timeline:
    return schedule(
        TimelineSpec(
            fps=spec.fps, duration_s=spec.duration_s, micro=spec.micro, macro=spec.macro, emotions=spec.emotions,
            micro_ms=spec.micro_ms, macro_ms=spec.macro_ms, micro_intensity=spec.micro_intensity,
            macro_intensity=spec.macro_intensity, lead_in_s=spec.lead_in_s, distractors=spec.distractors,
            talking_per_min=spec.talking_per_min, blink_per_min=spec.blink_per_min, nods_per_min=spec.nods_per_min,
            face_size_px=spec.face_size, head_motion=spec.head_motion,
        ),
        rng,
    )


def render_frames(spec: SynthSpec, timeline: Timeline, rng: np.random.Generator):
    """Yield the RGB frames of a timeline in order."""
    scene = Scene(spec)
    scene.prepare([k for j, k in enumerate(timeline.components) if timeline.intensity[:, j].any()])
    noise_sigma, jpeg = _effective(spec)
    noise: _Noise | SensorNoise | None = _Noise(rng, (spec.height, spec.width, 3), noise_sigma) if noise_sigma > 0 else None
    if spec.noise_model == "sensor":
        noise = SensorNoise(np.random.default_rng([spec.seed, 0x5E45]), (spec.height, spec.width, 3))
    flicker = flicker_for(spec)
    r = scene.warper.region
    jpeg_box = (r.x0 // 8 * 8, r.y0 // 8 * 8, min(spec.width, -(-r.x1 // 8) * 8), min(spec.height, -(-r.y1 // 8) * 8))
    for i in range(timeline.n_frames):
        frame = scene.posed(scene.expression(timeline.weights(i) | scene.pose_weights(timeline.pose[i])), timeline.pose[i])
        g = float(timeline.gain[i])
        if flicker is not None:
            frame = apply_row_gain(frame, flicker.rows(i) * np.float32(g))
        elif abs(g - 1.0) > 1e-3:
            frame = cv2.convertScaleAbs(frame, alpha=g)
        if noise is not None:
            frame = noise.apply(frame)
        if jpeg:
            # Block artefacts where the spotter looks (the face); the encoder compresses the whole frame anyway.
            x0, y0, x1, y1 = jpeg_box
            _ok, buf = cv2.imencode(".jpg", frame[y0:y1, x0:x1], [cv2.IMWRITE_JPEG_QUALITY, jpeg])
            frame[y0:y1, x0:x1] = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
        yield frame


def annotation_rows(video: str, timeline: Timeline) -> list[Annotation]:
    return [Annotation(video, e.onset, e.apex, e.offset, e.type, e.emotion, e.label) for e in timeline.expressions]


def merge_annotations(csv_path: Path, video: str, rows: list[Annotation]) -> None:
    """Replace this video's rows in a folder's annotations.csv, keeping other videos' rows."""
    existing = read_annotations(csv_path) if csv_path.exists() else []
    write_annotations(csv_path, [r for r in existing if r.video != video] + rows)


def _nuisances(spec: SynthSpec, asked: SynthSpec) -> dict:
    """What the unit-like nuisances resolved to (only those switched on, so default manifests keep their keys)."""
    out: dict = {}
    if asked.face_size_max:
        out["face_size"] = spec.face_size
    f = flicker_for(spec)
    if f is not None:
        out["flicker"] = {"light_hz": f.light_hz, "beat_hz": round(f.beat_hz, 3), "exposure_ms": round(f.exposure * 1000, 3),
                          "readout_ms": round(f.readout * 1000, 3), "amplitude": round(f.amplitude, 4)}
    if spec.noise_model == "sensor":
        out["noise_sigma"] = round(math.sqrt(SENSOR_READ_SIGMA**2 + SENSOR_SHOT_GAIN * 128), 2)  # at mid grey
        out["noise"] = f"sensor: sigma^2 = {SENSOR_READ_SIGMA:g}^2 + {SENSOR_SHOT_GAIN:g} x level"
    if spec.codec == "h264":
        out["bitrate_kbps"] = h264_kbps(spec)
    return out


def generate(spec: SynthSpec, progress: Callable[[int, int], None] | None = None) -> SynthResult:
    """Render one annotated video into spec.out_dir; returns the paths written."""
    validate(spec)
    asked, spec = spec, resolved(spec)
    out = Path(spec.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(spec.seed)
    timeline = timeline_for(spec, rng)
    video = out / (spec.stem + CODECS[spec.codec])
    tmp = video.with_name(video.stem + ".partial" + video.suffix)
    writer = open_writer(tmp, spec)
    t0 = time.perf_counter()
    try:
        for i, frame in enumerate(render_frames(spec, timeline, rng)):
            writer.write(frame)
            if progress is not None:
                progress(i + 1, timeline.n_frames)
    except BaseException:
        try:
            writer.close()
        finally:
            tmp.unlink(missing_ok=True)
        raise
    writer.close()
    elapsed = time.perf_counter() - t0
    tmp.replace(video)
    rows = annotation_rows(video.name, timeline)
    csv_path = out / ANNOTATIONS_NAME
    merge_annotations(csv_path, video.name, rows)
    noise_sigma, jpeg = _effective(spec)
    manifest = out / (spec.stem + ".manifest.json")
    body = {
        "generator": f"microexpr {__version__} edge.synth",
        "video": video.name,
        "annotations": ANNOTATIONS_NAME,
        "spec": asdict(replace(asked, out_dir="")),
        "effective": {"noise_sigma": noise_sigma, "jpeg_quality": jpeg} | _nuisances(spec, asked),
        "encoder": writer.describe,
        "identity": {"name": spec.identity, "source": load_identity(spec.identity).source},
        "pose_fields": list(POSE_FIELDS),
        "components": list(component_keys()),
        "talking": [[d.start, d.end] for d in timeline.distractors if d.kind == "talking"],
        "blinks": [[d.start, d.end] for d in timeline.distractors if d.kind == "blink"],
        **timeline.to_manifest(),
    }
    manifest.write_text(json.dumps(body, indent=1) + "\n", encoding="utf-8")
    fps = timeline.n_frames / elapsed if elapsed > 0 else 0.0
    log.info("wrote %s: %d frames, %d expressions, %d distractors, rendered at %.0f fps",
             video, timeline.n_frames, len(rows), len(timeline.distractors), fps)
    return SynthResult(video, csv_path, manifest, timeline.n_frames, rows, fps)
