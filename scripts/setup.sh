#!/usr/bin/env bash
# Sets up whatever is missing, and is safe to run again:
# system packages, PostgreSQL + PostGIS, the virtualenv, the database, migrations, demo data.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\033[1;34m[setup]\033[0m %s\n' "$*"; }
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
LOCAL_DB_URL=postgis://postgres@127.0.0.1:5432/fieldapproval
# The environment first, then the .env an earlier run wrote (settings.py reads it the same way).
DB_URL=${DATABASE_URL:-}
[ -n "$DB_URL" ] || [ ! -f .env ] || DB_URL=$(sed -n 's/^DATABASE_URL=//p' .env | tail -1)
DB_URL=${DB_URL:-$LOCAL_DB_URL}

# --- system packages -----------------------------------------------------------------
need=()
dpkg -s postgresql-15-postgis-3 >/dev/null 2>&1 || need+=(postgresql-15-postgis-3)
dpkg -s gdal-bin >/dev/null 2>&1 || need+=(gdal-bin)
dpkg -s libgdal-dev >/dev/null 2>&1 || need+=(libgdal-dev)
dpkg -s libgeos-dev >/dev/null 2>&1 || need+=(libgeos-dev)
dpkg -s libproj-dev >/dev/null 2>&1 || need+=(libproj-dev)
dpkg -s fonts-wqy-microhei >/dev/null 2>&1 || need+=(fonts-wqy-microhei)
dpkg -s postgresql-client-15 >/dev/null 2>&1 || need+=(postgresql-client-15)
dpkg -s chromium >/dev/null 2>&1 || need+=(chromium)
if [ "$DB_URL" = "$LOCAL_DB_URL" ] && ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  dpkg -s postgresql-15 >/dev/null 2>&1 || need+=(postgresql-15)
fi
"$PYTHON" -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
if [ ${#need[@]} -gt 0 ]; then
  log "installing system packages: ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

# --- PostgreSQL ----------------------------------------------------------------------
if [ "$DB_URL" = "$LOCAL_DB_URL" ] && ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  log "starting the local PostgreSQL"
  version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -1)
  if [ -z "$version" ]; then
    $SUDO pg_createcluster 15 main
    version=15
  fi
  conf=/etc/postgresql/$version/main
  # Local development: trust on loopback, as the documented machine has it.
  if ! grep -q '^host all all 127.0.0.1/32 trust' "$conf/pg_hba.conf"; then
    $SUDO sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\nlocal all postgres trust' "$conf/pg_hba.conf"
  fi
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main start || $SUDO pg_ctlcluster "$version" main start
  for _ in $(seq 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
fi

# --- virtualenv ----------------------------------------------------------------------
stamp=.venv/.requirements.sha256
want=$(cat requirements.txt requirements-dev.txt | sha256sum | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "building the virtualenv from pinned requirements"
  [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -r requirements-dev.txt
  echo "$want" > "$stamp"
fi

# --- .env: manage.py in this checkout uses what setup used -----------------------------
.venv/bin/python scripts/write_dev_env.py "$DB_URL"

# --- database ------------------------------------------------------------------------
export DATABASE_URL="$DB_URL"
export DJANGO_DEVELOPMENT=${DJANGO_DEVELOPMENT:-1}
.venv/bin/python scripts/ensure_database.py
log "migrating"
.venv/bin/python manage.py migrate --noinput -v 0
.venv/bin/python manage.py collectstatic --noinput -v 0
if [ "${SKIP_DEMO:-0}" != 1 ]; then
  log "loading the demo data"
  .venv/bin/python manage.py seed_demo
fi
