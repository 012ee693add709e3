#!/usr/bin/env bash
# Runs the whole test suite: starts the test servers it needs, then every test of the workspace.
#   scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/dataflow-target}"
scripts/test-servers.sh start
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "$@"
else
  cargo test --workspace --no-fail-fast "$@"
fi
