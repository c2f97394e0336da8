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
# Headless Chromium: a test loads the dashboard page and reads the DOM.
need chromium chromium
# pdftoppm (poppler-utils): a test turns the disclosure report's first PDF
# page into a PNG.
need pdftoppm poppler-utils
# docker-compose (Debian's package): a test validates compose.yaml with it.
need docker-compose docker-compose

# The stock nats CLI (natscli, pinned): the adversary tests use it against
# serve's NATS, as an attacker with a stolen or wrong creds file would.
natscli_version=v0.5.0
tools="$(pwd)/.tools"
if [ ! -x "$tools/nats-$natscli_version" ]; then
  echo "== installing the nats CLI $natscli_version"
  mkdir -p "$tools"
  GOBIN="$tools" go install "github.com/nats-io/natscli/nats@$natscli_version"
  mv "$tools/nats" "$tools/nats-$natscli_version"
fi
export CASELEDGER_NATS_CLI="$tools/nats-$natscli_version"

# PostgreSQL for the read-model tests: start the machine's cluster if it is
# not running, and give the tests a database of their own.
start_postgres() {
  if [ -n "${CASELEDGER_TEST_POSTGRES:-}" ]; then return 0; fi
  if ! command -v pg_ctlcluster >/dev/null; then
    need pg_ctlcluster postgresql || return 1
  fi
  local version
  version=$(ls /usr/lib/postgresql | sort -n | tail -1)
  if ! pg_lsclusters -h | awk '{print $4}' | grep -q online; then
    if ! pg_lsclusters -h | grep -q "^$version main"; then
      pg_createcluster "$version" main >/dev/null
    fi
    pg_ctlcluster "$version" main start
  fi
  local port
  port=$(pg_lsclusters -h | awk '$4 == "online" {print $3; exit}')
  su postgres -c "psql -p $port -qtAc \"SELECT 1 FROM pg_roles WHERE rolname = 'caseledger'\"" | grep -q 1 ||
    su postgres -c "psql -p $port -qc \"CREATE ROLE caseledger LOGIN PASSWORD 'caseledger'\""
  su postgres -c "psql -p $port -qtAc \"SELECT 1 FROM pg_database WHERE datname = 'caseledger_test'\"" | grep -q 1 ||
    su postgres -c "createdb -p $port -O caseledger caseledger_test"
  export CASELEDGER_TEST_POSTGRES="postgres://caseledger:caseledger@127.0.0.1:$port/caseledger_test?sslmode=disable"
}
if [ "$(id -u)" = 0 ]; then
  start_postgres
else
  echo "test.sh: not root: set CASELEDGER_TEST_POSTGRES to run the PostgreSQL read-model tests" >&2
fi

echo "== go vet"
go vet ./...

echo "== go test"
go test -count=1 -timeout 20m ./...

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
