"""`make demo`: the product's main job on an embedded default, with no external service.

1. Generate annotated sample footage (a real face photo from scikit-image, animated with
   known micro and macro expressions, blinks, head motion and talking) once, cached.
2. Run the unit exactly as `microexpr run` does, with the replayed file as its camera:
   pipeline, spotter, durable outbox, slow-motion clips.
3. Print what it found, scored against the footage's ground truth.
4. Serve the on-device dashboard over the local buffer and clips (unless --exit).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import secrets
import time
from contextlib import ExitStack
from pathlib import Path

from edge.config import Config, load_config
from edge.events.annotations import Annotation, read_annotations
from edge.evaluation.metrics import score
from edge.events.outbox import open_outbox

DEMO_DIR = Path("demo-out")
FOOTAGE = dict(seed=11, fps=60.0, duration_s=40.0, identity="hopper", micro=9, macro=3)


def footage(out: Path) -> tuple[Path, Path]:
    """The demo clip and its annotations; generated on first use (about a minute)."""
    from edge.synth.render import SynthSpec, generate

    spec = SynthSpec(out_dir=str(out), **FOOTAGE)
    video = out / f"{spec.stem}.mp4"
    csv = out / "annotations.csv"
    if video.is_file() and csv.is_file() and any(a.video == video.name for a in read_annotations(csv)):
        return video, csv
    print(f"generating sample footage ({FOOTAGE['duration_s']:.0f} s at {FOOTAGE['fps']:.0f} fps) ...", flush=True)
    res = generate(spec)
    return res.video, res.annotations


def run_demo(args: argparse.Namespace) -> int:
    base = Path(os.environ.get("MICROEXPR_DEMO_DIR", DEMO_DIR))
    video, csv = footage(base / "footage")
    data_dir = os.environ.get("MICROEXPR_DATA_DIR") or str(base / "data")
    cfg = load_config(args.config, overrides={
        "device.id": os.environ.get("MICROEXPR_DEVICE_ID") or "demo-unit",
        "device.data_dir": data_dir,
        "device.room": "Demo room",
        "source.kind": "video",
        "source.path": str(video),
        "source.realtime": False,
    })
    found = _run_unit(cfg)
    truths = [a for a in read_annotations(csv) if a.video == video.name]
    _report(video, truths, found)
    if args.exit:
        return 0
    return _serve_dashboard(cfg)


def _run_unit(cfg: Config) -> list[dict]:
    """The same wiring as `microexpr run`, ending with the file; returns this run's events."""
    from edge.device.wiring import build_unit

    session = "demo-" + time.strftime("%Y%m%d-%H%M%S")
    with open_outbox(cfg) as outbox:
        outbox.start_session(session)  # an interview session, as the button or dashboard would start
    try:
        with ExitStack() as stack:
            rc = build_unit(cfg, stack, exit_at_end=True).run()
    finally:
        with open_outbox(cfg) as outbox:
            outbox.stop_session()
    if rc != 0:
        raise SystemExit(rc)
    with open_outbox(cfg) as outbox:
        events = outbox.events(session=session, limit=1_000_000)
    print(f"session {session}: events and clips are in {cfg.data_dir}")
    return sorted(events, key=lambda e: e["onset_frame"])


def _report(video: Path, truths: list[Annotation], events: list[dict]) -> None:
    print(f"\n{len(events)} events found in {video.name}:")
    print(f"  {'onset':>6} {'apex':>6} {'offset':>6} {'ms':>6}  {'type':5} {'emotion':10} {'conf':>5}  AUs")
    for e in events:
        aus = "+".join(k.removeprefix("AU") for k in e["aus"])
        print(f"  {e['onset_frame']:6d} {e['apex_frame']:6d} {e['offset_frame']:6d} {e['duration_ms']:6.0f}  "
              f"{e['type']:5} {e['emotion'] or '-':10} {e['confidence']:5.2f}  {aus}")
    preds = [Annotation(video.name, e["onset_frame"], e["apex_frame"], e["offset_frame"], e["type"],
                        e["emotion"], "") for e in events]
    s = score(truths, preds)
    print(f"\nagainst the footage's ground truth ({len(truths)} expressions, MEGC IoU >= 0.5): "
          f"micro F1 {s.micro.f1:.2f}, macro F1 {s.macro.f1:.2f}, overall F1 {s.overall.f1:.2f}; "
          f"emotion accuracy on matched micro {s.recognition.accuracy:.2f} (n={s.recognition.n})")


def _serve_dashboard(cfg: Config) -> int:
    from dashboard.server import serve

    password = cfg.dashboard.password or cfg.dashboard.password_hash
    if not password:
        generated = secrets.token_urlsafe(9)
        cfg = dataclasses.replace(cfg, dashboard=dataclasses.replace(cfg.dashboard, password=generated))
        print(f"dashboard password for this demo: {generated}  (set MICROEXPR_DASHBOARD_PASSWORD to choose one)")
    print(f"on-device dashboard: http://{cfg.dashboard.listen}/  (Ctrl-C to stop)", flush=True)
    serve(cfg, local=True)
    return 0
