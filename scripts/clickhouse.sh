#!/usr/bin/env bash
# scripts/clickhouse.sh — run a local, throw-away ClickHouse server for development and CI.
#
# Usage: scripts/clickhouse.sh start|stop|status
#
#   start   Install clickhouse-server/clickhouse-client via apt if missing (needs root or sudo),
#           write a minimal config into $CLICKHOUSE_DIR, start the server in the background
#           (no systemd), record its PID in $CLICKHOUSE_DIR/server.pid and wait up to 30 s for
#           GET /ping to answer "Ok.". Exits 0 if a server is already answering on the port
#           (ours or someone else's, which is then reused). On failure prints the server log
#           tail and exits 1.
#   stop    SIGTERM the PID recorded in the pid file, wait up to 10 s, then SIGKILL it. Never
#           signals any other process. Exits 0 when nothing is running.
#   status  Prints running/stopped and the server version. Exit 0 when running, 3 when stopped,
#           4 when our process is alive but does not answer /ping.
#
# Environment:
#   CLICKHOUSE_DIR        scratch dir for config, data, logs, pid  (default /tmp/alphastocks-clickhouse)
#   CLICKHOUSE_HTTP_PORT  HTTP port                                (default 8123)
#   CLICKHOUSE_TCP_PORT   native TCP port (clickhouse-client)      (default 9000)
#
# Notes (facts about Debian's clickhouse-server 18.16, the only one installable here):
#   * 18.16 ignores --pid-file unless it runs with --daemon, so we record $! ourselves.
#   * The server listens on 127.0.0.1 only; the default user may connect from 127.0.0.1/::1 only.
#   * The default profile enables allow_experimental_low_cardinality_type (needed on 18.16 only).
set -euo pipefail

DIR="${CLICKHOUSE_DIR:-/tmp/alphastocks-clickhouse}"
HTTP_PORT="${CLICKHOUSE_HTTP_PORT:-8123}"
TCP_PORT="${CLICKHOUSE_TCP_PORT:-9000}"
HOST=127.0.0.1
PID_FILE="$DIR/server.pid"
CONFIG="$DIR/config.xml"
USERS="$DIR/users.xml"
SERVER_OUT="$DIR/server.out"          # stdout/stderr of the server process
SERVER_LOG="$DIR/log/clickhouse-server.log"
SERVER_ERR="$DIR/log/clickhouse-server.err.log"
START_TIMEOUT_S=30
STOP_TIMEOUT_S=10

# Debian installs the server binary as /usr/sbin/clickhouse-server, which is not on a normal
# user's PATH.
case ":$PATH:" in *:/usr/sbin:*) ;; *) PATH="$PATH:/usr/sbin" ;; esac

log() { echo "clickhouse.sh: $*"; }
err() { echo "clickhouse.sh: $*" >&2; }

# --- HTTP helper ------------------------------------------------------------------------------
# http_get PATH_AND_QUERY -> prints the response body; returns non-zero if the port is closed.
# Uses curl when present, otherwise bash's /dev/tcp (a fresh Debian image may lack curl).
http_get() {
    local path="$1"
    if command -v curl >/dev/null 2>&1; then
        curl -fsS --max-time 2 "http://$HOST:$HTTP_PORT$path" 2>/dev/null
    else
        local fd body
        exec {fd}<>"/dev/tcp/$HOST/$HTTP_PORT" 2>/dev/null || return 1
        printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$path" "$HOST" >&"$fd"
        body="$(timeout 2 cat <&"$fd" | tr -d '\r' | sed '1,/^$/d')" || true
        exec {fd}>&-
        printf '%s\n' "$body"
    fi
}

# ping_ok: true when something on $HTTP_PORT answers /ping with "Ok."
ping_ok() {
    local body
    body="$(http_get /ping 2>/dev/null)" || return 1
    [[ "$body" == "Ok." ]]
}

server_version() {
    http_get '/?query=SELECT%20version()' 2>/dev/null || echo "unknown"
}

# --- PID handling -----------------------------------------------------------------------------
# our_pid: prints the PID from the pid file if that process is alive AND is a clickhouse server
# started with our config file (guards against a recycled PID). Returns 1 otherwise.
our_pid() {
    [[ -f "$PID_FILE" ]] || return 1
    local pid
    pid="$(tr -dc '0-9' <"$PID_FILE")"
    [[ -n "$pid" ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    # /proc/PID/cmdline is NUL-separated; our server was started with --config-file=$CONFIG.
    if [[ -r "/proc/$pid/cmdline" ]]; then
        tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "--config-file=$CONFIG" || return 1
    fi
    echo "$pid"
}

print_log_tail() {
    local f
    for f in "$SERVER_OUT" "$SERVER_ERR" "$SERVER_LOG"; do
        if [[ -s "$f" ]]; then
            err "---- last 30 lines of $f ----"
            tail -n 30 "$f" >&2
        fi
    done
}

# --- installation -----------------------------------------------------------------------------
# Installs Debian's clickhouse-server + clickhouse-client (18.16) when clickhouse-server is missing.
# The package's post-install tries to start a system service on 8123/9000; a policy-rc.d that
# exits 101 forbids that. An existing /usr/sbin/policy-rc.d is left untouched; a temporary one is
# created (and removed again) only when none exists.
install_clickhouse() {
    local -a pkgs=()
    command -v clickhouse-server >/dev/null 2>&1 || pkgs+=(clickhouse-server)
    command -v clickhouse-client >/dev/null 2>&1 || pkgs+=(clickhouse-client)
    [[ ${#pkgs[@]} -gt 0 ]] || return 0
    command -v curl >/dev/null 2>&1 || pkgs+=(curl)   # handy for /ping; optional (see http_get)

    local sudo=""
    if [[ "$(id -u)" -ne 0 ]]; then
        command -v sudo >/dev/null 2>&1 || { err "need root (or sudo) to install ${pkgs[*]}"; exit 1; }
        sudo="sudo"
    fi

    local policy=/usr/sbin/policy-rc.d created_policy=0
    if [[ ! -e "$policy" ]]; then
        printf '#!/bin/sh\n# temporary, written by alphastocks scripts/clickhouse.sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
        $sudo chmod 755 "$policy"
        created_policy=1
    fi

    log "installing ${pkgs[*]} via apt (this takes ~20-60 s)"
    local t0=$SECONDS rc=0
    {
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q &&
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${pkgs[@]}"
    } || rc=$?

    if [[ $created_policy -eq 1 ]]; then
        $sudo rm -f "$policy"
    fi
    if [[ $rc -ne 0 ]]; then
        err "apt-get failed (exit $rc)"
        exit 1
    fi
    # (18.16's clickhouse-server has no --version option; the client reports the same version.)
    log "installed in $((SECONDS - t0)) s: $(clickhouse-client --version 2>/dev/null | head -n1 || true)"
}

# --- configuration ----------------------------------------------------------------------------
# Writes config.xml + users.xml into $DIR. Every path the server writes to lives under $DIR, so
# nothing touches /var/lib/clickhouse or /etc/clickhouse-server.
write_config() {
    mkdir -p "$DIR"/{data,tmp,user_files,format_schemas,log}
    cat >"$CONFIG" <<EOF
<?xml version="1.0"?>
<!-- Generated by scripts/clickhouse.sh; rewritten on every start. -->
<yandex>
    <logger>
        <level>information</level>
        <log>$SERVER_LOG</log>
        <errorlog>$SERVER_ERR</errorlog>
        <size>100M</size>
        <count>3</count>
    </logger>

    <listen_host>$HOST</listen_host>
    <http_port>$HTTP_PORT</http_port>
    <tcp_port>$TCP_PORT</tcp_port>

    <path>$DIR/data/</path>
    <tmp_path>$DIR/tmp/</tmp_path>
    <user_files_path>$DIR/user_files/</user_files_path>
    <format_schema_path>$DIR/format_schemas/</format_schema_path>
    <users_config>$USERS</users_config>

    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>

    <max_connections>1024</max_connections>
    <keep_alive_timeout>3</keep_alive_timeout>
    <max_concurrent_queries>100</max_concurrent_queries>
    <uncompressed_cache_size>1073741824</uncompressed_cache_size>
    <mark_cache_size>536870912</mark_cache_size>
</yandex>
EOF
    cat >"$USERS" <<'EOF'
<?xml version="1.0"?>
<!-- Generated by scripts/clickhouse.sh; rewritten on every start. -->
<yandex>
    <profiles>
        <default>
            <!-- LowCardinality is experimental on 18.16; harmless (obsolete) on newer servers. -->
            <allow_experimental_low_cardinality_type>1</allow_experimental_low_cardinality_type>
        </default>
    </profiles>

    <users>
        <default>
            <password></password>
            <networks>
                <ip>127.0.0.1</ip>
                <ip>::1</ip>
            </networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>

    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
EOF
}

# --- commands ---------------------------------------------------------------------------------
cmd_start() {
    local pid log_start=0
    if pid="$(our_pid)"; then
        if ping_ok; then
            log "already running (pid $pid) on http://$HOST:$HTTP_PORT tcp $HOST:$TCP_PORT, version $(server_version)"
            return 0
        fi
        log "our server (pid $pid) is alive but not answering yet; waiting"
    elif ping_ok; then
        # Something else (not started by this script) answers on the port: reuse it.
        log "a ClickHouse server not started by this script already answers on http://$HOST:$HTTP_PORT (version $(server_version)); reusing it"
        return 0
    else
        rm -f "$PID_FILE"     # stale pid file, if any
        install_clickhouse
        write_config
        # The server log is appended to across runs; remember where this run starts so readiness
        # can require this run's "Ready for connections." line (see below).
        log_start=$(( $( (cat "$SERVER_LOG" 2>/dev/null || true) | wc -l) + 1 ))
        # nohup + stdin from /dev/null: the server outlives this script; all output goes to the log.
        nohup clickhouse-server --config-file="$CONFIG" </dev/null >>"$SERVER_OUT" 2>&1 &
        pid=$!
        echo "$pid" >"$PID_FILE"
        log "started clickhouse-server (pid $pid), waiting up to ${START_TIMEOUT_S} s for /ping"
    fi

    local deadline=$((SECONDS + START_TIMEOUT_S))
    while ((SECONDS < deadline)); do
        # Ready = /ping answers AND (for a fresh start) this run logged "Ready for connections.",
        # which it does only after binding every port. /ping alone is not enough: HTTP comes up
        # first, and the server still exits ~1 s later if the TCP port is taken.
        if ping_ok && { ((log_start == 0)) ||
                        tail -n "+$log_start" "$SERVER_LOG" 2>/dev/null | grep -q 'Ready for connections'; }; then
            log "ready: http://$HOST:$HTTP_PORT  tcp $HOST:$TCP_PORT  version $(server_version)  dir $DIR  pid $pid"
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            err "clickhouse-server (pid $pid) exited during startup"
            rm -f "$PID_FILE"
            print_log_tail
            exit 1
        fi
        sleep 0.2
    done
    err "clickhouse-server (pid $pid) did not answer /ping within ${START_TIMEOUT_S} s (left running; use '$0 stop')"
    print_log_tail
    exit 1
}

cmd_stop() {
    local pid
    if ! pid="$(our_pid)"; then
        if [[ -f "$PID_FILE" ]]; then
            log "removing stale pid file $PID_FILE"
            rm -f "$PID_FILE"
        fi
        log "not running"
        return 0
    fi
    log "stopping clickhouse-server (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + STOP_TIMEOUT_S))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
        sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "still alive after ${STOP_TIMEOUT_S} s; sending SIGKILL to pid $pid"
        kill -KILL "$pid" 2>/dev/null || true
        sleep 0.5
    fi
    rm -f "$PID_FILE"
    log "stopped"
}

cmd_status() {
    local pid
    if pid="$(our_pid)"; then
        if ping_ok; then
            echo "running (pid $pid) http://$HOST:$HTTP_PORT tcp $HOST:$TCP_PORT version $(server_version)"
            return 0
        fi
        echo "running (pid $pid) but not answering /ping on http://$HOST:$HTTP_PORT"
        return 4
    fi
    if ping_ok; then
        echo "running (not started by this script) http://$HOST:$HTTP_PORT version $(server_version)"
        return 0
    fi
    echo "stopped"
    return 3
}

case "${1:-}" in
    start)  cmd_start ;;
    stop)   cmd_stop ;;
    status) cmd_status ;;
    *)      echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
