#!/usr/bin/env bash
# Debian packages the project needs beyond a stock Python machine.
# Idempotent: installs only what is missing, so repeated `make` runs stay fast.
set -euo pipefail
need=()
for pkg in "$@" ; do :; done
check() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed" || need+=("$1"); }
check libpango-1.0-0
check libpangoft2-1.0-0
check poppler-utils
check libharfbuzz-subset0
check fonts-dejavu-core
check docker-compose
# Browser tests drive Debian's Chromium through Playwright; Playwright never downloads a browser here.
check chromium
# The tests start a throwaway PostgreSQL from these binaries when none answers at LEADCHAIN_TEST_PG;
# the package also creates the unprivileged `postgres` user that initdb needs when the tests run as root.
check postgresql
# make chaos --prometheus scrapes the stack with a real Prometheus (and the deploy test runs promtool).
check prometheus
# The provider sandbox speaks its callees' and its Realtime model's lines as real audio (sandbox/speech.py).
check espeak-ng
check sox
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "system-deps: missing Debian packages ${need[*]}; run as root or install them" >&2
    exit 1
  fi
  echo "system-deps: installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
