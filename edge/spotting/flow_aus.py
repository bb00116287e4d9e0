"""AU intensities from the region-flow estimates: undo how one action shows in several.

A facial action moves more than its own region: a smile pulls the lip corners
outward as well as up (so the lip-stretch estimate rises), a jaw drop pulls the
lower lip and chin. Each column of FLOW_RESPONSE is what the twenty flow
estimates (features.AU_NAMES, IOD units) read for one action at full intensity;
the apex reading is explained as a non-negative mix of the columns, weighted
by each estimate's noise, which gives one intensity per action.

The columns were measured by rendering each action at intensity 0.5 with the
generator (edge/synth, `astronaut` photo, 220 px face, 640x480) and reading the
flow against the neutral render, divided by 0.5. They describe the
generator's action model through this flow; a real face moves differently, so
on real footage this needs re-measuring on annotated video (docs/spotting.md).
"""

from __future__ import annotations

import numpy as np

# Rows: measured estimate; columns: acting AU (both in features.AU_NAMES order).
FLOW_RESPONSE = np.array([
    [0.0192, 0.0063, -0.0150, 0.0058, -0.0011, -0.0015, -0.0122, -0.0047, -0.0033, -0.0014, -0.0002, -0.0004, 0.0035, 0.0002, -0.0001, 0.0013, 0.0008, -0.0007, 0.0006, -0.0065],  # AU1
    [0.0041, 0.0219, -0.0054, 0.0055, 0.0001, -0.0020, -0.0095, -0.0047, -0.0033, -0.0014, -0.0002, -0.0004, 0.0035, 0.0002, -0.0001, 0.0013, 0.0008, -0.0007, 0.0006, -0.0062],  # AU2
    [0.0007, -0.0025, 0.0047, -0.0017, -0.0003, 0.0001, -0.0015, 0.0000, 0.0000, 0.0000, 0.0000, 0.0000, 0.0000, 0.0000, 0.0000, 0.0000, 0.0000, 0.0000, 0.0000, 0.0060],  # AU4
    [0.0045, 0.0041, -0.0084, 0.0107, 0.0030, 0.0007, -0.0101, -0.0047, -0.0033, -0.0014, -0.0002, -0.0004, 0.0035, 0.0002, -0.0001, 0.0013, 0.0008, -0.0007, 0.0006, -0.0181],  # AU5
    [-0.0005, 0.0001, 0.0002, 0.0004, 0.0086, 0.0012, -0.0069, -0.0038, -0.0011, 0.0003, -0.0003, -0.0002, 0.0005, 0.0002, -0.0001, 0.0013, 0.0007, -0.0007, 0.0006, -0.0015],  # AU6
    [0.0014, 0.0012, -0.0033, 0.0065, 0.0074, 0.0045, -0.0095, -0.0047, -0.0033, -0.0014, -0.0002, -0.0004, 0.0035, 0.0002, -0.0001, 0.0013, 0.0008, -0.0007, 0.0006, -0.0157],  # AU7
    [-0.0005, -0.0000, 0.0005, -0.0006, 0.0005, -0.0008, 0.0026, 0.0062, 0.0048, 0.0044, 0.0002, 0.0017, -0.0123, -0.0001, -0.0000, -0.0033, 0.0007, -0.0004, -0.0010, 0.0017],  # AU9
    [-0.0005, -0.0000, 0.0005, -0.0006, -0.0019, -0.0014, -0.0032, 0.0111, 0.0061, 0.0048, 0.0016, 0.0022, -0.0166, -0.0028, 0.0014, -0.0061, 0.0002, -0.0030, -0.0144, 0.0017],  # AU10
    [-0.0005, -0.0000, 0.0005, -0.0006, -0.0015, -0.0014, -0.0048, 0.0086, 0.0214, -0.0014, 0.0048, -0.0004, -0.0313, -0.0013, 0.0002, -0.0084, 0.0012, -0.0019, -0.0098, 0.0017],  # R12
    [-0.0005, -0.0000, 0.0005, -0.0006, -0.0015, -0.0014, -0.0050, 0.0097, -0.0032, 0.0168, -0.0002, 0.0065, -0.0262, -0.0008, 0.0002, -0.0135, 0.0024, -0.0015, -0.0084, 0.0017],  # L12
    [-0.0001, -0.0000, -0.0001, 0.0001, -0.0004, -0.0000, 0.0011, 0.0010, -0.0177, -0.0006, 0.0188, 0.0011, -0.0055, -0.0004, 0.0001, -0.0271, 0.0096, -0.0002, -0.0007, -0.0002],  # R14
    [0.0001, 0.0000, 0.0001, -0.0001, -0.0002, 0.0000, -0.0022, 0.0023, -0.0026, -0.0146, 0.0024, 0.0194, -0.0042, -0.0001, -0.0001, -0.0257, 0.0111, 0.0005, -0.0003, 0.0002],  # L14
    [0.0005, 0.0000, -0.0005, 0.0006, 0.0015, 0.0014, 0.0049, -0.0092, -0.0091, -0.0077, -0.0023, -0.0031, 0.0288, 0.0010, -0.0002, 0.0110, -0.0018, 0.0017, 0.0091, -0.0017],  # AU15
    [-0.0000, -0.0000, 0.0000, -0.0000, -0.0000, -0.0000, -0.0002, -0.0023, -0.0021, -0.0018, -0.0010, -0.0006, 0.0045, 0.0053, 0.0091, 0.0014, -0.0010, 0.0066, 0.0191, 0.0000],  # AU16
    [-0.0005, -0.0000, 0.0005, -0.0006, -0.0021, -0.0014, -0.0089, -0.0032, -0.0016, -0.0000, 0.0003, -0.0000, 0.0004, -0.0048, 0.0231, 0.0005, 0.0018, -0.0071, -0.0372, 0.0017],  # AU17
    [-0.0000, 0.0000, -0.0000, -0.0000, 0.0007, -0.0000, 0.0010, -0.0033, 0.0203, 0.0152, -0.0212, -0.0205, 0.0097, 0.0006, 0.0000, 0.0527, -0.0207, -0.0003, 0.0010, -0.0000],  # AU20
    [0.0000, 0.0000, 0.0000, -0.0000, -0.0004, 0.0000, -0.0030, -0.0032, -0.0117, -0.0092, 0.0101, 0.0096, -0.0006, -0.0008, 0.0109, -0.0247, 0.0120, -0.0010, -0.0122, 0.0000],  # AU23
    [0.0000, 0.0000, 0.0000, 0.0000, 0.0000, 0.0000, 0.0021, 0.0033, 0.0001, 0.0005, -0.0002, 0.0003, 0.0004, 0.0039, -0.0044, -0.0010, -0.0012, 0.0061, 0.0159, 0.0000],  # AU25
    [0.0005, 0.0000, -0.0005, 0.0006, 0.0021, 0.0014, 0.0086, 0.0023, 0.0016, -0.0003, -0.0004, -0.0001, 0.0011, 0.0043, -0.0201, -0.0000, -0.0013, 0.0064, 0.0332, -0.0017],  # AU26
    [-0.0031, -0.0029, 0.0051, -0.0041, 0.0045, 0.0038, 0.0006, 0.0000, -0.0000, -0.0000, 0.0000, -0.0000, 0.0000, -0.0000, 0.0000, -0.0000, 0.0000, 0.0000, 0.0000, 0.0024],  # AU45
])

RIDGE = 16.0  # Tikhonov weight, in units of the noise-whitened readings


def nnls(a: np.ndarray, b: np.ndarray, max_iter: int = 100) -> np.ndarray:
    """argmin ||a x - b|| subject to x >= 0 (Lawson-Hanson active set; small problems)."""
    n = a.shape[1]
    x = np.zeros(n)
    free = np.zeros(n, dtype=bool)
    for _ in range(max_iter):
        w = a.T @ (b - a @ x)
        if free.all() or np.max(np.where(free, -np.inf, w)) <= 1e-12:
            break
        free[int(np.argmax(np.where(free, -np.inf, w)))] = True
        while True:
            z = np.zeros(n)
            z[free] = np.linalg.lstsq(a[:, free], b, rcond=None)[0]
            if np.all(z[free] > 0):
                x = z
                break
            neg = free & (z <= 0)
            alpha = np.min(x[neg] / (x[neg] - z[neg]))
            x = x + alpha * (z - x)
            free &= x > 1e-12
            x[~free] = 0.0
    return x


def flow_intensities(estimates: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Baseline-relative flow AU estimates (and their noise) -> 0..1 intensity per AU."""
    w = 1.0 / np.maximum(np.asarray(sigma, dtype=np.float64), 1e-6)
    n = FLOW_RESPONSE.shape[1]
    # Ridge rows: several actions explain a reading almost equally well (a smile
    # and a lip stretch both pull the corners outward); noise must not pick wild mixes.
    a = np.vstack([FLOW_RESPONSE * w[:, None], np.sqrt(RIDGE) * np.eye(n)])
    b = np.concatenate([np.asarray(estimates, dtype=np.float64) * w, np.zeros(n)])
    return np.clip(nnls(a, b), 0.0, 1.0)
