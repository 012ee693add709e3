#!/usr/bin/env bash
# PostgreSQL sink throughput next to psql's COPY of the same rows, in one script.
#   scripts/bench-postgres.sh [ROWS]        (default 1,000,000; PostgreSQL on 127.0.0.1:5432)
# Prints rows/s of `\copy … FROM file CSV` through psql, rows/s of `dataflow run` file → postgresql
# (reading JSON lines, binary COPY, one transaction per batch), and the ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-1000000}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/dataflow-target}"
PG="host=127.0.0.1 port=5432 user=root dbname=test"
scripts/test-servers.sh start
cargo build --release -q -p dataflow-cli
DATAFLOW="$CARGO_TARGET_DIR/release/dataflow"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"; psql "$PG" -q -c "DROP SCHEMA IF EXISTS bench_pg CASCADE" >/dev/null 2>&1 || true' EXIT

# The same rows as JSON lines (for dataflow) and CSV (for psql): 10 mixed columns.
python3 - "$ROWS" "$WORK" <<'PY'
import json, sys, random, uuid, datetime
rows, work = int(sys.argv[1]), sys.argv[2]
random.seed(7)
base = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
with open(f"{work}/rows.jsonl", "w") as js, open(f"{work}/rows.csv", "w") as csv:
    for i in range(rows):
        r = {
            "id": i,
            "customer_id": random.randint(1, 100000),
            "sku": f"SKU-{random.randint(1000, 9999)}",
            "quantity": random.randint(1, 20),
            "price": round(random.uniform(1, 500), 2),
            "discount": round(random.random() / 4, 4),
            "paid": random.random() < 0.8,
            "status": random.choice(["new", "paid", "shipped", "cancelled"]),
            "created_at": (base + datetime.timedelta(seconds=i)).isoformat(),
            "ref": str(uuid.UUID(int=random.getrandbits(128))),
        }
        js.write(json.dumps(r) + "\n")
        csv.write(",".join(str(r[k]).lower() if isinstance(r[k], bool) else str(r[k]) for k in r) + "\n")
PY
COLUMNS="id bigint primary key, customer_id integer, sku text, quantity integer, price numeric(10,2), discount double precision, paid boolean, status text, created_at timestamptz, ref uuid"
psql "$PG" -q -c "DROP SCHEMA IF EXISTS bench_pg CASCADE; CREATE SCHEMA bench_pg; CREATE TABLE bench_pg.by_psql ($COLUMNS); CREATE TABLE bench_pg.by_dataflow ($COLUMNS)"

start=$(date +%s.%N)
psql "$PG" -q -c "\\copy bench_pg.by_psql FROM '$WORK/rows.csv' CSV"
psql_seconds=$(echo "$(date +%s.%N) - $start" | bc -l)

cat > "$WORK/flow.yaml" <<YAML
source: {type: file, config: {path: $WORK/rows.jsonl}}
sink:
  type: postgresql
  config:
    connectionString: "$PG"
    table: bench_pg.by_dataflow
    batchSize: 20000
checkpointPersistence: false
channelBufferSize: 40000
YAML
start=$(date +%s.%N)
RUST_LOG=warn "$DATAFLOW" run "$WORK/flow.yaml" --quiet
dataflow_seconds=$(echo "$(date +%s.%N) - $start" | bc -l)

count=$(psql "$PG" -t -A -c "SELECT count(*) FROM bench_pg.by_dataflow")
same=$(psql "$PG" -t -A -c "SELECT count(*) FROM bench_pg.by_psql p JOIN bench_pg.by_dataflow d USING (id) WHERE (p.*)::text = (d.*)::text")
[ "$count" = "$ROWS" ] || { echo "dataflow wrote $count of $ROWS rows" >&2; exit 1; }
[ "$same" = "$ROWS" ] || { echo "only $same of $ROWS rows are identical to psql's" >&2; exit 1; }

python3 - "$ROWS" "$psql_seconds" "$dataflow_seconds" <<'PY'
import sys
rows, p, d = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
print(f"rows: {rows} (10 columns), identical in both tables")
print(f"psql \\copy CSV            : {rows / p:>10.0f} rows/s  {p:.2f}s")
print(f"dataflow file → postgresql: {rows / d:>10.0f} rows/s  {d:.2f}s")
print(f"ratio dataflow / psql     : {p / d:>10.2f}")
PY
