#!/usr/bin/env bash
# The engine's main job on the bundled sample: replay 250 days of NIFTY 15-minute bars through
# all six actors in logging-only mode, print the summary, write out/signals.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"

RUST_LOG="${RUST_LOG:-warn}" cargo run --release --quiet -- \
  replay --data data/sample/nifty_15minute.csv --out out "$@"
