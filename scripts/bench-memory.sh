#!/usr/bin/env bash
# Peak memory of `alphastocks run` at scale: N underlyings (default 1000) on the simulated feed,
# each with CANDLES (default 1000) 15-minute candles of stored history loaded at start.
#
#   bash scripts/bench-memory.sh [N] [CANDLES] [SECONDS]
#
# Builds a config from config/default.json (N made-up underlyings S0001…, their start prices
# and instrument specs, the data directory in a temporary directory), writes CANDLES sample
# bars once and imports them as every underlying's history (one `alphastocks data import`), then
# runs the engine for SECONDS (default 60) of wall time and prints its peak RSS (VmHWM, via
# /usr/bin/time) and the RSS sampled every 5 s. The goal (issue 12) is ≤ 100 MB.
# ALPHASTOCKS_BIN selects the binary (default: target/release/alphastocks, built if missing).
# KEEP=1 keeps the temporary directory.
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-1000}"
CANDLES="${2:-1000}"
SECONDS_RUN="${3:-60}"
BIN="${ALPHASTOCKS_BIN:-target/release/alphastocks}"
if [[ ! -x "$BIN" ]]; then
  cargo build --release --quiet --bin alphastocks
fi
for tool in jq /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "bench-memory: needs $tool (apt-get install jq time)" >&2; exit 2; }
done
# 25 fifteen-minute bars per session.
DAYS=$(( (CANDLES + 24) / 25 ))

dir="$(mktemp -d /tmp/alphastocks-mem.XXXXXX)"
if [[ "${KEEP:-0}" != 1 ]]; then trap 'rm -rf "$dir"' EXIT; fi
cfg="$dir/config.json"
jq --argjson n "$N" --arg dd "$dir/data" '
  [range(1; $n + 1) | "S" + (tostring | ("0000" + .)[-4:])] as $names
  | .options_trading.entry_filters.valid_underlyings = $names
  | .feed.simulated.start_prices = ($names | map({key: ., value: 24000.0}) | from_entries)
  | .instruments.underlyings = ($names | map({key: ., value: {lot_size: 65, strike_step: 50, tick_size: 0.05, weekly: true}}) | from_entries)
  | .storage.data_dir = $dd
  | .metrics.persist_every_seconds = 0
' config/default.json >"$cfg"
mkdir -p "$dir/data"

echo "bench-memory: $N underlyings × $CANDLES stored 15-minute candles (importing …)"
"$BIN" data sample --out "$dir/bars.csv" --days "$DAYS" --interval 15minute --seed 7 >/dev/null 2>&1
head -n $((CANDLES + 1)) "$dir/bars.csv" >"$dir/history.csv"
t0=$(date +%s)
mapfile -t names < <(jq -r '.options_trading.entry_filters.valid_underlyings[]' "$cfg")
RUST_LOG=warn "$BIN" data import --csv "$dir/history.csv" --interval 15minute --config "$cfg" \
  $(printf -- '--symbol %s ' "${names[@]}") >/dev/null
echo "bench-memory: imported in $(( $(date +%s) - t0 )) s; running the engine for $SECONDS_RUN s"

RUST_LOG="${RUST_LOG:-info}" /usr/bin/time -v -o "$dir/time.txt" \
  "$BIN" run --config "$cfg" --duration "$SECONDS_RUN" >"$dir/stdout.txt" 2>"$dir/log.txt" &
tpid=$!
sleep 1
pid=$(pgrep -P "$tpid" || true)
while kill -0 "$tpid" 2>/dev/null; do
  if [[ -n "$pid" && -r "/proc/$pid/status" ]]; then
    rss=$(awk '/^VmRSS/ {print int($2 / 1024)}' "/proc/$pid/status" 2>/dev/null || true)
    [[ -n "$rss" ]] && echo "  t=$(( $(date +%s) - t0 )) s  RSS ${rss} MB"
  fi
  sleep 5
done
wait "$tpid" || { echo "bench-memory: the run failed:" >&2; tail -20 "$dir/log.txt" >&2; exit 1; }
loaded=$(grep -c "candles of .* from the store" "$dir/log.txt" || true)
history=$(grep -o "loaded [0-9]* 15minute candles" "$dir/log.txt" | awk '{s += $2} END {print s + 0}')
peak=$(awk -F': ' '/Maximum resident set size/ {print int($2 / 1024)}' "$dir/time.txt")
tail -n 1 "$dir/stdout.txt"
echo "bench-memory: history loaded for $loaded underlyings ($history candles)"
echo "bench-memory: peak RSS ${peak} MB ($N underlyings, $CANDLES candles each; goal ≤ 100 MB)"
