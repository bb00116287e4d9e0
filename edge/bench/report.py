"""The benchmark's numbers as one record: printed for people, JSON for scripts and docs."""

from __future__ import annotations

import os
import platform
import resource
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": 0.0, "p99": 0.0, "max": 0.0}
    a = np.asarray(values, dtype=np.float64)
    return {"p50": round(float(np.percentile(a, 50)), 3), "p99": round(float(np.percentile(a, 99)), 3),
            "max": round(float(a.max()), 3)}


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def os_threads() -> int:
    """Threads of this process right now, interpreter thread pools included."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 0


def cpu_ticks() -> tuple[int, int]:
    """(steal, total) CPU ticks of the whole machine since boot; (0, 0) where /proc/stat is missing.

    Steal is time the hypervisor gave this VM's CPUs to someone else: on a shared VM it
    tells a slow frame caused by the host from one caused by the code.
    """
    try:
        with open("/proc/stat", encoding="ascii") as f:
            ticks = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    return (ticks[7] if len(ticks) > 7 else 0), sum(ticks)


def steal_pct(before: tuple[int, int], after: tuple[int, int]) -> float:
    """Share of CPU time stolen by the hypervisor between two `cpu_ticks()` readings."""
    total = after[1] - before[1]
    return round(100.0 * (after[0] - before[0]) / total, 2) if total > 0 else 0.0


def machine() -> dict[str, Any]:
    """What the numbers were measured on; the load average says how shared it was."""
    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                key, _, value = line.partition(":")
                fields.setdefault(key.strip().lower(), value.strip())
    except OSError:
        pass
    # x86 names the CPU in "model name"; a Raspberry Pi names the board in "Model".
    model = fields.get("model name") or fields.get("model") or ""
    return {"cpu": model or platform.processor(), "cores": os.cpu_count() or 0, "arch": platform.machine(),
            "python": platform.python_version(), "loadavg": [round(x, 2) for x in os.getloadavg()]}


@dataclass
class BenchReport:
    footage: str
    size: tuple[int, int]
    footage_fps: float
    decoded_frames: int
    frames: int
    fps: float
    stages_ms: dict[str, dict[str, float]]
    latency_ms: dict[str, float]  # end to end: due time (--rate) or hand-over -> processed
    frame_ms: dict[str, float]  # per-frame processing in the as-fast-as-possible pass
    peak_rss_mb: float
    footage_mb: float
    runtime: str
    threads: dict[str, int]
    os_threads: int
    machine: dict[str, Any]
    faces: int = 0
    events: int = 0
    spotting: bool = True
    rate: float | None = None
    dropped: int | None = None
    replay_frames: int | None = None
    replay_frames_in: int | None = None
    replay_late: int | None = None  # processed frames whose latency exceeded one frame period
    replay_fps_in: float | None = None
    replay_stages_ms: dict[str, dict[str, float]] | None = None  # per stage during the replay (host stalls show here)
    replay_steal_pct: float | None = None  # CPU time the hypervisor took during the replay
    replay_wait: str | None = None  # how the loop waited for frames (config source.wait): "sleep" or "poll N ms"
    replay_host_stalls: dict[str, float] | None = None  # stalls the thread did not cause (edge.bench.stalls)
    latency_without_host_stalls_ms: dict[str, float] | None = None  # the replay with only those stalls removed
    replay_late_without_host_stalls: int | None = None
    mediapipe_fps: float | None = None
    mediapipe_faces: int | None = None
    ratio: float | None = None
    loop: str = "serial"  # vision.loop of the passes
    cores: int = 0  # usable cores (sched_getaffinity) during the throughput pass
    workers: int = 1  # threads the loop spread a frame's work over
    cpu_ms_per_frame: float | None = None  # the process's CPU time, every thread, per frame (MediaPipe's turns out)
    stages_cpu_ms: dict[str, float] | None = None  # pipelined: mean CPU ms per frame of each stage thread
    stages_busy_ms: dict[str, float] | None = None  # pipelined: mean wall ms per frame each stage thread was busy
    limiting_stage: str | None = None  # the stage that bounds throughput (the busiest; the whole frame when serial)
    scaling: dict[str, Any] | None = None  # throughput on one core and on all usable cores, alternating passes
    replay_cpu_ms_per_frame: float | None = None
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    def text(self) -> str:
        w, h = self.size
        lines = [
            (f"footage   {self.footage}: {w}x{h} at {self.footage_fps:.0f} fps, {self.decoded_frames} frames decoded "
            f"({self.footage_mb:.0f} MB in memory), {self.frames} frames per pass"),
            (f"machine   {self.machine['cpu']}, {self.machine['cores']} cores {self.machine['arch']}, "
            f"load average {self.machine['loadavg']}"),
            f"runtime   {self.runtime}, interpreter threads {self.threads}, {self.os_threads} OS threads",
            (f"pipeline  {self.fps:.1f} fps (detect, landmarks, pose, emotion"
            f"{', spotting' if self.spotting else '; NO spotter'}); face on {self.faces}/{self.frames} frames, "
            f"{self.events} events"),
        ]
        for stage, s in self.stages_ms.items():
            runs = f"  ({s['runs']} runs)" if "runs" in s else ""
            lines.append(f"  {stage:10} p50 {s['p50']:7.3f} ms  p99 {s['p99']:7.3f} ms{runs}")
        lines.append(f"loop      {self.loop} on {self.cores} usable cores ({self.workers} workers); CPU "
                     f"{self.cpu_ms_per_frame or 0:.3f} ms per frame over all threads; limiting stage "
                     f"{self.limiting_stage}")
        if self.stages_cpu_ms:
            lines.append("  stage threads, per frame: " + ", ".join(
                f"{k} CPU {v:.3f} ms busy {(self.stages_busy_ms or {}).get(k, 0):.3f} ms"
                for k, v in self.stages_cpu_ms.items()))
        if self.scaling:
            sc = self.scaling
            lines.append(f"scaling   1 core {sc['one_core_fps']:.1f} fps, {sc['cores']} cores {sc['all_cores_fps']:.1f} fps:"
                         f" x{sc['speedup']:.2f} (medians of {sc['rounds']} alternating pairs; CPU ms per frame "
                         f"{sc['one_core_cpu_ms_per_frame']:.3f} / {sc['all_cores_cpu_ms_per_frame']:.3f})")
        lines.append(f"per frame p50 {self.frame_ms['p50']:.3f} ms  p99 {self.frame_ms['p99']:.3f} ms "
                     "(handed over -> processed, spotting included)")
        if self.mediapipe_fps is not None:
            lines.append(f"mediapipe FaceMesh alone {self.mediapipe_fps:.1f} fps (face on {self.mediapipe_faces} "
                         f"frames); ratio ours/mediapipe {self.ratio:.2f}")
        if self.rate is not None:
            lines.append(f"replay    {self.replay_frames} of {self.replay_frames_in} frames at {self.rate:g} fps "
                         f"({self.replay_fps_in:.1f} fps in): {self.dropped} dropped, {self.replay_late} later than "
                         f"one frame period ({1000 / self.rate:.1f} ms), latency p50 "
                         f"{self.latency_ms['p50']:.3f} ms p99 {self.latency_ms['p99']:.3f} ms "
                         f"max {self.latency_ms['max']:.3f} ms (due time -> processed)")
            lm = (self.replay_stages_ms or {}).get("landmarks")
            if lm:
                lines.append(f"          during the replay: landmarks p50 {lm['p50']:.3f} ms p99 {lm['p99']:.3f} ms, "
                             f"CPU stolen by the hypervisor {self.replay_steal_pct:.2f}%, waiting for frames (source.wait): "
                             f"{self.replay_wait}")
            hs, free = self.replay_host_stalls, self.latency_without_host_stalls_ms
            if hs is not None and free is not None:
                lines.append(f"          host stalls (thread not switched out, its CPU clock stopped): "
                             f"{hs['stalled_ms']:.1f} ms over {hs['frames']:.0f} frames, longest "
                             f"{hs['longest_ms']:.1f} ms; without them latency p99 {free['p99']:.3f} ms, "
                             f"{self.replay_late_without_host_stalls} later than one frame period")
        else:
            lines.append(f"latency   p50 {self.latency_ms['p50']:.3f} ms  p99 {self.latency_ms['p99']:.3f} ms "
                         "(no --rate: from hand-over, frames are always due)")
        lines.append(f"memory    peak RSS {self.peak_rss_mb:.0f} MB (includes the decoded footage)")
        lines.extend(f"note      {n}" for n in self.notes)
        return "\n".join(lines)
