"""Build a Unit from the configuration: the real camera, models, spotter, outbox and publisher."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from contextlib import ExitStack
from typing import Any

from edge.config import Config
from edge.device.clips import CLIP_EVENT_MS, ClipRecorder, ClipStore
from edge.device.controls import Controls, make_pin_factory
from edge.device.erasure import LOG_NAME, ErasureLog, erase_session_data
from edge.device.notify import SystemdNotifier
from edge.device.unit import Unit
from edge.events.outbox import open_outbox
from edge.sources import open_source
from edge.loop.frames import wait_budget_s
from edge.sources.capture import Capture

log = logging.getLogger(__name__)


def clip_store(cfg: Config) -> ClipStore:
    """The configured clip folder beside the outbox."""
    return ClipStore(cfg.data_dir / "clips", cfg.clips.max_mb, cfg.clips.max_age_days)


def erasure_log(cfg: Config) -> ErasureLog:
    """Who asked for each erasure on this device, beside the outbox."""
    return ErasureLog(cfg.data_dir / LOG_NAME)


def build_unit(cfg: Config, stack: ExitStack, environ: Mapping[str, str] | None = None,
               exit_at_end: bool = False) -> Unit:
    """Open everything the unit needs; `stack` closes it all in reverse order."""
    from edge.analysis import make_spotter
    from edge.vision.pipeline import FacePipeline

    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    live = cfg.source.kind != "video"
    if not live:
        open_source(cfg.source).close()  # a bad file is one clear error now, not a silent retry loop
    pipeline = FacePipeline.from_config(cfg.vision)
    stack.callback(pipeline.close)
    spotter = make_spotter(cfg, pipeline)
    outbox = stack.enter_context(open_outbox(cfg))
    capture = Capture(lambda: open_source(cfg.source), cfg.source.queue_frames, live=live,
                      drop_when_full=live or cfg.source.realtime,
                      poll_s=wait_budget_s(cfg.source.wait, cfg.source.fps, cfg.vision.loop))
    log.info("waiting for frames: %s", f"poll up to {capture.poll_s * 1e3:.1f} ms" if capture.poll_s else "sleep")
    stack.callback(capture.stop, 1.0)
    clips = None
    if cfg.clips.enabled:
        ring = ClipRecorder.capacity_for(cfg.source.fps, cfg.clips.pre_ms, cfg.clips.post_ms,
                                         min(cfg.spotting.max_macro_ms, CLIP_EVENT_MS))
        clips = ClipRecorder(clip_store(cfg), cfg.clips.pre_ms, cfg.clips.post_ms, ring)
        stack.callback(clips.close)
    notifier = SystemdNotifier(environ)
    stack.callback(notifier.close)
    unit = Unit(cfg, capture, pipeline, spotter, outbox, notifier, clips=clips,
                source_name=cfg.source.path.rsplit("/", 1)[-1] if not live else "camera",
                models_version=getattr(pipeline, "models_version", ""),
                runtime=f"{pipeline.runtime.name} {pipeline.runtime.version}" if hasattr(pipeline, "runtime") else "",
                exit_at_end=exit_at_end)
    unit.publisher = _publisher(cfg, outbox, unit, spotter)
    factory = make_pin_factory(cfg.gpio, environ)
    if factory is not None:
        controls = Controls(cfg.gpio, factory, on_button=unit.request_session_toggle)
        stack.callback(controls.close)
        unit.attach_controls(controls)
    else:
        log.info("GPIO controls off (gpio.enabled = false)")
    return unit


def _publisher(cfg: Config, outbox: Any, unit: Unit, spotter: Any) -> Any | None:
    """The MQTT publisher service when mqtt.url is set; it shares the unit's health snapshot."""
    if not cfg.mqtt.url:
        log.info("mqtt.url empty: events stay in the outbox on this device")
        return None
    from edge.publish.service import PublisherService

    set_thresholds = None
    if hasattr(spotter, "set_thresholds"):
        def set_thresholds(values: dict[str, float]) -> dict[str, Any]:
            return spotter.set_thresholds(**values)
    def erase_session(session: str, requester: str = "") -> dict[str, Any]:
        """The MQTT command; `requester` is the command's `requester` user property (who asked)."""
        return dataclasses.asdict(erase_session_data(outbox, clip_store(cfg), session, requester=requester,
                                                     via="mqtt", erasures=erasure_log(cfg)))

    # The spotter swaps its frozen settings object in one assignment, so the MQTT
    # thread may call set_thresholds while the processing loop runs update().
    service = PublisherService(cfg, outbox, snapshot=unit.snapshot, set_thresholds=set_thresholds,
                               erase_session=erase_session)
    service.start()
    return service
