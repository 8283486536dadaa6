#!/usr/bin/env bash
# The engine's main job on the bundled sample: replay 250 days of NIFTY 15-minute bars through
# all six actors in PAPER mode (config/paper.json: ₹5,00,000 capital), opening, monitoring and
# closing option positions. Prints the summary; writes out/signals.jsonl, out/positions.jsonl,
# out/report.html, out/report.json, out/equity.csv, out/equity_daily.csv and out/equity.svg.
# Each run starts from a fresh store in out/data.
# Extra arguments go to `alphastocks replay` (e.g. --mode logging, --store clickhouse).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"

rm -rf out
RUST_LOG="${RUST_LOG:-warn}" cargo run --release --quiet -- \
  replay --data data/sample/nifty_15minute.csv --config config/paper.json --mode paper \
  --data-dir out/data --out out "$@"
