#!/usr/bin/env bash
# One command for a fresh Debian/Ubuntu machine: system packages (PostgreSQL included), a virtual
# environment with the test and lint tools, lint, the import contracts, the type check, then the
# test suite twice with Qt offscreen:
#   1. everything on SQLite (the station default);
#   2. the database, use-case and scenario tests again on PostgreSQL (NURSESTATION_TEST_DB=postgresql,
#      tests/pg_support.py), on a throw-away cluster started here on loopback (scripts/pg-dev.sh)
#      and removed at exit; or on the server NURSESTATION_TEST_PG_URL names, when set.
# Arguments go to both pytest runs (e.g. a test file); NURSESTATION_TEST_PG=0 skips the second.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-deps.sh --with-postgresql
if [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[test,dev]"
.venv/bin/ruff check nursestation tests bench scripts
.venv/bin/lint-imports
.venv/bin/mypy  # [tool.mypy] in pyproject.toml: the package, check_untyped_defs
export QT_QPA_PLATFORM=offscreen

if [ -z "${NURSESTATION_TEST_PG_URL:-}" ]; then
  NURSESTATION_PG_DIR=$(mktemp -d /tmp/nursestation-test-pg.XXXXXX)
  export NURSESTATION_PG_DIR
  trap 'bash scripts/pg-dev.sh stop' EXIT
  start=$(date +%s)
  # At nice 10, like the suite itself while the shift soak runs beside it (tests/conftest.py):
  # the server's work for the PostgreSQL-only tests of pass 1 never takes the soak's CPU.
  NURSESTATION_TEST_PG_URL=$(nice -n 10 bash scripts/pg-dev.sh start)
  export NURSESTATION_TEST_PG_URL
  echo "PostgreSQL test cluster on $(echo "$NURSESTATION_TEST_PG_URL" | sed 's|//[^@]*@|//|') ($(( $(date +%s) - start )) s to start)"
fi

# Pass 1: the whole suite on SQLite (the PostgreSQL-only tests use the cluster above).
sqlite_rc=0
.venv/bin/python -m pytest -q "$@" || sqlite_rc=$?

# Pass 2: the tests that touch the database, on PostgreSQL; run even when pass 1 failed, so one
# CI run reports both engines. The exit code is non-zero when either pass failed.
pg_rc=0
if [ "${NURSESTATION_TEST_PG:-1}" != "0" ]; then
  if [ $# -eq 0 ]; then
    set -- tests/db tests/app tests/test_examples.py tests/test_golden.py tests/test_worlds.py \
      tests/test_scenario_devices.py
  fi
  echo "PostgreSQL pass: NURSESTATION_TEST_DB=postgresql pytest $*"
  NURSESTATION_EARLY_START=0 NURSESTATION_TEST_DB=postgresql .venv/bin/python -m pytest -q "$@" \
    || pg_rc=$?
fi
if [ "$sqlite_rc" -ne 0 ] || [ "$pg_rc" -ne 0 ]; then
  echo "test.sh: SQLite pass exit $sqlite_rc, PostgreSQL pass exit $pg_rc" >&2
  exit 1
fi
