from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from edge.errors import ModelError
from edge.vision.models import load_manifest, verify, verify_all


def test_all_models_verified():
    paths = verify_all(load_manifest())
    assert set(paths) == {"face_detection", "face_landmark", "emotion"}


@pytest.fixture
def models_copy(tmp_path):
    src = load_manifest().directory
    dst = tmp_path / "models"
    dst.mkdir()
    for f in src.glob("*.tflite"):
        shutil.copy(f, dst / f.name)
    shutil.copy(src / "manifest.toml", dst / "manifest.toml")
    return dst


def test_missing_model_names_file_and_fix(models_copy):
    (models_copy / "face_landmark.tflite").unlink()
    with pytest.raises(ModelError) as e:
        verify(load_manifest(models_copy), "face_landmark")
    msg = str(e.value)
    assert "face_landmark.tflite" in msg and "missing" in msg and "microexpr models fetch" in msg


def test_altered_model_is_refused(models_copy):
    p = models_copy / "emotion_model_quantized.tflite"
    data = bytearray(p.read_bytes())
    data[1000] ^= 0xFF
    p.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="sha256"):
        verify(load_manifest(models_copy), "emotion")


def test_models_command_exit_2_on_altered(models_copy):
    (models_copy / "face_detection_short_range.tflite").write_bytes(b"not a model")
    r = subprocess.run([sys.executable, "-m", "edge", "models", "--dir", str(models_copy)],
                       capture_output=True, text=True)
    assert r.returncode == 2
    assert "ALTERED  face_detection_short_range.tflite" in r.stdout
    err = [line for line in r.stderr.splitlines() if line.startswith("microexpr")]
    assert len(err) == 1 and "Traceback" not in r.stderr
