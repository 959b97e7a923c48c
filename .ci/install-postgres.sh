#!/usr/bin/env bash
# The PostgreSQL server the tests start their own throwaway clusters from (tests/pgcluster.py):
# the Debian package, installed when its initdb is missing. The tests never use a running
# system cluster, so nothing is started here.
set -euo pipefail
if compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-postgres: not root; install the 'postgresql' package (the PostgreSQL tests skip without it)" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends postgresql >/dev/null
