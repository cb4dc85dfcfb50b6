"""Where the station keeps its data, and which database it uses.

Data directory: `--data-dir`, else `NURSESTATION_DATA_DIR`, else the platform's per-user data
directory. Database: `--db`, else `NURSESTATION_DB_URL`, else SQLite in the data directory.
Station name (in every audit row): `NURSESTATION_STATION`, else "name" in the station's own file
`<data dir>/station.json`, else the host name. The clinic's settings are in the database
(app/clinic_settings.py); the station file holds only what belongs to this machine.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from platformdirs import PlatformDirs

APP_NAME = "NurseStation"
DB_FILENAME = "nursestation.sqlite3"
CLINIC_FILENAME = "clinic.json"
STATION_FILENAME = "station.json"
MAX_STATION_NAME = 128  # audit_events.station


class DatabaseUnavailable(Exception):
    """The database URL is wrong, refused by the TLS rule, or its server cannot be reached: one
    sentence for clinic IT (the command line and the app show it without a traceback). `bad_url`
    is True when the URL itself must change (exit code 2), False when the server did not answer
    as asked (exit code 1). Raised by nursestation.db.engine.make_engine."""

    def __init__(self, message: str, *, bad_url: bool = False) -> None:
        super().__init__(message)
        self.bad_url = bad_url


@dataclass(frozen=True)
class StationConfig:
    """Resolved paths and URL for one run of the app or a command."""

    data_dir: Path
    db_url: str
    station: str

    @property
    def clinic_file(self) -> Path:
        """The clinic's own overrides of the default settings (optional)."""
        return self.data_dir / CLINIC_FILENAME

    @property
    def pki_dir(self) -> Path:
        """Clinic CA and its key."""
        return self.data_dir / "pki"

    @property
    def sqlite_path(self) -> Path | None:
        """The SQLite file when the database is SQLite on disk, else None."""
        prefix = "sqlite:///"
        if self.db_url.startswith(prefix) and self.db_url != "sqlite://":
            return Path(self.db_url[len(prefix) :])
        return None


def default_data_dir() -> Path:
    """The per-user data directory from platformdirs."""
    return PlatformDirs(APP_NAME, appauthor=False).user_data_path


def resolve_config(data_dir: str | None = None, db_url: str | None = None) -> StationConfig:
    """Apply the documented precedence: option, environment variable, default."""
    ddir = Path(
        data_dir or os.environ.get("NURSESTATION_DATA_DIR") or default_data_dir()
    ).expanduser()
    url = db_url or os.environ.get("NURSESTATION_DB_URL") or f"sqlite:///{ddir / DB_FILENAME}"
    station = (
        os.environ.get("NURSESTATION_STATION")
        or station_file_name(ddir / STATION_FILENAME)
        or socket.gethostname()
    )
    return StationConfig(data_dir=ddir.resolve(), db_url=url, station=station)


def station_file_name(path: Path) -> str | None:
    """The "name" in a station file (None without one); a bad file raises ConfigError naming
    the file, the key and what is allowed."""
    from nursestation.clinic import ConfigError

    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(str(path), "(file)", f"cannot be read as JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(str(path), "(top level)", "must be a JSON object")
    unknown = sorted(set(data) - {"name"} - {k for k in data if k.startswith("_")})
    if unknown:
        raise ConfigError(
            str(path), unknown[0], "is not a station setting; allowed keys here: name"
        )
    name = data.get("name")
    if name is None:
        return None
    if not isinstance(name, str) or not 1 <= len(name.strip()) <= MAX_STATION_NAME:
        raise ConfigError(
            str(path), "name", f"must be a text of 1 to {MAX_STATION_NAME} characters", name
        )
    return name.strip()


def ensure_data_dir(path: Path) -> Path:
    """Create the data directory readable by the OS user only (0700): it holds the patient
    database and the clinic CA key. Parents are created with the usual mode. An empty existing
    directory (made by an installer or by hand before the first start, with the umask's mode)
    becomes the station's now and is made private too; one with content is left as the clinic
    set it (`nursestation check` reports its mode)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.mkdir(mode=0o700, exist_ok=True)
        os.chmod(path, 0o700)  # mkdir's mode is filtered by the umask; this is exact
    elif path.is_dir() and not any(path.iterdir()):
        os.chmod(path, 0o700)
    return path
