#!/usr/bin/env bash
# Stops what up.sh started: yuetan serve, nats-server, PostgreSQL (fast
# shutdown). Idempotent. --purge also deletes .local/ (all local data).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PURGE=0
for arg in "$@"; do
    case "$arg" in
        --purge) PURGE=1 ;;
        *) die "unknown option $arg (known: --purge)" ;;
    esac
done

stop() {
    local name="$1" pidfile="$2" signal="$3"
    if pid_alive "$pidfile"; then
        local pid
        pid="$(cat "$pidfile")"
        kill "-$signal" "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
        say "$name: stopped"
    else
        say "$name: not running"
    fi
    rm -f "$pidfile"
}

stop yuetan "$LOCAL_DIR/yuetan.pid" TERM
stop nats "$LOCAL_DIR/nats.pid" TERM
# SIGINT is PostgreSQL's fast shutdown.
stop postgres "$LOCAL_DIR/pg.pid" INT

if [ "$PURGE" -eq 1 ]; then
    rm -rf "$LOCAL_DIR"
    say "purged $LOCAL_DIR"
fi
