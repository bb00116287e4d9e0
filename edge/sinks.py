"""Where the pipeline's per-frame results and events go. Sinks share one small base class,
so a probe sink in a test sees exactly what the outbox or a file sees."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import IO, Any

from edge.events.record import Event
from edge.sources.frame import Frame
from edge.spotting.reading import Reading
from edge.vision.pipeline import FaceResult


class Sink:
    """Receives every frame's result and every event; all hooks optional."""

    def on_result(self, frame: Frame, res: FaceResult) -> None:  # noqa: B027
        pass

    def on_event(self, event: Event) -> None:  # noqa: B027
        pass

    def on_reading(self, frame: Frame, reading: Reading) -> None:  # noqa: B027
        """The spotter's score and gate flags on a frame with a measured face (after its on_result)."""

    def close(self) -> None:  # noqa: B027
        pass


class ResultsJsonlSink(Sink):
    """One JSON line per frame: face, box, landmarks, presence, pose, emotion, timings, and the spotter's
    reading (`spot`: score in robust sigmas and the gate flags) where it measured the face.

    A frame's line is written when the next frame (or the end) comes: its reading follows its result."""

    def __init__(self, path: Path, landmarks: bool = True) -> None:
        self._f: IO[str] = open(path, "w", encoding="utf-8")
        self._landmarks = landmarks
        self._line: dict[str, Any] | None = None

    def on_result(self, frame: Frame, res: FaceResult) -> None:
        self._write()
        d: dict[str, Any] = {"frame": res.frame_index, "t_ms": round(res.t_ns / 1e6, 3), "face": res.face}
        if res.face:
            d["box"] = [round(v, 1) for v in res.box or ()]
            d["presence"] = round(res.presence, 4)
            d["pose"] = res.pose.as_dict() if res.pose else None
            if self._landmarks and res.landmarks is not None:
                d["landmarks"] = [[round(float(v), 1) for v in p] for p in res.landmarks]
        if res.emotion is not None:
            d["emotion"] = [round(float(v), 4) for v in res.emotion]
        d["timings_ms"] = {k: round(v, 3) for k, v in res.timings_ms.items()}
        self._line = d

    def on_reading(self, frame: Frame, reading: Reading) -> None:
        if self._line is not None and self._line["frame"] == reading.index:
            self._line["spot"] = {"score": round(reading.score, 3), "blink": reading.blink,
                                  "talking": reading.talking, "lids_down": reading.lids_down}

    def _write(self) -> None:
        if self._line is not None:
            self._f.write(json.dumps(self._line, separators=(",", ":")) + "\n")
            self._line = None

    def close(self) -> None:
        self._write()
        self._f.close()


class EventsCsvSink(Sink):
    """Events in the annotation CSV format, so `microexpr eval --predictions` scores them."""

    def __init__(self, path: Path, video: str) -> None:
        self.path, self.video = path, video
        self.events: list[Event] = []

    def on_event(self, event: Event) -> None:
        self.events.append(event)

    def close(self) -> None:
        from edge.events.annotations import Annotation, write_annotations

        rows = [
            Annotation(self.video, e.onset_frame, e.apex_frame, e.offset_frame, e.type, e.emotion, e.aus_label)
            for e in self.events
        ]
        write_annotations(self.path, rows)


class ReadingsSink(Sink):
    """Keeps every frame's spotting reading in memory, in frame order (evaluation/agreement.py)."""

    def __init__(self) -> None:
        self.readings: list[Reading] = []

    def on_reading(self, frame: Frame, reading: Reading) -> None:
        self.readings.append(reading)


class CollectSink(Sink):
    """Keeps events in memory (eval, demo, tests)."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def on_event(self, event: Event) -> None:
        self.events.append(event)


class ProgressSink(Sink):
    """A progress bar on a terminal, nothing elsewhere (journald, pipes)."""

    def __init__(self, total: int | None, stream: IO[str] = sys.stderr) -> None:
        self.total, self.stream = total, stream
        self.enabled = stream.isatty()
        self._last = 0.0
        self._start = time.monotonic()
        self._n = 0

    def on_result(self, frame: Frame, res: FaceResult) -> None:
        self._n += 1
        now = time.monotonic()
        if not self.enabled or now - self._last < 0.2:
            return
        self._last = now
        fps = self._n / max(now - self._start, 1e-9)
        if self.total:
            done = min(1.0, self._n / self.total)
            bar = "#" * int(done * 30)
            self.stream.write(f"\r[{bar:30}] {self._n}/{self.total} frames {fps:6.1f} fps")
        else:
            self.stream.write(f"\r{self._n} frames {fps:6.1f} fps")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


class OutboxSink(Sink):
    """Commits each event to the durable outbox first, then wakes the publisher (if any)."""

    def __init__(self, outbox: Any, device: str, session: str = "", publisher: Any | None = None) -> None:
        self.outbox, self.device, self.session, self.publisher = outbox, device, session, publisher
        self.count = 0

    def on_event(self, event: Event) -> None:
        event.device = event.device or self.device
        event.session = event.session or self.session
        self.outbox.put(event)
        self.count += 1
        if self.publisher is not None:
            self.publisher.notify()
