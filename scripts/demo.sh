#!/usr/bin/env bash
# The engine's main job on the bundled sample: replay 250 days of NIFTY 15-minute bars through
# all six actors in PAPER mode (config/paper.json: ₹5,00,000 capital), opening, monitoring and
# closing option positions. Prints the summary; writes out/signals.jsonl, out/positions.jsonl,
# out/report.html, out/report.json, out/equity.csv, out/equity_daily.csv and out/equity.svg.
# Each run starts from a fresh store in out/data.
# Extra arguments go to `alphastocks replay` (e.g. --mode logging, --store clickhouse).
set -euo pipefail
cd "$(dirname "$0")/.."
say() { echo "demo: $*" >&2; }

say "checking the build tools (scripts/setup.sh installs what is missing)..."
bash scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"

bin=target/release/alphastocks
if [ -x "$bin" ]; then
  say "building the engine (release; up to date in seconds)..."
else
  say "building the engine (release; first time: ~5 min on 2 cores, cargo's progress below)..."
fi
cargo build --release --bin alphastocks

rm -rf out
say "replaying 250 days of NIFTY 15-minute bars in PAPER mode (a few seconds)..."
RUST_LOG="${RUST_LOG:-warn}" "$bin" \
  replay --data data/sample/nifty_15minute.csv --config config/paper.json --mode paper \
  --data-dir out/data --out out "$@"
say "done: open out/report.html; query the run's store with"
say "  $bin signals --data-dir out/data --start 2024-06-03 --end 2024-06-03"
say "  $bin db check --data-dir out/data"
