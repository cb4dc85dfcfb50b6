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

HEAD_REVISION = "0003_identity"


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


def upgrade_to_head(engine: Engine) -> None:
    """Bring the database to the newest schema, in one transaction on the app's own engine."""
    if current_revision(engine) == HEAD_REVISION:
        return
    from alembic import command

    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def head_revision() -> str | None:
    """The newest revision among the shipped migration scripts."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
