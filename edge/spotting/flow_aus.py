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

# Rows: measured estimate; columns: acting AU (features.AU_NAMES order); 1e-3 IOD.
FLOW_RESPONSE = 1e-3 * np.array([
    [19.2, 6.3, -15.0, 5.8, -1.1, -1.5, -12.2, -4.7, -3.3, -1.4,
     -0.2, -0.4, 3.5, 0.2, -0.1, 1.3, 0.8, -0.7, 0.6, -6.5],  # AU1
    [4.1, 21.9, -5.4, 5.5, 0.1, -2.0, -9.5, -4.7, -3.3, -1.4,
     -0.2, -0.4, 3.5, 0.2, -0.1, 1.3, 0.8, -0.7, 0.6, -6.2],  # AU2
    [0.7, -2.5, 4.7, -1.7, -0.3, 0.1, -1.5, 0.0, 0.0, 0.0,
     0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 6.0],  # AU4
    [4.5, 4.1, -8.4, 10.7, 3.0, 0.7, -10.1, -4.7, -3.3, -1.4,
     -0.2, -0.4, 3.5, 0.2, -0.1, 1.3, 0.8, -0.7, 0.6, -18.1],  # AU5
    [-0.5, 0.1, 0.2, 0.4, 8.6, 1.2, -6.9, -3.8, -1.1, 0.3,
     -0.3, -0.2, 0.5, 0.2, -0.1, 1.3, 0.7, -0.7, 0.6, -1.5],  # AU6
    [1.4, 1.2, -3.3, 6.5, 7.4, 4.5, -9.5, -4.7, -3.3, -1.4,
     -0.2, -0.4, 3.5, 0.2, -0.1, 1.3, 0.8, -0.7, 0.6, -15.7],  # AU7
    [-0.5, -0.0, 0.5, -0.6, 0.5, -0.8, 2.6, 6.2, 4.8, 4.4,
     0.2, 1.7, -12.3, -0.1, -0.0, -3.3, 0.7, -0.4, -1.0, 1.7],  # AU9
    [-0.5, -0.0, 0.5, -0.6, -1.9, -1.4, -3.2, 11.1, 6.1, 4.8,
     1.6, 2.2, -16.6, -2.8, 1.4, -6.1, 0.2, -3.0, -14.4, 1.7],  # AU10
    [-0.5, -0.0, 0.5, -0.6, -1.5, -1.4, -4.8, 8.6, 21.4, -1.4,
     4.8, -0.4, -31.3, -1.3, 0.2, -8.4, 1.2, -1.9, -9.8, 1.7],  # R12
    [-0.5, -0.0, 0.5, -0.6, -1.5, -1.4, -5.0, 9.7, -3.2, 16.8,
     -0.2, 6.5, -26.2, -0.8, 0.2, -13.5, 2.4, -1.5, -8.4, 1.7],  # L12
    [-0.1, -0.0, -0.1, 0.1, -0.4, -0.0, 1.1, 1.0, -17.7, -0.6,
     18.8, 1.1, -5.5, -0.4, 0.1, -27.1, 9.6, -0.2, -0.7, -0.2],  # R14
    [0.1, 0.0, 0.1, -0.1, -0.2, 0.0, -2.2, 2.3, -2.6, -14.6,
     2.4, 19.4, -4.2, -0.1, -0.1, -25.7, 11.1, 0.5, -0.3, 0.2],  # L14
    [0.5, 0.0, -0.5, 0.6, 1.5, 1.4, 4.9, -9.2, -9.1, -7.7,
     -2.3, -3.1, 28.8, 1.0, -0.2, 11.0, -1.8, 1.7, 9.1, -1.7],  # AU15
    [-0.0, -0.0, 0.0, -0.0, -0.0, -0.0, -0.2, -2.3, -2.1, -1.8,
     -1.0, -0.6, 4.5, 5.3, 9.1, 1.4, -1.0, 6.6, 19.1, 0.0],  # AU16
    [-0.5, -0.0, 0.5, -0.6, -2.1, -1.4, -8.9, -3.2, -1.6, -0.0,
     0.3, -0.0, 0.4, -4.8, 23.1, 0.5, 1.8, -7.1, -37.2, 1.7],  # AU17
    [-0.0, 0.0, -0.0, -0.0, 0.7, -0.0, 1.0, -3.3, 20.3, 15.2,
     -21.2, -20.5, 9.7, 0.6, 0.0, 52.7, -20.7, -0.3, 1.0, -0.0],  # AU20
    [0.0, 0.0, 0.0, -0.0, -0.4, 0.0, -3.0, -3.2, -11.7, -9.2,
     10.1, 9.6, -0.6, -0.8, 10.9, -24.7, 12.0, -1.0, -12.2, 0.0],  # AU23
    [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.1, 3.3, 0.1, 0.5,
     -0.2, 0.3, 0.4, 3.9, -4.4, -1.0, -1.2, 6.1, 15.9, 0.0],  # AU25
    [0.5, 0.0, -0.5, 0.6, 2.1, 1.4, 8.6, 2.3, 1.6, -0.3,
     -0.4, -0.1, 1.1, 4.3, -20.1, -0.0, -1.3, 6.4, 33.2, -1.7],  # AU26
    [-3.1, -2.9, 5.1, -4.1, 4.5, 3.8, 0.6, 0.0, -0.0, -0.0,
     0.0, -0.0, 0.0, -0.0, 0.0, -0.0, 0.0, 0.0, 0.0, 2.4],  # AU45
])

RIDGE = 16.0  # Tikhonov weight, in units of the noise-whitened readings


def nnls(a: np.ndarray, b: np.ndarray, max_iter: int = 100) -> np.ndarray:
    """argmin ||a x - b|| subject to x >= 0 (Lawson-Hanson active set; small problems).

    Works on the normal equations (a'a, a'b), formed once: each step is then a
    solve of the free set's small square system, not a least-squares fit of the
    tall matrix (38 of those cost ~2 ms at the close of every event).
    """
    ata, atb = a.T @ a, a.T @ b
    n = a.shape[1]
    x = np.zeros(n)
    free = np.zeros(n, dtype=bool)
    for _ in range(max_iter):
        w = atb - ata @ x
        if free.all() or np.max(np.where(free, -np.inf, w)) <= 1e-12:
            break
        free[int(np.argmax(np.where(free, -np.inf, w)))] = True
        while True:
            z = np.zeros(n)
            z[free] = _solve(ata[np.ix_(free, free)], atb[free])
            if np.all(z[free] > 0):
                x = z
                break
            neg = free & (z <= 0)
            alpha = np.min(x[neg] / (x[neg] - z[neg]))
            x = x + alpha * (z - x)
            free &= x > 1e-12
            x[~free] = 0.0
    return x


def _solve(m: np.ndarray, v: np.ndarray) -> np.ndarray:
    """m y = v for a symmetric positive (semi)definite m; the least-norm answer when singular."""
    try:
        return np.linalg.solve(m, v)
    except np.linalg.LinAlgError:
        return np.linalg.lstsq(m, v, rcond=None)[0]


def flow_intensities(estimates: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Baseline-relative flow AU estimates (and their noise) -> 0..1 intensity per AU."""
    w = 1.0 / np.maximum(np.asarray(sigma, dtype=np.float64), 1e-6)
    n = FLOW_RESPONSE.shape[1]
    # Ridge rows: several actions explain a reading almost equally well (a smile
    # and a lip stretch both pull the corners outward); noise must not pick wild mixes.
    a = np.vstack([FLOW_RESPONSE * w[:, None], np.sqrt(RIDGE) * np.eye(n)])
    b = np.concatenate([np.asarray(estimates, dtype=np.float64) * w, np.zeros(n)])
    return np.clip(nnls(a, b), 0.0, 1.0)
