#!/usr/bin/env bash
# Starts the real servers the test suite needs, on loopback, idempotently.
#   scripts/test-servers.sh start
# Each server has its own port (see ../shared/spec/test-servers.md for the plan):
#   PostgreSQL 127.0.0.1:5432 (database `test`, trust auth) — the machine's own cluster.
# Tests that talk to a server read its address from the environment set here.
set -euo pipefail

start_postgres() {
  if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    return 0
  fi
  if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    echo "installing PostgreSQL" >&2
    apt-get update -qq && apt-get install -y -qq postgresql >/dev/null
  fi
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
  for _ in $(seq 1 50); do
    pg_isready -q -h 127.0.0.1 -p 5432 && return 0
    sleep 0.2
  done
  echo "PostgreSQL did not become ready on 127.0.0.1:5432" >&2
  return 1
}

case "${1:-start}" in
  start)
    start_postgres
    ;;
  *)
    echo "usage: $0 start" >&2
    exit 2
    ;;
esac
