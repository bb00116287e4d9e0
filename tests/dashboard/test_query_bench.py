"""The benchmark command runs on a real store and prints its figure."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_bench_prints_the_filtered_query_time(kind, tmp_path, request):
    url = f"sqlite:///{tmp_path / 'bench.sqlite3'}" if kind == "sqlite" else request.getfixturevalue("postgres_url")
    p = subprocess.run([sys.executable, "-m", "dashboard.bench", "--database", url, "--events", "3000", "--repeat", "5"],
                       capture_output=True, text=True, timeout=300, cwd=tmp_path, check=False)
    assert p.returncode == 0, p.stderr
    m = re.search(rf"store {kind}\w*: 3000 events; .*, (\d+) matches\): median ([\d.]+) ms, p95 ([\d.]+) ms", p.stdout)
    assert m, p.stdout
    matches, median, p95 = int(m[1]), float(m[2]), float(m[3])
    assert matches > 0 and 0 < median <= p95
