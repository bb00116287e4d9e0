"""The enclosure renders to a plausible STL; the BOM and wiring table agree with the code's GPIO pins."""

from __future__ import annotations

import csv
import dataclasses
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edge.config import GpioConfig

ROOT = Path(__file__).resolve().parents[2]
HW = ROOT / "hw"

# BCM GPIO -> physical pin on the Raspberry Pi 40-pin header (Pi 5 keeps the Pi 1 B+ layout).
BCM_TO_HEADER = {2: 3, 3: 5, 4: 7, 17: 11, 27: 13, 22: 15, 10: 19, 9: 21, 11: 23, 5: 29, 6: 31, 13: 33,
                 19: 35, 26: 37, 14: 8, 15: 10, 18: 12, 23: 16, 24: 18, 25: 22, 8: 24, 7: 26, 12: 32,
                 16: 36, 20: 38, 21: 40}
GROUND_PINS = {6, 9, 14, 20, 25, 30, 34, 39}


def read_stl(path: Path) -> np.ndarray:
    """Triangles (N, 3, 3) from an ASCII STL as OpenSCAD writes it."""
    text = path.read_text()
    assert text.startswith("solid"), "not an ASCII STL"
    v = np.array(re.findall(r"vertex\s+(\S+)\s+(\S+)\s+(\S+)", text), dtype=float)
    assert len(v) % 3 == 0
    return v.reshape(-1, 3, 3)


def render(tmp_path: Path, part: str) -> np.ndarray:
    out = tmp_path / f"{part}.stl"
    r = subprocess.run(["openscad", "-o", str(out), "-D", f'part="{part}"', str(HW / "enclosure.scad")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "WARNING" not in r.stderr and "ERROR" not in r.stderr, r.stderr[-2000:]
    assert out.stat().st_size > 10_000
    return read_stl(out)


@pytest.mark.slow
def test_enclosure_renders_to_a_plausible_stl(tmp_path):
    # The plain command from the docs renders both parts side by side.
    r = subprocess.run(["openscad", "-o", str(tmp_path / "x.stl"), str(HW / "enclosure.scad")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    both = read_stl(tmp_path / "x.stl")
    assert len(both) > 500
    base = render(tmp_path, "base")
    lo, hi = base.reshape(-1, 3).min(0), base.reshape(-1, 3).max(0)
    size = hi - lo
    # Around a Pi 5 (85 x 56 mm) with an Active Cooler and a camera on the front wall.
    assert 60 < size[0] < 110 and 90 < size[1] < 130 and 35 < size[2] < 70, size
    assert np.allclose(lo, 0, atol=0.05)
    # Closed solid: every edge shared by exactly two triangles.
    edges: dict[tuple, int] = {}
    for tri in np.round(base, 4):
        for a, b in ((0, 1), (1, 2), (2, 0)):
            key = tuple(sorted((tuple(tri[a]), tuple(tri[b]))))
            edges[key] = edges.get(key, 0) + 1
    assert set(edges.values()) == {2}
    # Volume (divergence theorem) well below the bounding box: it is hollow.
    vol = abs(np.einsum("ij,ij->i", base[:, 0], np.cross(base[:, 1], base[:, 2])).sum() / 6)
    assert 0.08 * np.prod(size) < vol < 0.5 * np.prod(size), (vol, np.prod(size))
    lid = render(tmp_path, "lid")
    lsize = lid.reshape(-1, 3).max(0) - lid.reshape(-1, 3).min(0)
    assert abs(lsize[0] - size[0]) < 0.1 and abs(lsize[1] - size[1]) < 0.1 and lsize[2] < 10
    assert both.reshape(-1, 3).max(0)[0] > size[0] + lsize[0]  # side by side, not overlapping


def rows(name: str) -> list[dict[str, str]]:
    with open(HW / name, newline="") as f:
        return list(csv.DictReader(f))


def test_wiring_table_matches_the_gpio_pins_in_the_code():
    defaults = {f.name: f.default for f in dataclasses.fields(GpioConfig) if f.name.endswith("_pin")}
    wiring = {r["signal"]: r for r in rows("wiring.csv")}
    assert set(defaults) <= set(wiring), "a pin the code drives is missing from the wiring table"
    for name, bcm in defaults.items():
        r = wiring[name]
        assert int(r["bcm_gpio"]) == bcm, f"{name}: wiring says GPIO{r['bcm_gpio']}, code uses GPIO{bcm}"
        assert int(r["header_pin"]) == BCM_TO_HEADER[bcm], f"{name}: GPIO{bcm} is header pin {BCM_TO_HEADER[bcm]}"
        assert int(r["ground_header_pin"]) in GROUND_PINS
        assert f"GPIO{bcm}" in r["from"]
    used = [int(r["bcm_gpio"]) for r in wiring.values() if r["bcm_gpio"]]
    assert len(used) == len(set(used)), "two signals on one pin"


def test_bom_parts_cover_every_wired_signal():
    bom = rows("bom.csv")
    by_signal: dict[str, list[dict[str, str]]] = {}
    for r in bom:
        if r["gpio_signal"]:
            by_signal.setdefault(r["gpio_signal"], []).append(r)
    wiring = {r["signal"]: r for r in rows("wiring.csv")}
    gpio_signals = {s for s, r in wiring.items() if r["bcm_gpio"]}
    assert set(by_signal) == gpio_signals
    refs = {r["ref"] for r in bom}
    for signal, parts in by_signal.items():
        for p in parts:
            assert p["ref"] in wiring[signal]["from"] + wiring[signal]["to"], (signal, p["ref"])
    # LEDs have their series resistors
    assert {"LED1", "R1"} <= {p["ref"] for p in by_signal["recording_led_pin"]}
    assert {"LED2", "R2"} <= {p["ref"] for p in by_signal["fault_led_pin"]}
    assert {"SW1"} <= {p["ref"] for p in by_signal["button_pin"]}
    for must in ("Raspberry Pi 5", "Camera Module 3", "Active Cooler", "PoE", "USB-C"):
        assert any(must in r["part"] for r in bom), must
    assert {"U1", "CAM1", "ENC1"} <= refs
    assert all(int(r["qty"]) >= 0 for r in bom)
