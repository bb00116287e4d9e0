"""Short face-region clips per event, for slow-motion review on the device.

A preallocated ring keeps the last few seconds of face crops at full frame
rate (each crop is resized straight into its slot: no per-frame allocation).
When an event's offset plus `post_ms` has been seen, its frames are cut from the
ring and written as JPEGs with a clip.json beside the outbox:

    <data_dir>/clips/<event_id>/clip.json  {"event_id","fps","t_ms","onset","apex",
                                             "offset","frames","box","level","session","created_utc"}
    <data_dir>/clips/<event_id>/0000.jpg ...

`level` is the spotting score over its threshold on each frame (1: the threshold; null where the
spotter did not measure the face), so the review shows how the score rose and fell around the event.
Clips are local only; retention (age and total size) is enforced on every save.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import shutil
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from edge.events.record import Event
from edge.sources.frame import Frame

log = logging.getLogger(__name__)

CLIP_EVENT_MS = 4000.0  # the ring holds events up to this long; a longer (held) one's clip keeps its last part
CROP_PX = 160  # side of the stored face crop: ample for slow-motion review; 721 slots at 120 fps = 55 MB
MARGIN = 0.3  # context around the detector's box, per side, as a fraction of its size
JPEG_QUALITY = 90


def _powers_of_two(k: int) -> list[int]:
    """k, k/2, ..., 2 for a power of two k."""
    out = []
    while k > 1:
        out.append(k)
        k //= 2
    return out


class FrameRing:
    """The last `capacity` face crops with their frame index, time and crop box."""

    def __init__(self, capacity: int, crop_px: int = CROP_PX) -> None:
        self.capacity = capacity
        self.crops = np.zeros((capacity, crop_px, crop_px, 3), np.uint8)
        self.index = np.full(capacity, -1, np.int64)
        self.t_ns = np.zeros(capacity, np.int64)
        self.boxes = np.zeros((capacity, 4), np.int32)
        self.over_threshold = np.full(capacity, np.nan, np.float32)  # spotting score / threshold, NaN: not measured
        self._next = 0
        self._box: tuple[int, int, int, int] | None = None
        self._levels: list[np.ndarray] | None = None  # the shrink's intermediate images, largest first

    def push(self, frame: Frame, face_box: tuple[float, float, float, float] | None,
             level: float | None = None) -> bool:
        """Crop the face region of `frame` into the next slot, with its spotting `level` (score over
        threshold); False before any face was seen."""
        box = self._sticky_box(frame.image.shape, face_box)
        if box is None:
            return False
        x0, y0, x1, y1 = box
        slot = self._next
        side = self.crops.shape[1]
        self._shrink(frame.image[y0:y1, x0:x1], self.crops[slot])
        self.index[slot] = frame.index
        self.t_ns[slot] = frame.t_ns
        self.boxes[slot] = box
        self.over_threshold[slot] = np.nan if level is None else level
        self._next = (slot + 1) % self.capacity
        return True

    def _shrink(self, region: np.ndarray, dst: np.ndarray) -> None:
        """`region` resized into `dst` nearly as INTER_AREA would (PSNR 43-57 dB against it on a sharp,
        noisy face photo) at a third to a fifth of its cost: INTER_AREA at a non-integer scale took
        0.5-1.7 ms a frame on the loop. Bilinear to `dst`'s size times the largest power of two that fits
        (under 2x, so little aliasing), then exact 2x area averages (OpenCV's fast path): 0.1-0.4 ms.
        Its buffers are reused while the box keeps its size."""
        side_y, side_x = dst.shape[:2]
        h, w = region.shape[:2]
        k = 1
        while side_y * k * 2 <= h and side_x * k * 2 <= w:
            k *= 2
        if k == 1:
            cv2.resize(region, (side_x, side_y), dst=dst, interpolation=cv2.INTER_LINEAR)
            return
        if self._levels is None or self._levels[0].shape[:2] != (side_y * k, side_x * k):
            self._levels = [np.empty((side_y * m, side_x * m, 3), np.uint8) for m in _powers_of_two(k)]
        img = self._levels[0]
        cv2.resize(region, (side_x * k, side_y * k), dst=img, interpolation=cv2.INTER_LINEAR)
        for out in [*self._levels[1:], dst]:
            cv2.resize(img, (out.shape[1], out.shape[0]), dst=out, interpolation=cv2.INTER_AREA)
            img = out

    def _sticky_box(
        self, shape: tuple[int, ...], face: tuple[float, float, float, float] | None
    ) -> tuple[int, int, int, int] | None:
        """A square crop that moves only when the face leaves its middle or changes size.

        A crop that jittered with every detection would itself look like motion
        in slow-motion review.
        """
        h, w = shape[:2]
        if face is not None:
            fx0, fy0, fx1, fy1 = face
            side = max(fx1 - fx0, fy1 - fy0) * (1 + 2 * MARGIN)
            cx, cy = (fx0 + fx1) / 2, (fy0 + fy1) / 2
            cur = self._box
            if cur is not None:
                cside = cur[2] - cur[0]
                ccx, ccy = (cur[0] + cur[2]) / 2, (cur[1] + cur[3]) / 2
                if abs(cx - ccx) < cside * 0.15 and abs(cy - ccy) < cside * 0.15 and abs(side / cside - 1) < 0.2:
                    return cur
            side = max(8.0, min(side, w, h))
            x0 = int(round(min(max(cx - side / 2, 0), w - side)))
            y0 = int(round(min(max(cy - side / 2, 0), h - side)))
            s = int(side)
            self._box = (x0, y0, x0 + s, y0 + s)
        return self._box

    def span(self, first_index: int, last_index: int) -> np.ndarray:
        """Slots holding frames first_index..last_index, oldest first."""
        slots = np.nonzero((self.index >= first_index) & (self.index <= last_index))[0]
        return slots[np.argsort(self.index[slots])]

    def latest(self) -> tuple[int, int] | None:
        """(frame index, t_ns) of the newest crop."""
        slot = (self._next - 1) % self.capacity
        return None if self.index[slot] < 0 else (int(self.index[slot]), int(self.t_ns[slot]))

    def time_of(self, frame_index: int) -> int | None:
        hit = np.nonzero(self.index == frame_index)[0]
        return int(self.t_ns[hit[0]]) if hit.size else None


@dataclass
class Clip:
    event_id: str
    session: str
    fps: float
    t_ms: list[float]
    onset: int  # indices into frames
    apex: int
    offset: int
    box: list[int]
    frames: np.ndarray  # N x S x S x 3 RGB
    levels: list[float | None] = field(default_factory=list)  # per frame: spotting score / threshold


@dataclass(frozen=True)
class ClipInfo:
    event_id: str
    session: str
    created: float  # unix time
    size_bytes: int
    path: Path


class ClipStore:
    """Clips on disk with a retention period and a total size cap (oldest go first)."""

    def __init__(self, root: Path, max_mb: float, max_age_days: float) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.max_bytes = int(max_mb * 1024 * 1024)
        self.max_age_s = max_age_days * 86400

    def save(self, clip: Clip) -> Path:
        final = self.root / clip.event_id
        tmp = self.root / f".{clip.event_id}.partial"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        names = []
        for i, rgb in enumerate(clip.frames):
            name = f"{i:04d}.jpg"
            bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
            ok, jpg = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
            if not ok:
                raise OSError(f"JPEG encoding failed for clip {clip.event_id}")
            (tmp / name).write_bytes(jpg.tobytes())
            names.append(name)
        meta = {
            "event_id": clip.event_id,
            "fps": round(clip.fps, 3),
            "t_ms": [round(t, 3) for t in clip.t_ms],
            "onset": clip.onset,
            "apex": clip.apex,
            "offset": clip.offset,
            "frames": names,
            "box": clip.box,
            "level": clip.levels,
            "session": clip.session,
            "created_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        }
        (tmp / "clip.json").write_text(json.dumps(meta), encoding="utf-8")
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)  # a clip appears whole or not at all
        self.enforce_retention()
        return final

    def list(self) -> list[ClipInfo]:
        """Every complete clip, oldest first."""
        out = []
        for d in self.root.iterdir():
            meta = d / "clip.json"
            if d.name.startswith(".") or not meta.is_file():
                continue
            try:
                session = str(json.loads(meta.read_text(encoding="utf-8")).get("session", ""))
            except (OSError, ValueError):
                session = ""
            size = sum(f.stat().st_size for f in d.iterdir() if f.is_file())
            out.append(ClipInfo(d.name, session, meta.stat().st_mtime, size, d))
        return sorted(out, key=lambda c: c.created)

    def enforce_retention(self, now: float | None = None) -> int:
        """Erase clips past the age limit, then the oldest until under the size cap."""
        now = time.time() if now is None else now
        clips = self.list()
        removed = 0
        total = sum(c.size_bytes for c in clips)
        for c in clips:
            if now - c.created > self.max_age_s or total > self.max_bytes:
                shutil.rmtree(c.path, ignore_errors=True)
                total -= c.size_bytes
                removed += 1
        if removed:
            log.info("clip retention: erased %d clips", removed)
        return removed

    def erase(self, event_ids: set[str] | None = None, session: str | None = None) -> int:
        """Erase the clips of these events and/or of this session; returns how many."""
        n = 0
        for c in self.list():
            if (event_ids and c.event_id in event_ids) or (session is not None and c.session == session):
                shutil.rmtree(c.path, ignore_errors=True)
                n += 1
        return n


class ClipRecorder:
    """Feeds the ring every frame and writes each event's clip once its tail is in.

    JPEG encoding runs on one worker thread so the processing loop never waits for it.
    """

    def __init__(self, store: ClipStore, pre_ms: float, post_ms: float, ring_capacity: int) -> None:
        self.store = store
        self.ring = FrameRing(ring_capacity)
        self.pre_ns = int(pre_ms * 1e6)
        self.post_ns = int(post_ms * 1e6)
        self._pending: list[Event] = []
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clips")
        self._futures: list[Future[Path]] = []
        self.saved = 0

    @staticmethod
    def capacity_for(fps: float, pre_ms: float, post_ms: float, max_event_ms: float, latency_ms: float = 1000.0) -> int:
        return int(math.ceil(fps * (pre_ms + max_event_ms + post_ms + latency_ms) / 1000.0)) + 1

    def observe(self, frame: Frame, face_box: tuple[float, float, float, float] | None,
                level: float | None = None) -> None:
        """Every frame, with its spotting score over the threshold where the spotter measured the face."""
        self.ring.push(frame, face_box, level)
        if self._pending:
            self._cut_ready(frame.t_ns)

    def add(self, event: Event) -> None:
        self._pending.append(event)

    def _cut_ready(self, now_ns: int | None) -> None:
        """Cut the events whose offset + post_ms is in the ring (all of them when now_ns is None)."""
        keep = []
        for ev in self._pending:
            if now_ns is not None:
                t_off = self.ring.time_of(ev.offset_frame)
                latest = self.ring.latest()
                tail_pending = t_off is not None and now_ns < t_off + self.post_ns
                offset_unseen = t_off is None and latest is not None and latest[0] < ev.offset_frame
                if tail_pending or offset_unseen:
                    keep.append(ev)
                    continue
            clip = self._cut(ev)
            if clip is not None:
                self._futures.append(self._writer.submit(self.store.save, clip))
        self._pending = keep
        self._reap()

    def _cut(self, ev: Event) -> Clip | None:
        ring = self.ring
        t_on = ring.time_of(ev.onset_frame)
        t_off = ring.time_of(ev.offset_frame)
        slots = ring.span(0, 2**62)
        if t_on is not None:
            slots = slots[ring.t_ns[slots] >= t_on - self.pre_ns]
        if t_off is not None:
            slots = slots[ring.t_ns[slots] <= t_off + self.post_ns]
        if slots.size == 0:
            log.warning("event %s: no face frames left in the ring; no clip", ev.id)
            return None
        idx = ring.index[slots]
        t_ms = (ring.t_ns[slots] - ring.t_ns[slots[0]]) / 1e6

        def pos(frame_index: int) -> int:
            return int(np.clip(np.searchsorted(idx, frame_index), 0, len(idx) - 1))

        apex = pos(ev.apex_frame)
        span_s = float(t_ms[-1]) / 1000.0
        fps = (len(slots) - 1) / span_s if span_s > 0 else 0.0
        return Clip(
            event_id=ev.id,
            session=ev.session,
            fps=fps,
            t_ms=[float(t) for t in t_ms],
            onset=pos(ev.onset_frame),
            apex=apex,
            offset=pos(ev.offset_frame),
            box=[int(v) for v in ring.boxes[slots[apex]]],
            frames=ring.crops[slots],  # fancy indexing copies: one copy per event, off the ring
            levels=[None if math.isnan(v) else round(float(v), 3) for v in ring.over_threshold[slots]],
        )

    def _reap(self) -> None:
        still = []
        for f in self._futures:
            if not f.done():
                still.append(f)
            elif f.exception() is not None:
                log.error("writing a clip failed: %s", f.exception())
            else:
                self.saved += 1
        self._futures = still

    def flush(self, timeout: float = 3.0) -> None:
        """Cut every pending clip with what the ring holds, and wait for the writes."""
        self._cut_ready(None)
        deadline = time.monotonic() + timeout
        for f in list(self._futures):
            try:
                f.result(max(0.0, deadline - time.monotonic()))
            except Exception as e:
                log.error("writing a clip failed: %s", e)
        self._reap()

    def close(self) -> None:
        self.flush()
        self._writer.shutdown(wait=True)
