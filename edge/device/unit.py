"""The long-running unit: capture -> FacePipeline -> Spotter -> Outbox, with systemd and GPIO.

The processing loop runs on the main thread and is the only thing that feeds
systemd's watchdog, so a pipeline stage that stalls stops the feeding and
systemd restarts the service. The capture runs on its own thread and never
waits for processing; nor does the loop wait on the disk: every outbox call
(commits, session polls, health counts) goes through the writer thread
(`edge.events.writer`). SIGTERM (`request_stop`) finishes the current event,
flushes clips and the publisher, tells systemd STOPPING=1 and returns 0.

With `device.analysis = "session"` (the default) a live camera's frames are
analysed only while an interview session runs: outside one each frame is dropped
unread, so nothing is analysed or stored and the recording LED stays dark. A
replayed file (`source.kind = "video"`) is analysed whole: an operator chose it.
A camera setting the camera refuses is not retried: the unit stays up, shows the
steady fault light and says why (log, STATUS=, health `camera: off`), and raises
the error once stopped.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import threading
import time
import uuid
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Protocol

from edge.config import Config
from edge.device.clips import ClipRecorder
from edge.device.controls import Controls, Fault
from edge.device.notify import SystemdNotifier
from edge.events.record import Event
from edge.events.writer import OutboxWriter
from edge.loop.frames import Done, make_loop
from edge.publish.health import HealthSnapshot, build_health
from edge.sources.capture import FAILED, LOST, RETRYING, Capture
from edge.sources.frame import Frame

log = logging.getLogger(__name__)

NO_FACE_S = 2.0  # no face this long while frames flow -> the no-face fault pattern
SESSION_POLL_S = 0.5  # sessions may also be changed by MQTT commands on another thread
FRAME_WAIT_S = 0.1  # longest the loop waits for a frame, so it keeps feeding the watchdog
FRESH_FRAME_S = 1.0  # the recording LED stays on this long after the last analysed frame
WRITER_WAIT_S = 4.0  # longest the loop waits on the writer thread (start-up answers, the backlog at stop)
STUCK_FRAME_S = 1.0  # a frame on its way through the pipelined loop longer than this: a stage is hung, stop feeding


class Pipeline(Protocol):
    def process(self, frame: Frame) -> Any: ...


class Spotter(Protocol):
    def update(self, frame: Frame, res: Any) -> list[Event]: ...
    def flush(self) -> list[Event]: ...


class Publisher(Protocol):
    """What the unit needs of the MQTT publisher (it reads the outbox on its own thread)."""

    @property
    def connected(self) -> bool: ...
    def publish_health(self, payload: dict[str, Any]) -> None: ...
    def stop(self, timeout: float) -> None: ...



def health_file(cfg: Config) -> Path:
    """The unit's latest health, rewritten every few seconds: on tmpfs under systemd
    (RuntimeDirectory=microexpr), sparing the SD card; else beside the outbox."""
    runtime_dir = os.environ.get("RUNTIME_DIRECTORY", "").split(":")[0]
    return (Path(runtime_dir) if runtime_dir else cfg.data_dir) / "health.json"

class Unit:
    """One device process; construct with its collaborators, then `run()`."""

    def __init__(
        self,
        cfg: Config,
        capture: Capture,
        pipeline: Pipeline,
        spotter: Spotter,
        outbox: Any,
        notifier: SystemdNotifier,
        clips: ClipRecorder | None = None,
        publisher: Publisher | None = None,
        source_name: str = "camera",
        models_version: str = "",
        runtime: str = "",
        exit_at_end: bool = False,
    ) -> None:
        self.cfg = cfg
        self.capture = capture
        self.pipeline = pipeline
        self.spotter = spotter
        self.outbox = outbox
        self.notifier = notifier
        self.clips = clips
        self.publisher = publisher
        self.controls: Controls | None = None
        self.source_name = source_name
        self.exit_at_end = exit_at_end
        self.health_path = health_file(cfg)
        self.snapshot = HealthSnapshot(models=models_version, runtime=runtime)
        self.events_emitted = 0
        self._stop = threading.Event()
        self._toggle = threading.Event()
        self._session: str = ""
        self._session_checked = -1e9
        self._last_frame = -1e9
        self._last_face = time.monotonic()
        self._rate_mark = (time.monotonic(), 0, 0)
        self.last_health: dict[str, Any] | None = None
        self.writer = OutboxWriter(outbox, on_committed=self._committed)
        self._session_poll: Future[dict[str, Any] | None] | None = None
        self._stats_poll: Future[Any] | None = None
        self._stats: Any = None
        self.gated = cfg.device.analysis == "session" and capture.live  # analyse only during a session
        # vision.loop: the pipelined loop needs the real pipeline's split steps; a stand-in without them runs serially.
        mode = cfg.vision.loop if hasattr(pipeline, "track") else "serial"
        self.loop = make_loop(mode, pipeline, spotter, gil_switch_ms=cfg.vision.gil_switch_ms)
        self._failure = ""  # why a live camera was given up on (a setting it refuses)

    def attach_controls(self, controls: Controls) -> None:
        self.controls = controls

    # ---- requests from other threads (signal handlers, GPIO) ---------------

    def request_stop(self) -> None:
        """Safe from a signal handler: the loop notices within FRAME_WAIT_S."""
        self._stop.set()

    def request_session_toggle(self) -> None:
        """The session button: start a session, or stop the running one."""
        self._toggle.set()

    # ---- the loop ---------------------------------------------------------------

    def run(self) -> int:
        self.writer.start()
        try:
            rc = self._loop()
        except BaseException:
            self.loop.abort()  # its stage threads stop; the frames in them are the crash's
            self.writer.stop(WRITER_WAIT_S)  # a crash still commits the events already handed over
            raise
        if self.capture.error is not None:
            raise self.capture.error  # after the flush: one clear line and exit 2 from the CLI
        return rc

    def _loop(self) -> int:
        self.capture.start()
        self._apply_session(self.writer.call(lambda ob: ob.current_session()).result(WRITER_WAIT_S))
        self._stats = self.writer.call(lambda ob: ob.stats()).result(WRITER_WAIT_S)
        interval = self.notifier.watchdog_interval_s
        feed_every = min(interval / 3, 1.0) if interval else None
        health_every = max(0.1, self.cfg.mqtt.health_interval_s)
        self.notifier.ready(f"analysing {self.source_name}")
        log.info("unit %s running: source %s, watchdog %s", self.cfg.device_id, self.source_name,
                 f"{interval:g} s" if interval else "off")
        last_feed = last_health = time.monotonic()
        self._write_health()
        while not self._stop.is_set():
            if self._toggle.is_set():
                self._toggle.clear()
                self._toggle_session()
            frame = self.capture.get(FRAME_WAIT_S)
            if frame is not None:
                if self._session or not self.gated:
                    self._process(frame)
            elif self.capture.ended and self.capture.live and self.capture.error is not None and not self.exit_at_end:
                self._camera_failed(str(self.capture.error))
            elif self.capture.ended and (self.exit_at_end or self.capture.error is not None):
                log.info("frame source ended%s", f": {self.capture.error}" if self.capture.error else "")
                break
            if frame is None:
                self._finished(self.loop.take())  # no frame to push them out: the last ones the stages finished
            now = time.monotonic()
            if feed_every is not None and now - last_feed >= feed_every and self._flowing():
                self.notifier.watchdog()
                last_feed = now
            self._poll_session(now)
            self._update_indicators(now)
            if now - last_health >= health_every:
                self._write_health()
                last_health = now
        return self._shutdown()

    def _process(self, frame: Frame) -> None:
        """Hand the frame to the loop (serial: processed now; pipelined: on the stage threads) and
        finish the frames the loop has done, in frame order."""
        self._finished(self.loop.put(frame))

    def _finished(self, done: list[Done]) -> None:
        for d in done:
            frame, res = d.frame, d.res
            now = time.monotonic()
            self._last_frame = now
            self.snapshot.frames_processed += 1
            timings = dict(getattr(res, "timings_ms", {}) or {})
            if getattr(res, "face", False):
                self._last_face = now
            if self.clips is not None:
                threshold = getattr(getattr(self.spotter, "cfg", None), "threshold", 0.0)
                level = d.reading.score / threshold if d.reading is not None and threshold > 0 else None
                self.clips.observe(frame, getattr(res, "box", None), level)
            timings["spotting"] = d.spotting_ms
            timings["frame"] = (d.done_ns - d.put_ns) / 1e6  # handed to the loop -> done
            self.snapshot.latency.add(timings)
            self._emit(d.events)

    def _flowing(self) -> bool:
        """No frame stuck in the loop: the watchdog is fed only while frames flow through every stage."""
        return self.loop.oldest_pending_s() < STUCK_FRAME_S

    def _settle(self) -> None:
        """Finish every frame handed to the loop: before the spotter is flushed or reset on this thread."""
        self._finished(self.loop.drain())

    def _emit(self, events: list[Event]) -> None:
        for ev in events:
            ev.device = self.cfg.device_id
            ev.session = ev.session or self._session
            ev.video = ev.video or self.source_name
            self.writer.submit(ev)  # committed (fsync'd) on the writer thread, in this order
            self.events_emitted += 1
            if self.clips is not None:
                self.clips.add(ev)
            log.info("event %s %s %s (%.0f ms) session=%s", ev.id, ev.type, ev.emotion or "-", ev.duration_ms,
                     ev.session or "-")

    # ---- sessions -----------------------------------------------------------------

    def _committed(self, ev: Event) -> None:
        """On the writer thread, once the event is on disk: deliver it now, not at the publisher's next poll."""
        wake = getattr(self.publisher, "notify", None)
        if wake is not None:
            wake()

    def _poll_session(self, now: float) -> None:
        """Sessions may also be changed by MQTT commands or the dashboard: ask the outbox every
        SESSION_POLL_S (on the writer thread) and act on the answer once it is there."""
        if self._session_poll is not None and self._session_poll.done():
            poll, self._session_poll = self._session_poll, None
            try:
                self._apply_session(poll.result())
            except Exception as e:
                log.error("cannot read the running session: %s", e)
        if self._session_poll is None and now - self._session_checked >= SESSION_POLL_S:
            self._session_poll = self.writer.call(lambda ob: ob.current_session())
            self._session_checked = now

    def _apply_session(self, cur: dict[str, Any] | None) -> None:
        sid = cur["id"] if cur else ""
        if sid != self._session:
            self._settle()
            self._emit(self.spotter.flush())  # an event in progress belongs to the old session
            if self.gated and sid and hasattr(self.spotter, "reset"):
                self.spotter.reset()  # a new interview: a new face, a new neutral baseline
            self._session = sid
            if self.gated:
                log.info("session %s: frames are %s", sid or "ended", "analysed" if sid else "no longer analysed")

    def _toggle_session(self) -> None:
        self._settle()
        self._emit(self.spotter.flush())

        def toggle(outbox: Any) -> dict[str, Any] | None:
            if outbox.current_session():
                stopped = outbox.stop_session()
                log.info("session %s stopped by the button", stopped["id"] if stopped else "?")
            else:
                sid = f"s-{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:4]}"
                outbox.start_session(sid)
                log.info("session %s started by the button", sid)
            return outbox.current_session()

        self._session_poll = self.writer.call(toggle)  # its answer is the new session

    @property
    def session(self) -> str:
        return self._session

    # ---- health, LEDs -------------------------------------------------------------

    def faults(self, now: float | None = None) -> set[Fault]:
        now = time.monotonic() if now is None else now
        faults: set[Fault] = set()
        camera = self.capture.stats().camera
        if camera == FAILED:
            faults.add(Fault.CAMERA_FAILED)
        elif camera in (LOST, RETRYING):
            faults.add(Fault.CAMERA_LOST)
        if self.publisher is not None and not self.publisher.connected:
            faults.add(Fault.BROKER_UNREACHABLE)
        if now - self._last_frame < FRESH_FRAME_S and now - self._last_face > NO_FACE_S:
            faults.add(Fault.NO_FACE)
        return faults

    def analysing(self, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        return now - self._last_frame < FRESH_FRAME_S

    def _update_indicators(self, now: float) -> None:
        if self.controls is not None:
            self.controls.set_analysing(self.analysing(now))
            self.controls.set_faults(self.faults(now))

    def health(self) -> dict[str, Any]:
        st = self.capture.stats()
        snap = self.snapshot
        now = time.monotonic()
        t_mark, in_mark, proc_mark = self._rate_mark
        if now - t_mark > 0.2:
            snap.fps_in = (st.frames_in - in_mark) / (now - t_mark)
            snap.fps_processed = (snap.frames_processed - proc_mark) / (now - t_mark)
            self._rate_mark = (now, st.frames_in, snap.frames_processed)
        snap.frames_in = st.frames_in
        snap.frames_dropped = st.frames_dropped
        snap.camera = "off" if st.camera in ("ended", FAILED) else st.camera
        if self._stats_poll is not None and self._stats_poll.done():
            try:
                self._stats = self._stats_poll.result()
            except Exception as e:
                log.warning("cannot count the outbox: %s", e)
            self._stats_poll = None
        if self._stats_poll is None and self.writer.running:  # counted on the writer thread; this has the last count
            self._stats_poll = self.writer.call(lambda ob: ob.stats())
        snap.writer_backlog = self.writer.backlog
        return build_health(self.cfg.device_id, snap, self._stats, self.cfg.data_dir,
                            site=self.cfg.device.site, room=self.cfg.device.room)

    def _write_health(self) -> None:
        payload = self.health()
        self.last_health = payload
        tmp = self.health_path.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps(payload), encoding="utf-8")
            os.replace(tmp, self.health_path)
        except OSError as e:
            log.warning("cannot write %s: %s", self.health_path, e)
        if self.publisher is not None:
            try:
                self.publisher.publish_health(payload)
            except Exception as e:  # health is best effort; events are in the outbox
                log.warning("publishing health failed: %s", e)
        if self._failure:
            self.notifier.status(f"camera failed, not retried: {self._failure}")
            return
        idle = " idle (no session)" if self.gated and not self._session else ""
        self.notifier.status(
            f"{payload['camera']}{idle} in={payload['frames_in']} done={payload['frames_processed']} "
            f"dropped={payload['frames_dropped']} fps={payload['fps_processed']:.1f} "
            f"outbox={payload['outbox']['depth']} session={self._session or '-'}"
        )

    def _camera_failed(self, why: str) -> None:
        """A live camera given up on: say so once, then idle (watchdog fed, health sent) until stopped."""
        if not self._failure:
            self._failure = why
            log.error("camera: %s (not retried: fix the setting, then restart the service)", why)
            self._write_health()
        self._stop.wait(FRAME_WAIT_S)  # the capture has ended: get() no longer waits

    # ---- shutdown -------------------------------------------------------------------

    def _shutdown(self) -> int:
        """Finish the current event, commit it, flush clips and the publisher: ~4 s, up to 9 on a failing disk."""
        self.notifier.stopping("finishing the current event")
        started = time.monotonic()
        self.capture.stop(1.0)
        self._finished(self.loop.close())  # every frame handed over is finished before the flush
        self.loop.check()
        self._emit(self.spotter.flush())
        if self.clips is not None:
            self.clips.flush(timeout=1.0)
        self._stats_poll = self.writer.call(lambda ob: ob.stats())  # after the backlog: the last health counts it
        self.writer.flush(WRITER_WAIT_S)
        self.writer.stop(1.0)
        self._write_health()
        if self.publisher is not None:
            self.publisher.stop(timeout=max(0.5, 3.0 - (time.monotonic() - started)))
        if self.controls is not None:
            self.controls.set_analysing(False)
            self.controls.set_faults(set())
        log.info("unit stopped (shutdown took %.2f s): %d frames, %d events", time.monotonic() - started,
                 self.snapshot.frames_processed, self.events_emitted)
        return 0
