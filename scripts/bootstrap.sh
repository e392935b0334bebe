#!/usr/bin/env bash
# Brings a fresh Debian 12 machine to the point where `make run` and `make test`
# work: Debian packages, a Python >= 3.12 virtual environment, the project's
# Python dependencies. Every step checks first, so a second run takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

DEB_PACKAGES=(
  postgresql-15 postgresql-15-postgis-3 postgis
  gdal-bin wrk
  qgis-server python3-qgis
  mapserver-bin cgi-mapserver   # the reference map server of the WMS benchmark
  chromium                      # the browser of the web client's tests
  python3-jwt python3-cryptography  # the QGIS Server plugin verifies tokens (QGIS's Python)
  nginx-light spawn-fcgi multiwatch  # the shipped nginx rules and FastCGI QGIS Server, tested
  mosquitto mosquitto-clients   # the MQTT broker of the alerts (OGC API Publish-Subscribe)
)

missing=()
for pkg in "${DEB_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
if ((${#missing[@]})); then
  echo "bootstrap: installing Debian packages: ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}"
fi

# Find a Python >= 3.12: PATH first, then pyenv's installed versions.
find_python() {
  local candidates=(python3.13 python3.12 python3)
  for c in "${candidates[@]}"; do
    if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
      command -v "$c"; return 0
    fi
  done
  if command -v pyenv >/dev/null 2>&1; then
    local root; root="$(pyenv root)"
    for v in $(ls -1 "$root/versions" 2>/dev/null | sort -rV); do
      local p="$root/versions/$v/bin/python"
      if [ -x "$p" ] && "$p" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
        echo "$p"; return 0
      fi
    done
  fi
  return 1
}

VENV=.venv
if [ ! -x "$VENV/bin/python" ]; then
  if ! PY="$(find_python)"; then
    echo "bootstrap: KMZB needs Python 3.12 or newer (pygeoapi requires it)." >&2
    echo "bootstrap: install it, e.g. 'apt-get install python3.12' on a newer Debian, or 'pyenv install 3.12'." >&2
    exit 1
  fi
  echo "bootstrap: creating $VENV with $PY"
  "$PY" -m venv "$VENV"
fi

# Reinstall the Python dependencies only when pyproject.toml changed.
STAMP="$VENV/.kmzb-deps"
HASH="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$HASH" ]; then
  echo "bootstrap: installing Python dependencies"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q -e '.[test]'
  echo "$HASH" > "$STAMP"
fi

# The web client (web/): OpenLayers from npm, bundled by esbuild into web/dist/,
# which the app serves at /map/. Rebuilt only when the lock or the sources changed.
if ! command -v npm >/dev/null 2>&1; then
  echo "bootstrap: installing Debian packages: nodejs npm"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q nodejs npm
fi
WEB_STAMP=web/dist/.kmzb-build
WEB_HASH="$(find web/package.json web/package-lock.json web/build.mjs web/src web/pygeoapi -type f -print0 \
  | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)"
if [ ! -f "$WEB_STAMP" ] || [ "$(cat "$WEB_STAMP")" != "$WEB_HASH" ]; then
  echo "bootstrap: building the web client"
  (cd web && npm ci --no-audit --no-fund --loglevel=error && npm run build --silent)
  echo "$WEB_HASH" > "$WEB_STAMP"
fi
