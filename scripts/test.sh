#!/usr/bin/env bash
# The whole test suite: format, lints, then every unit and integration test of the workspace.
# Ends with one summary line "tests: N passed, M failed".
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
export PATH="$HOME/.cargo/bin:$PATH"

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings

# A real ClickHouse on 127.0.0.1:8123 for the persistence tests (installed when missing),
# stopped again at exit. Tests that need a server of their own start it on other ports.
log=$(mktemp)
trap 'rm -f "$log"; bash scripts/clickhouse.sh stop || true' EXIT
bash scripts/clickhouse.sh start
status=0
# Every test but the chaos suite, then the chaos suite with its counts printed.
cargo test --workspace -- --skip chaos_ 2>&1 | tee "$log" || status=$?
cargo test --test chaos -- --nocapture 2>&1 | tee -a "$log" || status=$?
passed=$(grep -Eo '^test result: .* ([0-9]+) passed' "$log" | grep -Eo '[0-9]+ passed' | awk '{s+=$1} END {print s+0}')
failed=$(grep -Eo '^test result: .* ([0-9]+) failed' "$log" | grep -Eo '[0-9]+ failed' | awk '{s+=$1} END {print s+0}')
echo "tests: ${passed} passed, ${failed} failed"
exit "$status"
