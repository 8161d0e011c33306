#!/usr/bin/env bash
# `make install` runs this first: name everything missing from the README's requirements and how to get it.
set -uo pipefail
PYTHON=${PYTHON:-python3}
missing=()

if ! command -v "$PYTHON" >/dev/null; then
  missing+=("Python >= 3.11: apt-get install python3 python3-venv")
elif ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  missing+=("Python >= 3.11 ($PYTHON is $("$PYTHON" -V 2>&1)): apt-get install python3, or make PYTHON=python3.12")
elif ! "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null; then
  missing+=("the venv module of $PYTHON: apt-get install python3-venv")
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  missing+=("Node.js >= 20 with npm (runs the Firestore emulator): apt-get install nodejs npm")
elif ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)'; then
  missing+=("Node.js >= 20 (found $(node --version)): Debian 13's nodejs package, or NodeSource's 20.x on Debian 12")
fi
if ! command -v terraform >/dev/null; then
  missing+=("terraform >= 1.5 (the formatting check): https://developer.hashicorp.com/terraform/install")
fi
if [ ! -x /usr/bin/chromium ]; then
  missing+=("Chromium at /usr/bin/chromium (the gallery page test): apt-get install chromium")
fi
command -v make >/dev/null || missing+=("GNU make: apt-get install make")

if [ ${#missing[@]} -gt 0 ]; then
  echo "Missing requirements (see README.md, Requirements):" >&2
  printf '  - %s\n' "${missing[@]}" >&2
  exit 1
fi
