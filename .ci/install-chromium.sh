#!/usr/bin/env bash
# The system's Chromium for the panel's browser tests (tests/test_panel_browser.py), driven by
# Playwright for Python at /usr/bin/chromium. Never `playwright install`: the browser comes from
# the distribution's packages. Idempotent: does nothing when Chromium is there.
# Usage: bash .ci/install-chromium.sh   (CAIRN_CHROMIUM names another binary to check)
set -euo pipefail

CHROMIUM="${CAIRN_CHROMIUM:-/usr/bin/chromium}"
if [ -x "${CHROMIUM}" ]; then
  echo "install-chromium: ${CHROMIUM} already installed ($("${CHROMIUM}" --version 2>/dev/null | head -1))"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-chromium: no apt-get here; install Chromium with the system's package manager, or set" \
       "CAIRN_CHROMIUM (the browser tests are skipped without it)" >&2
  exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
  SUDO="sudo"
fi
echo "install-chromium: apt-get install chromium"
${SUDO} apt-get update -qq
DEBIAN_FRONTEND=noninteractive ${SUDO} apt-get install -y -qq chromium
"${CHROMIUM}" --version
