"""Shared helpers of the device tests: real face frames at 120 fps, events, clips on disk."""

from __future__ import annotations

import os
import time

import cv2
import numpy as np
from fixtures.footage import astronaut_face

from edge.device.clips import ClipRecorder, ClipStore
from edge.events.record import EMOTIONS, Event
from edge.sources.frame import Frame

FPS = 120.0
BOX = (220.0, 120.0, 420.0, 360.0)  # the astronaut's face in a 640x480 frame, roughly


def frames(n: int, start: int = 0):
    face = cv2.resize(astronaut_face(480), (480, 480))
    base = np.zeros((480, 640, 3), np.uint8)
    base[:, 80:560] = face
    for i in range(start, start + n):
        img = base.copy()
        img[0:4, 0:4] = i % 256  # a per-frame mark outside the face
        yield Frame(img, int(i * 1e9 / FPS), i)


def event(onset: int, apex: int, offset: int, session: str = "s1") -> Event:
    return Event(onset, apex, offset, "", "", "", (offset - onset) / FPS * 1000, "micro", "happiness", 0.8,
                 {e: 0.0 for e in EMOTIONS}, {"AU12": 0.7}, {"yaw": 0.0, "pitch": 0.0, "roll": 0.0},
                 {"software": "test"}, session=session)


def make_clip(store: ClipStore, session: str, age_s: float = 0.0, n: int = 5) -> str:
    rec = ClipRecorder(store, 0, 0, 50)
    ev = event(1, 2, 3, session)
    for f in frames(n):
        rec.observe(f, BOX)
    rec.add(ev)
    rec.close()
    if age_s:
        t = time.time() - age_s
        os.utime(store.root / ev.id / "clip.json", (t, t))
    return ev.id
