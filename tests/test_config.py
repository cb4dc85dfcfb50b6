"""Configuration: data directory and URL precedence; bad clinic files stop start-up cleanly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nursestation.cli import main
from nursestation.clinic import ConfigError, load_clinic_settings, load_defaults
from nursestation.config import DB_FILENAME, resolve_config


def test_precedence_option_then_env_then_default(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("NURSESTATION_DATA_DIR", str(tmp_path / "env"))
    monkeypatch.delenv("NURSESTATION_DB_URL", raising=False)
    assert resolve_config(str(tmp_path / "opt"), None).data_dir == (tmp_path / "opt").resolve()
    cfg = resolve_config(None, None)
    assert cfg.data_dir == (tmp_path / "env").resolve()
    assert cfg.db_url == f"sqlite:///{(tmp_path / 'env').resolve() / DB_FILENAME}"
    monkeypatch.setenv("NURSESTATION_DB_URL", "postgresql+psycopg://u@h/db")
    assert resolve_config(None, None).db_url == "postgresql+psycopg://u@h/db"
    assert resolve_config(None, "sqlite:///x.db").db_url == "sqlite:///x.db"


def test_every_clinical_number_in_the_defaults_names_its_source() -> None:
    settings = load_defaults()
    unsourced = [
        s.path
        for s in settings
        if isinstance(s.value, int | float) and not isinstance(s.value, bool) and not s.source
    ]
    assert unsourced == []
    assert settings.get("general.min_observation_min") == 60


def test_override_changes_value_and_records_origin(tmp_path: Path) -> None:
    f = tmp_path / "clinic.json"
    f.write_text(json.dumps({"min_observation_min": 30, "general": {"chairs": ["A", "B"]}}))
    s = load_clinic_settings(f)
    assert s.get("general.min_observation_min") == 30
    assert s.get("general.chairs") == ["A", "B"]
    assert str(f) in (s.source("general.min_observation_min") or "")


@pytest.mark.parametrize(
    ("content", "key", "allowed"),
    [
        ('{"min_observation_min": 30,', "(line 1, column 28)", "is not valid JSON"),
        ('{"min_observaton_min": 30}', "general.min_observaton_min", "allowed keys here:"),
        ('{"min_observation_min": 9999}', "general.min_observation_min", "from 0 to 480 min"),
        ('{"min_observation_min": "soon"}', "general.min_observation_min", "must be an integer"),
        ('{"general": {"chairs": []}}', "general.chairs", "at least 1"),
    ],
)
def test_bad_clinic_file_names_file_key_and_allowed_values(
    tmp_path: Path, content: str, key: str, allowed: str
) -> None:
    f = tmp_path / "clinic.json"
    f.write_text(content)
    with pytest.raises(ConfigError) as err:
        load_clinic_settings(f)
    msg = str(err.value)
    assert str(f) in msg
    assert key in msg
    assert allowed in msg


def test_bad_config_stops_startup_and_writes_nothing(tmp_path: Path, capsys) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "clinic.json").write_text('{"min_observation_min": -5}')
    rc = main(["--data-dir", str(data), "db", "upgrade"])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.count("\n") == 1
    assert "clinic.json" in err
    assert "general.min_observation_min" in err
    assert "from 0 to 480" in err
    assert sorted(p.name for p in data.iterdir()) == ["clinic.json"]


def test_the_station_name_comes_from_the_station_file(tmp_path: Path, monkeypatch) -> None:
    """The per-station file holds what belongs to one machine: its name (in every audit row)."""
    monkeypatch.delenv("NURSESTATION_STATION")
    data = tmp_path / "station"
    data.mkdir()
    (data / "station.json").write_text('{"name": "charge-desk"}')
    assert resolve_config(str(data), None).station == "charge-desk"
    monkeypatch.setenv("NURSESTATION_STATION", "from-env")
    assert resolve_config(str(data), None).station == "from-env"
    monkeypatch.delenv("NURSESTATION_STATION")
    (data / "station.json").write_text(json.dumps({"name": "x" * 129}))
    with pytest.raises(ConfigError) as err:
        resolve_config(str(data), None)
    assert "station.json" in str(err.value) and "1 to 128 characters" in str(err.value)
    (data / "station.json").write_text(json.dumps({"name": "x" * 128}))
    assert resolve_config(str(data), None).station == "x" * 128
    (data / "station.json").write_text('{"min_observation_min": 30}')  # clinic settings: not here
    with pytest.raises(ConfigError) as err:
        resolve_config(str(data), None)
    assert "min_observation_min" in str(err.value) and "allowed keys here: name" in str(err.value)
