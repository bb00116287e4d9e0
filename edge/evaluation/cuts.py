"""Each annotated episode in a short clip of its own: how soon the spotter works on a face it has just met.

A long development clip lets every detector learn the person before most expressions come. Much
real footage is short -- a posed expression a few seconds long, a clip that starts as the face
appears -- and the annotation protocol leaves out only its first second. `microexpr footage score
--cut LEAD` cuts every episode with at least LEAD seconds of footage before it into a clip from
LEAD s before its onset to AFTER_S after its offset, and scores each cut like a whole clip on that
episode alone: the other episodes inside a cut are don't care (not scored, and a prediction on
them is no false alarm), so every episode is counted once, in its own cut.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path

from edge.errors import InputError
from edge.evaluation.real import DONT_CARE_S, ClipTruth
from edge.events.annotations import Annotation, Range

AFTER_S = 1.0  # a cut runs this long past its episode's offset
MAX_LEAD_S = 30.0


@dataclass(frozen=True)
class Cut:
    """One episode's clip: its truth (frames counted from the cut's first) and where it lies in the source."""

    truth: ClipTruth
    first: int  # source frame of the cut's frame 0
    last: int  # source frame of its last frame


def check_lead(lead_s: float) -> None:
    """The lead must put the episode after the first second the protocol leaves out."""
    if not DONT_CARE_S < lead_s <= MAX_LEAD_S:
        raise InputError(f"--cut {lead_s:g}: give seconds of lead-in over {DONT_CARE_S:g} (an episode in a clip's "
                         f"first second is don't care) and at most {MAX_LEAD_S:g}")


def cuts_of(truth: ClipTruth, lead_s: float) -> list[Cut]:
    """The cuts of one clip: one per episode with `lead_s` of footage before its onset."""
    check_lead(lead_s)
    fps = truth.fps if truth.fps > 0 else 30.0
    lead, after = round(lead_s * fps), round(AFTER_S * fps)
    out = []
    for ep in truth.episodes:
        a = ep.onset - lead
        if a < 0:
            continue
        b = min(truth.frames - 1, ep.offset + after)
        video = f"{Path(truth.video).stem}@{ep.onset}.mp4"
        others = [_shift(x, video, a, b) for x in truth.episodes if x is not ep and x.onset <= b and x.offset >= a]
        ranges = [Range(video, r.kind, max(r.start, a) - a, min(r.end, b) - a, r.note)
                  for r in truth.ranges if r.start <= b and r.end >= a]
        out.append(Cut(ClipTruth(f"{truth.name}@{ep.onset}", video, truth.path, b - a + 1, fps, [_shift(ep, video, a, b)], ranges,
                                 others), a, b))
    return out


def _shift(x: Annotation, video: str, first: int, last: int) -> Annotation:
    """An episode in the cut's frames, clipped to it."""
    return replace(x, video=video, onset=max(x.onset, first) - first, apex=min(max(x.apex, first), last) - first,
                   offset=min(x.offset, last) - first)


def cut_clip(cut: Cut, out_dir: Path) -> Path:
    """The cut's frames of its source clip as a file in `out_dir` (libx264 CRF 14, frame for frame)."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise InputError("--cut needs the ffmpeg binary (make setup installs it)")
    out = out_dir / cut.truth.video
    cmd = [ffmpeg, "-v", "error", "-y", "-i", str(cut.truth.path),
           "-vf", f"select='between(n,{cut.first},{cut.last})',setpts=PTS-STARTPTS",
           "-fps_mode", "passthrough", "-c:v", "libx264", "-crf", "14", "-preset", "fast", "-threads", "1",
           "-pix_fmt", "yuv420p", "-an", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        err = done.stderr.strip().splitlines()
        raise InputError(f"{cut.truth.path}: ffmpeg could not cut frames {cut.first}-{cut.last}: "
                         f"{err[-1] if err else done.returncode}")
    return out
