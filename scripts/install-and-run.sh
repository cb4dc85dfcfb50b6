#!/usr/bin/env bash
# One command for a fresh Debian/Ubuntu machine: system packages, a virtual environment with the
# app, then start it on its embedded default (SQLite in the per-user data directory).
# Extra arguments go to the app, e.g. `bash scripts/install-and-run.sh demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-deps.sh
if [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e .
exec .venv/bin/nursestation "$@"
