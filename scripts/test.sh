#!/usr/bin/env bash
# One command for a fresh Debian/Ubuntu machine: system packages, a virtual environment with the
# test and lint tools, lint, the import contracts, the type check, then the whole test suite with
# Qt offscreen.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-deps.sh
if [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[test,dev]"
.venv/bin/ruff check nursestation tests bench scripts
.venv/bin/lint-imports
.venv/bin/mypy  # [tool.mypy] in pyproject.toml: the package, check_untyped_defs
export QT_QPA_PLATFORM=offscreen
exec .venv/bin/python -m pytest -q "$@"
