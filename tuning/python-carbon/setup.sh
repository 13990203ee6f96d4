#!/usr/bin/env bash
# Installs the Python carbon-cache peer for `warren bench --peer python-carbon`:
#   - Debian's graphite-carbon (carbon 1.1.x, pulls python3-twisted and python3-whisper), service NOT started;
#   - txAMQP from PyPI for /usr/bin/python3 (Debian does not package it; carbon's AMQP listener needs it).
# Idempotent: does nothing that is already done. Run as root (apt-get).
set -euo pipefail

PY=/usr/bin/python3

if ! dpkg-query -W -f='${Status}' graphite-carbon 2>/dev/null | grep -q 'install ok installed'; then
    echo "installing graphite-carbon (Debian)…"
    apt-get update -qq
    # policy-rc.d keeps the package's service from being started (there is no systemd here anyway).
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends graphite-carbon
fi

if ! "$PY" -c 'import txamqp' 2>/dev/null; then
    echo "installing txAMQP (PyPI) for $PY…"
    "$PY" -m pip --version >/dev/null 2>&1 || \
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-pip
    # Debian's python is "externally managed" (PEP 668); --break-system-packages installs into
    # /usr/local/lib/python3.X/dist-packages, which Debian's python reads and apt never touches.
    # --no-deps: txAMQP's only dependency is Twisted, which must stay Debian's python3-twisted.
    "$PY" -m pip install --quiet --no-deps --break-system-packages txAMQP
fi

"$PY" -c 'import carbon.amqp_listener, txamqp, twisted, whisper; print("carbon", carbon.__file__, "| twisted", twisted.__version__, "| txamqp ok")' 2>&1 \
    || { echo "carbon.amqp_listener does not import with $PY" >&2; exit 1; }
command -v carbon-cache >/dev/null || { echo "carbon-cache script missing" >&2; exit 1; }
echo "python-carbon peer ready: $(command -v carbon-cache)"
