#!/usr/bin/env bash
# Idempotent setup for a fresh Debian machine, as root: apt packages, then the venv.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(tcpdump iproute2 ethtool util-linux procps iputils-ping python3-venv python3-scapy)
APT_PACKAGES+=(bubblewrap)   # sandbox: the private view around graded programs
APT_PACKAGES+=(chromium)   # report: tests render report.html in headless Chromium; socklab graph -f png
APT_PACKAGES+=(tshark)     # tests: socklab's pcaps and pcapngs must read back in Wireshark's reader
if [ "$(id -u)" != 0 ]; then
  echo "socklab setup: run as root (network namespaces and captures need it)" >&2
  exit 1
fi

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "==> apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "socklab setup: needs Python >= 3.11 ($PYTHON is $("$PYTHON" --version 2>&1))" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  echo "==> python venv in .venv"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.socklab-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "==> pip install -e .[test]"
  .venv/bin/pip install -q --disable-pip-version-check -e '.[test]'
  touch "$stamp"
fi
# socklab's own bytecode: an editable install has none until imports write it, and where
# PYTHONDONTWRITEBYTECODE is set they never do (every command then compiles ~100 modules:
# +100 ms on a run). compileall writes it regardless and skips what is up to date.
.venv/bin/python -m compileall -q src
