#!/usr/bin/env bash
# Run a real graphite-web 1.1.8 (Debian's package) against a whisper tree and a CarbonLink port, without touching
# /etc: a settings module of our own in WORK, selected by GRAPHITE_SETTINGS_MODULE (graphite-web reads
# its settings from that module; see https://graphite.readthedocs.io/en/latest/config-local-settings.html).
# Usage: graphite_web.sh WORK_DIR WHISPER_DIR CARBONLINK_PORT HTTP_PORT
# Extra settings lines (e.g. CLUSTER_SERVERS) come from the environment variable GW_EXTRA_SETTINGS.
# Installs graphite-web when missing, migrates the sqlite db, then execs the dev server (its pid is this script's).
set -euo pipefail
work=$1 whisper=$2 clport=$3 port=$4
if ! /usr/bin/python3 -c 'import graphite' 2>/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends graphite-web >&2
fi
mkdir -p "$work/storage/log"
mod="wtest_settings_$$"
cat > "$work/$mod.py" <<PY
SECRET_KEY = 'warren-test'
ALLOWED_HOSTS = ['*']
STORAGE_DIR = '$work/storage'
LOG_DIR = '$work/storage/log'
WHISPER_DIR = '$whisper'
STANDARD_DIRS = [WHISPER_DIR]
STORAGE_FINDERS = ('graphite.finders.standard.StandardFinder',)
CARBONLINK_HOSTS = ['127.0.0.1:$clport:a']
USE_WORKER_POOL = False
DEFAULT_AUTO_FIELD = 'django.db.models.AutoField'
DATABASES = {'default': {'ENGINE': 'django.db.backends.sqlite3', 'NAME': '$work/storage/graphite.db'}}
${GW_EXTRA_SETTINGS:-}
PY
export PYTHONPATH="$work" GRAPHITE_SETTINGS_MODULE="$mod" DJANGO_SETTINGS_MODULE=graphite.settings
/usr/bin/python3 /usr/bin/django-admin migrate --noinput --skip-checks >"$work/migrate.log" 2>&1
exec /usr/bin/python3 /usr/bin/django-admin runserver "127.0.0.1:$port" --noreload
