#!/usr/bin/env bash
# `make audit`: pip-audit over the locked set (requirements.lock, every pin hashed) against published advisories.
#
# The advisories live on the internet (OSV by default, AUDIT_SERVICE=pypi for PyPI's own feed). Where they cannot
# be reached (an offline CI machine, a firewalled host) the audit says so on one line and exits 0: an unreachable
# database is not a finding, and CI must not fail for it. Where they can, any known-vulnerable pin fails it.
set -u
BIN=${BIN:-.venv/bin}
LOCK=${LOCK:-requirements.lock}
SERVICE=${AUDIT_SERVICE:-osv}
case "$SERVICE" in
  osv) PROBE=${AUDIT_PROBE_URL:-https://api.osv.dev/v1/query} ;;
  pypi) PROBE=${AUDIT_PROBE_URL:-https://pypi.org/pypi/pip/json} ;;
  *) echo "make audit: AUDIT_SERVICE must be osv or pypi, not '$SERVICE'" >&2; exit 2 ;;
esac

# One request with a short timeout first: pip-audit itself would retry for minutes and then fail.
if ! reason=$("$BIN/python" - "$PROBE" 2>&1 <<'PY'
import sys
import urllib.error
import urllib.request

try:
    urllib.request.urlopen(urllib.request.Request(sys.argv[1], method="HEAD"), timeout=5)
except urllib.error.HTTPError:
    pass  # it answered (405 for a HEAD, say): the service is reachable
except Exception as e:  # noqa: BLE001 - any failure to connect means unreachable
    print(f"{type(e).__name__}: {e}")
    sys.exit(1)
PY
); then
  echo "make audit: SKIPPED - the advisory data ($SERVICE at $PROBE) is unreachable from this machine ($reason); nothing was checked"
  exit 0
fi

# pip-audit says "No known vulnerabilities found" even when it could look none up (a registry mirror without
# PyPI's per-version JSON answers 404 for each: seen here with AUDIT_SERVICE=pypi). Its skip list is counted, so
# an audit that checked nothing says so instead of reading as a clean bill.
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$BIN/pip-audit" --vulnerability-service "$SERVICE" --requirement "$LOCK" --require-hashes --no-deps --disable-pip \
  --progress-spinner off >"$out" 2>&1
status=$?
cat "$out"
pins=$(grep -cE '^[A-Za-z0-9_.-]+==' "$LOCK")
skipped=$(grep -c 'could not be audited' "$out")
if [ "$status" -eq 0 ] && [ "$skipped" -gt 0 ]; then
  echo "make audit: INCOMPLETE - $skipped of $pins locked pins could not be looked up at $SERVICE; only the rest were checked"
fi
exit "$status"
