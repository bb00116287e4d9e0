from __future__ import annotations

import os

import pytest

from edge.errors import ModelError
from edge.vision.models import load_manifest, models_version, verify
from edge.vision.runtime import find_runtime, load_interpreter


def test_runtime_reported_and_forced_by_env():
    rt = find_runtime()
    forced = os.environ.get("MICROEXPR_TFLITE_RUNTIME")
    assert rt.name == (forced or "litert")
    assert rt.version and rt.version != "unknown"


def test_unknown_runtime_name_is_one_clear_error():
    with pytest.raises(ModelError, match="MICROEXPR_TFLITE_RUNTIME"):
        find_runtime("tensorflow")


def test_interpreter_threads_and_shapes():
    m = load_manifest()
    it = load_interpreter(verify(m, "face_landmark"), threads=2)
    assert list(it.get_input_details()[0]["shape"]) == [1, 192, 192, 3]


def test_models_version_fingerprint():
    v = models_version(load_manifest())
    assert v.count(":") == 3 and "face_landmark:1055cb9d" in v
