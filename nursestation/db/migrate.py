"""Schema migrations (Alembic, shipped inside the package) run at start-up.

Alembic is imported only when the database is not already at HEAD_REVISION, so a normal start
of an up-to-date station does not pay for it (a test keeps HEAD_REVISION equal to the scripts).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError, ProgrammingError

if TYPE_CHECKING:
    from alembic.config import Config

HEAD_REVISION = "0003_chart"


def alembic_config(url: str) -> Config:
    """An Alembic Config built in code: no ini file is needed at run time."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", "nursestation.db:migrations")
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None when it was never migrated)."""
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except (OperationalError, ProgrammingError):  # no alembic_version table yet
        return None


# PostgreSQL's SQLSTATE for "permission denied" (insufficient_privilege).
_NOT_PERMITTED = "42501"


def upgrade_to_head(engine: Engine) -> None:
    """Bring the database to the newest schema, in one transaction on the app's own engine.
    A station connected as the application role (`nursestation db init`) may not change the
    schema: then one sentence says to run `db init` as the owner, instead of a traceback."""
    revision = current_revision(engine)
    if revision == HEAD_REVISION:
        return
    from alembic import command

    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    except ProgrammingError as exc:
        if getattr(exc.orig, "sqlstate", None) != _NOT_PERMITTED:
            raise
        from nursestation.config import DatabaseUnavailable

        have = f"is at schema revision {revision}" if revision else "has no NurseStation schema"
        raise DatabaseUnavailable(
            f"The database {have}, this version needs {HEAD_REVISION}, and user "
            f"'{engine.url.username}' may not change the schema: run `nursestation db init "
            "--db OWNER-URL` as the database's owner first (README, clinic IT: PostgreSQL)."
        ) from None


def head_revision() -> str | None:
    """The newest revision among the shipped migration scripts."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
