#!/usr/bin/env bash
# Runs every test of caseledger on a fresh machine: vet, the whole test suite
# (unit, property, golden and fuzz seed corpora), then a short fuzzing pass
# over the decoders. Everything it needs is installed by this script; later
# issues add the services their tests start (PostgreSQL, nats-server, Chromium).
set -euo pipefail
cd "$(dirname "$0")/.."

command -v go >/dev/null || { echo "test.sh: Go is not installed (see README)" >&2; exit 1; }

# need CMD PACKAGE: install a Debian package when its command is missing.
apt_updated=""
need() {
  command -v "$1" >/dev/null && return 0
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "test.sh: $1 is missing; install the Debian package $2" >&2
    return 1
  fi
  [ -n "$apt_updated" ] || { apt-get update -qq >/dev/null; apt_updated=1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
}

# The stock sqlite3 tool: a test checks that an auditor can open the store.
need sqlite3 sqlite3

echo "== go vet"
go vet ./...

echo "== go test"
go test -count=1 ./...

# Fuzzing explores beyond the seed corpus for a short, bounded time. It is a
# search for panics, not a timed test: nothing here asserts on speed.
fuzztime="${CASELEDGER_FUZZTIME:-10s}"
for target in FuzzUnmarshalEvent FuzzDecideCommand; do
  echo "== fuzz $target ($fuzztime)"
  go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" ./domain >/tmp/caseledger-fuzz.log 2>&1 || {
    cat /tmp/caseledger-fuzz.log >&2
    echo "fuzz $target found a failure; the input is under domain/testdata/fuzz/$target" >&2
    exit 1
  }
  tail -n 1 /tmp/caseledger-fuzz.log
done
