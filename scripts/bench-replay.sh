#!/usr/bin/env bash
# The signal-heavy replay benchmark (issue 12): 1,000,000 fifteen-minute bars replayed at their
# own timeframe (every bar a candle, a crossover every ~20 candles), whole process (start-up,
# CSV read and final flush included), SQLite store, a fresh data directory per run.
#
#   bash scripts/bench-replay.sh [RUNS]
#
# Prints, for paper and logging-only mode, each run's wall time and the median with its
# bars/s, plus peak RSS. ALPHASTOCKS_BIN selects the binary (default target/release/alphastocks,
# built if missing). The goal: paper >= 1.5 M bars/s, logging-only >= 2.5 M bars/s.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:-3}"
BIN="${ALPHASTOCKS_BIN:-target/release/alphastocks}"
if [[ ! -x "$BIN" ]]; then
  cargo build --release --quiet --bin alphastocks
fi
command -v /usr/bin/time >/dev/null || { echo "bench-replay: needs /usr/bin/time (apt-get install time)" >&2; exit 2; }
dir="$(mktemp -d /tmp/alphastocks-bench.XXXXXX)"
trap 'rm -rf "$dir"' EXIT
data="$dir/s15.csv"
"$BIN" data sample --out "$data" --days 40000 --interval 15minute --seed 7 >/dev/null 2>&1
bars=$(( $(wc -l <"$data") - 1 ))
echo "file: $bars fifteen-minute bars (seed 7)"
for mode in paper logging; do
  walls=()
  for ((i = 1; i <= RUNS; i++)); do
    run="$dir/run-$mode-$i"
    RUST_LOG=warn /usr/bin/time -f "%e %M" -o "$dir/time" \
      "$BIN" replay --data "$data" --symbol NIFTY --mode "$mode" --data-dir "$run" --out "$run/out" >/dev/null
    read -r wall rss <"$dir/time"
    walls+=("$wall")
    echo "  $mode run $i: ${wall} s, peak RSS $((rss / 1024)) MB"
    rm -rf "$run"
  done
  median=$(printf '%s\n' "${walls[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR + 1) / 2)]}')
  awk -v m="$mode" -v w="$median" -v b="$bars" \
    'BEGIN { printf "%s: median %.2f s whole process, %.2f M bars/s\n", m, w, b / w / 1e6 }'
done
