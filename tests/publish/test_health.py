"""Health readings: percentiles, /sys parsing, and nulls where the machine cannot tell."""

from __future__ import annotations

from edge.publish.health import (
    LatencyWindow,
    cpu_temp_c,
    disk_free_mb,
    mem_rss_mb,
    throttled,
)


def test_latency_window_percentiles_over_recent_samples():
    w = LatencyWindow(size=100)
    w.add({"detect": 1000.0})  # pushed out by the next 100 samples
    for i in range(1, 101):
        w.add({"detect": float(i), "mesh": 2.0})
    s = w.summary()
    assert s["detect"] == {"p50": 50.5, "p99": 99.01}
    assert s["mesh"] == {"p50": 2.0, "p99": 2.0}
    assert LatencyWindow().summary() == {}


def test_sys_readings_parse_or_are_none(tmp_path):
    temp = tmp_path / "temp"
    temp.write_text("48312\n")
    assert cpu_temp_c(temp) == 48.3
    assert cpu_temp_c(tmp_path / "missing") is None
    thr = tmp_path / "get_throttled"
    thr.write_text("50005\n")  # under-voltage and throttled now and since boot
    assert throttled((tmp_path / "nope", thr)) == 0x50005
    assert throttled((tmp_path / "nope",)) is None
    assert mem_rss_mb() > 10
    assert disk_free_mb(tmp_path / "not" / "yet" / "made") > 0
