"""Real-texture micro expressions: a real clip's annotated expressions, made brief, spliced into its neutral frames.

For each inserted event an annotated episode (neutral -> onset -> apex ->
offset) of the clip is measured as dense expression flow from its own onset
frame (edge.synth.flowwarp), its intensity profile is resampled into 40-500 ms
at the clip's own frame rate, scaled by the event's intensity, and a live
neutral frame of the same person is resampled along it. The neutral frames are
the clip's longest clean stretch (a face, no annotated episode, no
talking/hidden/turned/no_face range), played forward and backward (ping-pong,
so there is never a cut) for as long as asked. Events are placed after a
lead-in and at least a gap apart by one seeded generator, so the same inputs give the same
video, CSV and manifest. The onset and offset frames of every event are the
untouched neutral frames; only the frames strictly between them differ.

`masked`: each micro expression is covered by a smile before the face is back
at rest, as Ekman describes a concealed feeling leaking out: one of the clip's
happiness episodes, made 0.8-2 s long (`mask_ms`), starts halfway down the
micro expression's fall, and both warps apply where they overlap (a flash of a
frame or two has nearly fallen back by the time the smile takes hold). The micro
expressions are then drawn from the other episodes only, and each smile is a
macro row of the ground truth.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import zlib
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from edge import __version__
from edge.errors import InputError
from edge.events.annotations import Annotation
from edge.synth import flowwarp
from edge.synth.blinks import blink_frames
from edge.synth.clipsource import (ClipTrack, Stretch, check_inside, neutral_stretches, read_episodes, read_frames,
                                   read_clip_ranges, track_clip)
from edge.synth.encode import open_writer
from edge.synth.episode import Episode, EpisodePlan, closes_eyes, measure_episode, mouth_opens, plan_event
from edge.synth.render import CODECS, merge_annotations

log = logging.getLogger(__name__)

ANNOTATIONS_NAME = "annotations.csv"
MASK_EMOTION = "happiness"  # the expression put over a concealed one (Ekman: most often a smile)


@dataclass(frozen=True)
class RealSpec:
    """Everything that determines one real-texture video."""

    out_dir: str
    clip: str  # the real clip (e.g. footage/clips/single_face.mp4)
    annotations: str  # its annotation CSV (the annotators' STEM.csv; a `note` column is allowed)
    ranges: str = ""  # STEM.ranges.csv; "" = next to the annotations as <clip stem>.ranges.csv, if it exists
    seed: int = 1
    micro: int = 6
    micro_ms: tuple[float, float] = (40.0, 500.0)
    intensity: tuple[float, float] = (0.5, 1.0)
    episodes: tuple[int, ...] = ()  # indices into the clip's rows (onset order); () = every row
    emotions: tuple[str, ...] = ()  # keep only episodes annotated with one of these; () = any (also none)
    duration_s: float = 20.0
    lead_in_s: float = 3.0  # neutral before the first event, as in the photo generator (a spotter's baseline)
    gap_s: float = 1.0  # neutral frames between one event's offset and the next onset, at least
    min_neutral_s: float = 1.0  # the neutral stretch must be at least this long
    masked: bool = False  # each micro expression covered by one of the clip's smiles before it is over
    mask_ms: tuple[float, float] = (800.0, 2000.0)  # ... the smile's length
    mask_intensity: tuple[float, float] = (0.6, 1.0)  # ... and its strength, of the real episode's
    name: str = ""
    codec: str = "mp4v"
    encoder: str = "auto"
    bitrate_kbps: int = 0
    # filled from the clip (the output keeps the clip's own rate and size)
    fps: float = 0.0
    width: int = 0
    height: int = 0

    @property
    def stem(self) -> str:
        return self.name or f"realtex-{Path(self.clip).stem}-s{self.seed}"


@dataclass(frozen=True)
class RealResult:
    video: Path
    annotations: Path
    manifest: Path
    frames: int
    rows: list[Annotation] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)


def ranges_path(spec: RealSpec) -> Path | None:
    if spec.ranges:
        return Path(spec.ranges)
    p = Path(spec.annotations).with_name(Path(spec.clip).stem + ".ranges.csv")
    return p if p.is_file() else None


def validate(spec: RealSpec) -> None:
    lo, hi = spec.micro_ms
    if not 40.0 <= lo <= hi <= 500.0:
        raise InputError(f"micro expressions last 40..500 ms, got {lo:g},{hi:g}")
    if not 0.0 < spec.intensity[0] <= spec.intensity[1] <= 1.5:
        raise InputError(f"intensity must be within 0 < LOW <= HIGH <= 1.5, got {spec.intensity[0]:g},{spec.intensity[1]:g}")
    if spec.micro < 1 or spec.duration_s <= 0 or spec.gap_s < 0 or spec.lead_in_s < 0:
        raise InputError("need at least one micro expression, a positive duration and non-negative gaps")
    if spec.masked and not 500.0 < spec.mask_ms[0] <= spec.mask_ms[1] <= 10_000.0:
        raise InputError(f"a masking smile lasts 500..10000 ms, got {spec.mask_ms[0]:g},{spec.mask_ms[1]:g}")
    if "/" in spec.stem or spec.stem.startswith("."):
        raise InputError(f"bad name {spec.stem!r}")
    if spec.codec not in CODECS:
        raise InputError(f"codec must be one of {', '.join(CODECS)}, got {spec.codec!r}")


def pingpong(stretch: Stretch, n: int) -> list[int]:
    """Source frame for each output frame: the stretch forward, then backward, and so on (no cut, ever)."""
    if stretch.length == 1:
        return [stretch.start] * n
    period = 2 * (stretch.length - 1)
    out = []
    for t in range(n):
        k = t % period
        out.append(stretch.start + (k if k < stretch.length else period - k))
    return out


def place(rng: np.random.Generator, lengths: list[int], n: int, lead: int, gap: int, tail: int) -> list[int]:
    """Seeded onsets for events of these lengths (frames onset..offset inclusive): in order, `gap` apart at least."""
    free = n - lead - tail - sum(lengths) - gap * (len(lengths) - 1)
    if free < 0:
        return []
    slack = rng.dirichlet(np.ones(len(lengths) + 1)) * free
    onsets, t = [], lead
    for i, length in enumerate(lengths):
        t += int(slack[i]) + (gap if i else 0)
        onsets.append(t)
        t += length
    return onsets


def pick_episodes(rng: np.random.Generator, chosen: list[int], k: int) -> list[int]:
    """k source episodes, cycling through all of `chosen` in one seeded order: every episode is used
    once before any is used twice, and with fewer events than episodes a seed draws from all of them
    (not only the first k in onset order)."""
    order = rng.permutation(len(chosen))
    return [chosen[int(order[i % len(chosen)])] for i in range(k)]


def durations(rng: np.random.Generator, k: int, lo_ms: float, hi_ms: float) -> list[float]:
    """k durations spread over the range (one per equal slice, shuffled), so short and long micros both occur."""
    edges = np.linspace(lo_ms, hi_ms, k + 1)
    out = [float(rng.uniform(edges[i], edges[i + 1])) for i in range(k)]
    rng.shuffle(out)
    return out


@dataclass
class Source:
    """A checked real clip: its episodes and ranges, its face track, the episodes to use and the neutral stretch."""

    clip: Path
    annotations: Path
    rows: list[Annotation]
    ranges_file: Path | None
    track: ClipTrack
    chosen: list[int]
    stretch: Stretch
    margin: int  # frames kept clear of every episode and range (by-eye boundaries)
    masks: list[int] = field(default_factory=list)  # the smiles that cover them (`masked`)


def load_source(spec: RealSpec) -> Source:
    """Read and check the clip and its annotations; InputError (one line) for anything that cannot be used."""
    clip, csv_path = Path(spec.clip), Path(spec.annotations)
    if not clip.is_file():
        raise InputError(f"{clip}: clip not found (fetch the real clips with `microexpr footage fetch`)")
    rows = read_episodes(csv_path, clip.name)
    if not rows:
        raise InputError(f"{csv_path}: no annotated episode for video {clip.name}")
    rp = ranges_path(spec)
    ranges = read_clip_ranges(rp, clip.name) if rp else []
    chosen = list(spec.episodes) or list(range(len(rows)))
    bad = [i for i in chosen if not 0 <= i < len(rows)]
    if bad:
        raise InputError(f"--episodes: {clip.name} has episodes 0..{len(rows) - 1} (onset order), got {bad[0]}")
    if spec.emotions:
        chosen = [i for i in chosen if rows[i].emotion in spec.emotions]
        if not chosen:
            raise InputError(f"{csv_path}: no chosen episode of {clip.name} is annotated {' or '.join(spec.emotions)}")
    masks: list[int] = []
    if spec.masked:
        masks = [i for i, r in enumerate(rows) if r.emotion == MASK_EMOTION]
        chosen = [i for i in chosen if rows[i].emotion != MASK_EMOTION]
        if not masks or not chosen:
            raise InputError(f"{csv_path}: --masked needs episodes of {clip.name} annotated {MASK_EMOTION} (the masks) and "
                             f"chosen episodes of another kind (the micro expressions); got {len(masks)} and {len(chosen)}")
    track = track_clip(clip)
    check_inside(csv_path, rows, [], track.n_frames)
    if rp:
        check_inside(rp, [], ranges, track.n_frames)
    for i in chosen + masks:
        a = rows[i]
        if any(track.landmarks[k] is None for k in range(a.onset, a.offset + 1)):
            raise InputError(f"{csv_path}: {clip.name} episode {i} ({a.onset}..{a.offset}) has frames without a face")
    margin = max(1, round(0.067 * track.fps))
    stretches = neutral_stretches(track, rows, ranges, margin)
    if not stretches or stretches[0].length < max(2, math.ceil(spec.min_neutral_s * track.fps)):
        got = f"{stretches[0].length / track.fps:.2f}s (frames {stretches[0].start}..{stretches[0].end})" if stretches else "none"
        raise InputError(f"{clip}: no neutral stretch of {spec.min_neutral_s:g}s (face, no episode, no talking/hidden/turned/"
                         f"no_face range, {margin} frames clear); longest {got}")
    return Source(clip, csv_path, rows, rp, track, chosen, stretches[0], margin, masks)


def plan_events(spec: RealSpec, src: Source, n: int, rng: np.random.Generator
                ) -> tuple[list[tuple[int, int, int, float]], list[tuple[int, int, float]]]:
    """(episode, onset, length, intensity) per event, from the seeded generator, in time order; with
    `masked`, (episode, length, intensity) of the smile covering each (else [])."""
    fps = src.track.fps
    picks = pick_episodes(rng, src.chosen, spec.micro)
    lengths = [max(2, round(d * fps / 1000.0)) + 1 for d in durations(rng, spec.micro, *spec.micro_ms)]
    lead, gap = round(spec.lead_in_s * fps), round(spec.gap_s * fps)
    tail = max(gap, src.margin)  # neutral after the last event too: its return is part of it
    masks: list[tuple[int, int, float]] = []
    spans = lengths
    if spec.masked:  # drawn only here, so the seeds of unmasked footage are unchanged
        mask_picks = pick_episodes(rng, src.masks, spec.micro)
        mask_lengths = [max(3, round(float(rng.uniform(*spec.mask_ms)) * fps / 1000.0)) + 1 for _ in picks]
        masks = [(e, m, float(rng.uniform(*spec.mask_intensity))) for e, m in zip(mask_picks, mask_lengths)]
        spans = [a + m for a, m in zip(lengths, mask_lengths)]  # the smile starts before the micro expression ends
    onsets = place(rng, spans, n, lead, gap, tail)
    if not onsets:
        need = (lead + tail + sum(spans) + gap * (spec.micro - 1)) / fps
        raise InputError(f"{spec.micro} micro expressions after a {spec.lead_in_s:g}s lead-in with {spec.gap_s:g}s gaps "
                         f"need at least {need:.1f}s, got {spec.duration_s:g}s (--duration)")
    intensities = [float(rng.uniform(*spec.intensity)) for _ in range(spec.micro)]
    return list(zip(picks, onsets, lengths, intensities)), masks


def mask_onset(micro: EpisodePlan) -> int:
    """Where the covering smile starts: halfway down the micro expression's fall (at its apex if the fall
    is one frame), so the flash is whole to its apex and the face is not back at rest when the smile comes."""
    return micro.apex + (micro.offset - micro.apex) // 2


def _render(spec: RealSpec, src: Source, source: list[int], frames: dict[int, np.ndarray], measured: dict[int, Episode],
            plans: list[EpisodePlan], path: Path) -> str:
    """Encode the output: each neutral frame as it is, or warped by the event running at it; returns the encoder."""
    writer = open_writer(path, spec)
    try:
        for t, k in enumerate(source):
            frame = frames[k][: spec.height, : spec.width]
            for plan in plans:  # a micro expression and the smile masking it overlap: one warp after the other
                if plan.onset < t < plan.offset:
                    ep = measured[plan.episode]
                    field, box = ep.flow.carry(plan.field(t, ep), src.track.landmarks[k], frame.shape[:2])
                    frame = flowwarp.apply(frame, field, box, 1.0)
            writer.write(frame)
    except BaseException:
        try:
            writer.close()
        finally:
            path.unlink(missing_ok=True)
        raise
    writer.close()
    return writer.describe


def generate_real(spec: RealSpec) -> RealResult:
    """Write OUT_DIR/<stem>.mp4, its rows in OUT_DIR/annotations.csv and OUT_DIR/<stem>.manifest.json."""
    validate(spec)
    src = load_source(spec)
    fps = src.track.fps
    spec = replace(spec, fps=fps, width=src.track.width // 2 * 2, height=src.track.height // 2 * 2)
    # The clip's name joins the seed, so one seed over several clips does not repeat one timing pattern.
    rng = np.random.default_rng([spec.seed, zlib.crc32(src.clip.name.encode())])
    n = round(spec.duration_s * fps)
    events, masks = plan_events(spec, src, n, rng)
    source = pingpong(src.stretch, n)
    rows = src.rows
    used = {e for e, *_ in events} | {e for e, *_ in masks}
    for i in sorted(used):
        if mouth_opens(rows[i]):
            log.warning("%s: episode %d (%d..%d, aus %s) opens the mouth; the warp of a closed neutral mouth stretches the "
                        "lips instead (no teeth, no cavity)", src.annotations, i, rows[i].onset, rows[i].offset, rows[i].aus)
    frames = read_frames(src.clip, set(source) | {k for i in used for k in range(rows[i].onset, rows[i].offset + 1)})
    blinks = blink_frames(src.track.landmarks, fps)
    measured = {i: measure_episode(rows[i], frames, src.track.landmarks, None if closes_eyes(rows[i]) else blinks)
                for i in sorted(used)}
    plans = [plan_event(measured[e], e, onset, length, a) for e, onset, length, a in events]
    covers = [plan_event(measured[e], e, mask_onset(p), length, a) for p, (e, length, a) in zip(plans, masks)]

    out = Path(spec.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    video = out / (spec.stem + CODECS[spec.codec])
    tmp = video.with_name(video.stem + ".partial" + video.suffix)
    encoder = _render(spec, src, source, frames, measured, plans + covers, tmp)
    tmp.replace(video)

    gt = [Annotation(video.name, p.onset, p.apex, p.offset, "micro", rows[p.episode].emotion, rows[p.episode].aus) for p in plans]
    gt += [Annotation(video.name, p.onset, p.apex, p.offset, "macro", rows[p.episode].emotion, rows[p.episode].aus)
           for p in covers]
    gt.sort(key=lambda a: a.onset)
    out_csv = out / ANNOTATIONS_NAME
    merge_annotations(out_csv, video.name, gt)
    described = [p.describe(measured[p.episode], rows[p.episode], fps) for p in plans]
    for i, p in enumerate(covers):
        described[i]["masked_by"] = len(described)
        described.append(p.describe(measured[p.episode], rows[p.episode], fps) | {"type": "macro", "masks": i})
    manifest = out / (spec.stem + ".manifest.json")
    body = {
        "generator": f"microexpr {__version__} edge.synth.realtex",
        "mode": "real-texture",
        "video": video.name,
        "annotations": ANNOTATIONS_NAME,
        "spec": asdict(replace(spec, out_dir="")),
        "source": {"clip": src.clip.name, "sha256": _sha256(src.clip), "frames": src.track.n_frames, "fps": fps,
                   "annotations": src.annotations.name, "ranges": src.ranges_file.name if src.ranges_file else None},
        "encoder": encoder,
        "fps": fps,
        "frames": n,
        "neutral": {"start": src.stretch.start, "end": src.stretch.end, "playback": "ping-pong", "margin_frames": src.margin},
        "source_frames": source,
        "expressions": described,
    }
    manifest.write_text(json.dumps(body, indent=1) + "\n", encoding="utf-8")
    log.info("wrote %s: %d frames, %d real-texture micro expressions (%d masked) from %s", video, n, len(plans),
             len(covers), src.clip.name)
    return RealResult(video, out_csv, manifest, n, gt, described)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
