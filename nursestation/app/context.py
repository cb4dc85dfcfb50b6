"""The application context: configuration, clinic settings, clock, database and the actor type."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from nursestation.clinic import ClinicSettings, load_clinic_settings
from nursestation.clock import Clock, SystemClock
from nursestation.config import StationConfig
from nursestation.db.audit import append_audit
from nursestation.db.engine import make_engine, make_session_factory
from nursestation.db.migrate import upgrade_to_head
from nursestation.permissions import require


@dataclass(frozen=True)
class Actor:
    """The signed-in person on whose behalf a use case runs."""

    user_id: int
    username: str
    full_name: str
    roles: frozenset[str]


class AppContext:
    """Holds what every use case needs; one per process (GUI, CLI command or scenario)."""

    def __init__(
        self,
        config: StationConfig,
        settings: ClinicSettings,
        engine: Engine,
        clock: Clock | None = None,
    ) -> None:
        self.config = config
        self.settings = settings
        self.engine = engine
        self.clock: Clock = clock or SystemClock()
        self.factory: sessionmaker[Session] = make_session_factory(engine)

    @classmethod
    def open(
        cls,
        config: StationConfig,
        *,
        clock: Clock | None = None,
        settings: ClinicSettings | None = None,
        migrate: bool = True,
    ) -> AppContext:
        """Load settings (ConfigError before anything is written), create the data directory,
        connect, and run migrations."""
        settings = settings or load_clinic_settings(config.clinic_file)
        config.data_dir.mkdir(parents=True, exist_ok=True)
        engine = make_engine(config.db_url)
        if migrate:
            upgrade_to_head(engine)
        ctx = cls(config, settings, engine, clock)
        if migrate:
            from nursestation.app.pki import ensure_clinic_ca

            ensure_clinic_ca(ctx)
        return ctx

    def close(self) -> None:
        """Release database connections."""
        self.engine.dispose()

    def now(self) -> datetime:
        """Current time from the context's clock (simulated in scenarios and tests)."""
        return self.clock.now()

    @contextmanager
    def tx(self) -> Iterator[Session]:
        """One transaction: commit on success, roll back on error."""
        with self.factory.begin() as session:
            yield session

    def require(self, actor: Actor, use_case: str) -> None:
        """Refuse with not_permitted unless the actor's roles allow the use case."""
        require(actor.roles, use_case, who=actor.full_name or actor.username)

    def audit(
        self,
        session: Session,
        actor: Actor | None,
        action: str,
        entity_type: str | None = None,
        entity_id: object = None,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
        username: str | None = None,
    ) -> None:
        """Write one audit row inside the caller's transaction."""
        append_audit(
            session,
            at=self.now(),
            station=self.config.station,
            action=action,
            user_id=actor.user_id if actor else None,
            username=actor.username if actor else username,
            entity_type=entity_type,
            entity_id=entity_id,
            before=before,
            after=after,
        )
