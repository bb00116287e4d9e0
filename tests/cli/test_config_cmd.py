"""`microexpr config`: the effective configuration with secrets masked, and the documented reference."""

from __future__ import annotations

import dataclasses
import json
import tomllib

from dashboard.auth import hash_password
from edge.cli.main import main
from edge.config import Config, load_config


def test_reference_documents_every_field_and_loads_back_as_the_defaults(tmp_path, capsys, monkeypatch):
    for var in ("MICROEXPR_CONFIG", "CREDENTIALS_DIRECTORY", "MICROEXPR_DASHBOARD_PASSWORD", "MICROEXPR_DATA_DIR"):
        monkeypatch.delenv(var, raising=False)
    assert main(["config", "--doc"]) == 0
    text = capsys.readouterr().out
    parsed = tomllib.loads(text)
    for section in dataclasses.fields(Config):
        names = [f.name for f in dataclasses.fields(section.default_factory)]
        assert list(parsed[section.name]) == names, section.name
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if "=" in line and not line.startswith("#"):
            assert lines[i - 1].startswith("# ") and len(lines[i - 1]) > 6, f"{line!r} has no documentation"
    path = tmp_path / "reference.toml"
    path.write_text(text, encoding="utf-8")
    assert load_config(path, environ={}) == load_config(None, environ={})


def test_effective_config_masks_every_secret(tmp_path, capsys):
    stored = hash_password("other-secret")
    secret = tmp_path / "mqtt_password"
    secret.write_text("s3cret-file\n", encoding="utf-8")
    cfg = tmp_path / "unit.toml"
    cfg.write_text(f'[mqtt]\nurl = "mqtts://alice:p%40ss@broker.example:8883"\npassword_file = "{secret}"\n'
                   f'[dashboard]\npassword = "hunter2"\npassword_hash = "{stored}"\n', encoding="utf-8")
    assert main(["--config", str(cfg), "config"]) == 0
    out = capsys.readouterr().out
    shown = json.loads(out)
    for word in ("s3cret-file", "hunter2", "p%40ss", "p@ss", stored.split("$")[-1]):
        assert word not in out
    assert shown["mqtt"]["url"] == "mqtts://alice:***@broker.example:8883"
    assert shown["mqtt"]["password"] == shown["dashboard"]["password"] == shown["dashboard"]["password_hash"] == "***"
    assert shown["mqtt"]["password_file"] == str(secret)
