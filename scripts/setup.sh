#!/usr/bin/env bash
# Installs what building alphastocks needs on a fresh Debian machine: a C compiler (SQLite is
# compiled in) and the Rust toolchain; with --test also what the test suite needs: headless
# Chromium and a font (tests/report_html.rs renders report.html in it), and promtool, the
# Prometheus linter (tests/prometheus.rs checks the engine's /metrics with it). Safe to run
# again: it only installs what is missing.
set -euo pipefail

need_apt=()
need_promtool=""
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
# A C compiler and make: SQLite and jemalloc (the engine's allocator) are built from source.
{ command -v cc && command -v make; } >/dev/null 2>&1 || need_apt+=(build-essential)
command -v curl >/dev/null 2>&1 || need_apt+=(curl ca-certificates)
if [ "${1:-}" = "--test" ]; then
  command -v chromium >/dev/null 2>&1 || need_apt+=(chromium fonts-dejavu-core)
  command -v promtool >/dev/null 2>&1 || need_promtool=1
fi
if [ ${#need_apt[@]} -gt 0 ] || [ -n "$need_promtool" ]; then
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need_apt[@]}"
fi
if [ -n "$need_promtool" ]; then
  # Only the tool, taken out of Debian's prometheus package: installing the package would also
  # install and start a Prometheus server.
  tmp=$(mktemp -d)
  chmod 777 "$tmp" # apt fetches as its own user (_apt) into it
  (cd "$tmp" && apt-get download -q prometheus && dpkg-deb -x prometheus_*.deb x)
  $SUDO install -m 755 "$tmp/x/usr/bin/promtool" /usr/local/bin/promtool
  rm -rf "$tmp"
fi

if ! command -v cargo >/dev/null 2>&1; then
  if [ -x "$HOME/.cargo/bin/cargo" ]; then
    :
  else
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal -c rustfmt,clippy
  fi
fi
