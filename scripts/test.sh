#!/usr/bin/env bash
# The whole suite: lint, migrations in sync, then pytest against the real PostGIS.
set -euo pipefail
cd "$(dirname "$0")/.."
export DJANGO_DEVELOPMENT=1
echo "[test] ruff"
.venv/bin/ruff check .
echo "[test] makemigrations --check"
.venv/bin/python manage.py makemigrations --check --dry-run
echo "[test] pytest"
.venv/bin/python -m pytest "$@"
