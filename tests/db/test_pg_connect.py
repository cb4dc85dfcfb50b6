"""PostgreSQL as a first-class engine (issue 15): psycopg installed with the app, the TLS rule
(encrypted unless the server is on this machine) and one clear sentence, never a traceback, when
the URL is wrong or the server cannot be reached."""

from __future__ import annotations

import socket
import tomllib
from pathlib import Path

import pytest

from nursestation.cli import main
from nursestation.config import DatabaseUnavailable
from nursestation.db.engine import is_loopback, make_engine, postgresql_url

ROOT = Path(__file__).resolve().parents[2]


def test_psycopg_is_a_dependency_of_the_app_not_an_extra() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert any(d.replace(" ", "").startswith("psycopg[binary]") for d in project["dependencies"])
    import psycopg  # installed by the README's install command

    assert psycopg.__version__.split(".")[0] == "3"


@pytest.mark.parametrize(
    "host", ["", "/var/run/postgresql", "localhost", "LOCALHOST", "127.0.0.1", "127.8.9.10", "::1"]
)
def test_loopback_hosts(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize(
    "host",
    ["db.clinic.lan", "10.0.0.5", "192.168.1.20", "128.0.0.1", "localhost.example.com", "::2"],
)
def test_other_hosts_are_remote(host: str) -> None:
    assert not is_loopback(host)


@pytest.mark.parametrize("query", ["", "?sslmode=prefer", "?sslmode=allow", "?sslmode=disable"])
def test_a_remote_server_without_required_tls_is_refused_naming_the_fix(query: str) -> None:
    with pytest.raises(DatabaseUnavailable) as exc:
        postgresql_url(f"postgresql+psycopg://app:secret@db.clinic.lan:5432/clinic{query}")
    message = str(exc.value)
    assert exc.value.bad_url
    assert "'db.clinic.lan' is not on this machine" in message
    assert "sslmode=verify-full" in message
    assert "secret" not in message


@pytest.mark.parametrize("mode", ["require", "verify-ca", "verify-full"])
def test_a_remote_server_with_tls_required_is_accepted(mode: str) -> None:
    url = postgresql_url(f"postgresql+psycopg://app:secret@10.0.0.5/clinic?sslmode={mode}")
    assert url.query["sslmode"] == mode


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://app@127.0.0.1/clinic",
        "postgresql+psycopg://app@localhost:5433/clinic",
        "postgresql+psycopg://app@[::1]/clinic",
        "postgresql+psycopg://app@/clinic?host=/var/run/postgresql",
    ],
)
def test_a_loopback_server_needs_no_tls(url: str) -> None:
    assert postgresql_url(url).drivername == "postgresql+psycopg"  # postgresql:// is psycopg 3


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("mysql://a@b/c", "names 'mysql'"),
        ("postgresql+psycopg2://a@127.0.0.1/c", "names 'postgresql+psycopg2'"),
        ("not a url", "is not a URL"),
    ],
)
def test_a_url_naming_another_engine_is_refused(url: str, words: str) -> None:
    with pytest.raises(DatabaseUnavailable) as exc:
        postgresql_url(url)
    assert words in str(exc.value) and exc.value.bad_url


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    rc = main(argv)
    return rc, capsys.readouterr().err


def test_an_unreachable_server_is_one_sentence_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"postgresql+psycopg://app:secret@127.0.0.1:{_free_port()}/clinic"
    rc, err = _cli(["--data-dir", str(tmp_path / "d"), "--db", url, "db", "upgrade"], capsys)
    assert rc == 1
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "refuses connections: is PostgreSQL running there" in err
    assert "secret" not in err


def test_a_remote_server_without_tls_is_refused_before_connecting_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 192.0.2.0/24 is TEST-NET-1: nothing answers there, so only the rule can be what refuses.
    url = "postgresql+psycopg://app:secret@192.0.2.10:5432/clinic"
    rc, err = _cli(["--data-dir", str(tmp_path / "d"), "--db", url, "db", "upgrade"], capsys)
    assert rc == 2, err
    assert err.startswith("nursestation: The database server '192.0.2.10' is not on this machine")


def test_wrong_password_and_missing_database_are_named(pg_server, pg_database: str) -> None:
    from sqlalchemy import make_url

    good = make_url(pg_server.url(pg_database))
    with pytest.raises(DatabaseUnavailable, match="refused user 'postgres': wrong user name"):
        make_engine(good.set(password="wrong-password").render_as_string(hide_password=False))
    with pytest.raises(DatabaseUnavailable, match="has no database 'no_such_db_here'"):
        make_engine(good.set(database="no_such_db_here").render_as_string(hide_password=False))


def test_a_server_that_does_not_offer_tls_is_named(pg_server, pg_url: str) -> None:
    # The test server runs without TLS (scripts/pg-dev.sh): asking for it must say so clearly.
    assert pg_server.execute("SHOW ssl") == [("off",)], "the test server must run without TLS"
    with pytest.raises(DatabaseUnavailable) as exc:
        make_engine(pg_url + "?sslmode=require")
    assert "does not offer TLS" in str(exc.value) and "sslmode=require" in str(exc.value)
    assert not exc.value.bad_url
