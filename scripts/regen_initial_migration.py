"""Regenerate migration 0001 from the models (allowed only before the first release).

Usage: .venv/bin/python scripts/regen_initial_migration.py
Once a release has shipped, add a new revision instead (alembic revision --autogenerate).
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

from alembic import command

from nursestation.db.migrate import alembic_config

VERSIONS = Path(__file__).resolve().parent.parent / "nursestation/db/migrations/versions"
TARGET = VERSIONS / "0001_initial_schema.py"


def main() -> None:
    old = TARGET.read_text()
    head = old[: old.index("def upgrade() -> None:")]
    TARGET.unlink()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/gen.sqlite3"
        command.revision(alembic_config(url), message="initial schema", autogenerate=True, rev_id="0001")
    fresh = next(VERSIONS.glob("0001_*.py"))
    body = fresh.read_text()
    fresh.unlink()
    body = body[body.index("def upgrade() -> None:") :]
    body = body.replace(
        "    # ### end Alembic commands ###\n\n\ndef downgrade() -> None:\n",
        "    # ### end Alembic commands ###\n    create_append_only_triggers(op.get_bind(), APPEND_ONLY)\n\n\n"
        "def downgrade() -> None:\n    drop_append_only_triggers(op.get_bind(), APPEND_ONLY)\n",
        1,
    )
    TARGET.write_text(head + body)
    assert re.search("create_append_only_triggers\\(op.get_bind", TARGET.read_text())
    ruff = Path(sys.executable).with_name("ruff")
    subprocess.run([str(ruff), "format", "-q", str(TARGET)], check=False)
    print(f"rewrote {TARGET}")


if __name__ == "__main__":
    main()
