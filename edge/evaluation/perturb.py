"""The same real clips, transcoded: does a score survive footage it was not tuned on?

The spotter's settings were chosen on the development clips, so their figures
flatter it. A benign change to the same footage -- a fresh high-quality
encode, or the faces twice as large in pixels (the issue's real set has faces
55 to 520 px wide; the development clips' are 40 to 110) -- leaves every
expression where the annotators put it, so the annotations still hold frame for
frame and any drop in the score is fragility, not harder footage. Mirrored, or
in a dimmer room, the expressions are also where they were. `microexpr footage
score --perturb NAME` scores these; docs/evaluation.md has the figures.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from edge.errors import InputError

# name -> ffmpeg video filter (None: none). Every variant is libx264 at CRF 14 (visually lossless), one
# encoder thread so the same clip gives the same bytes on every run.
PERTURBATIONS: dict[str, str | None] = {
    "reencode": None,
    "upscale2": "scale=iw*2:ih*2:flags=bicubic",
    "downscale": "scale=trunc(iw*3/8)*2:trunc(ih*3/8)*2:flags=area",
    # The same people mirrored (a webcam preview's habit): the landmark model is not mirror-symmetric,
    # so this is the nearest thing here to another face with the same expressions at the same times.
    "mirror": "hflip",
    # A darker, flatter room: mean level down about 30 grey levels, contrast to 70 %.
    "dim": "eq=brightness=-0.12:contrast=0.7",
}
CRF = 14


def transcode(clip: Path, name: str, out_dir: Path) -> Path:
    """`clip` re-encoded as perturbation `name` into `out_dir` (same file name, .mp4), every frame kept."""
    if name not in PERTURBATIONS:
        raise InputError(f"--perturb {name}: unknown; one of {', '.join(PERTURBATIONS)}")
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise InputError("--perturb needs the ffmpeg binary (make setup installs it)")
    out = out_dir / (clip.stem + ".mp4")
    vf = PERTURBATIONS[name]
    cmd = [ffmpeg, "-v", "error", "-y", "-i", str(clip), *(["-vf", vf] if vf else []),
           # Passthrough timing: a variable-rate .mov keeps one output frame per input frame.
           "-fps_mode", "passthrough", "-c:v", "libx264", "-crf", str(CRF), "-preset", "fast",
           "-threads", "1", "-pix_fmt", "yuv420p", "-an", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        err = done.stderr.strip().splitlines()
        raise InputError(f"{clip}: ffmpeg could not make the {name} variant: {err[-1] if err else done.returncode}")
    return out
