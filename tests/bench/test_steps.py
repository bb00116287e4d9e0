"""The per-step CPU times behind the Pi 5 budget: every step measured, the stages their sums."""

from __future__ import annotations

from edge.bench.steps import measure


def test_every_step_of_a_frame_is_timed_and_the_stages_are_their_sums(head_motion_clip):
    steps = measure(head_motion_clip, count=90)
    ms = steps.per_frame_ms()
    assert steps.frames == 90
    for step in ("landmark_invoke", "track_rest", "emotion", "flow", "spotter_update"):
        assert ms[step] > 0, step
    assert ms["track_stage"] == round(ms["landmark_invoke"] + ms["track_rest"], 3)
    assert abs(ms["spot_stage"] - (ms["emotion"] + ms["flow"] + ms["pose"] + ms["spotter_update"])) < 0.002
    assert ms["landmark_invoke"] > ms["emotion"]  # every frame against every 4th
