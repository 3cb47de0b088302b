#!/usr/bin/env bash
# Stops what up.sh started, in this order: the split deployment's processes
# (up.sh --split: .local/split/*.pid, all signalled at once), `yuetan serve
# all` (and any `yuetan serve` of this checkout whose pid file was lost), the
# provider peers (yuetan-peers), Janus, nats-server,
# PostgreSQL (fast shutdown: open transactions are rolled back, data is kept).
# Idempotent: what is not running is skipped.
#
# Usage: deploy/local/down.sh [--purge]     (from any folder)
#   --purge   also deletes .local/ (the NATS store, the PostgreSQL cluster,
#             Janus's configuration and recordings, logs).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PURGE=0
for arg in "$@"; do
    case "$arg" in
        --purge) PURGE=1 ;;
        -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) die "unknown option $arg (known: --purge)" ;;
    esac
done

# Stops the process in PIDFILE (named COMM) and any process named COMM whose
# command line contains NEEDLE (one of ours whose pid file was lost).
stop_server() {
    local name="$1" pidfile="$2" comm="$3" needle="$4" signal="$5" seconds="$6" pids="" pid
    if pid_alive "$pidfile" "$comm"; then
        pids="$(head -n 1 "$pidfile")"
    fi
    for pid in $(pids_with_arg "$needle"); do
        [ "$(cat "/proc/$pid/comm" 2>/dev/null || true)" = "$comm" ] || continue
        case " $pids " in *" $pid "*) ;; *) pids="$pids $pid" ;; esac
    done
    if [ -z "${pids// /}" ]; then
        say "$name: not running"
    else
        for pid in $pids; do stop_pid "$name" "$pid" "$signal" "$seconds"; done
    fi
    rm -f "$pidfile"
}

if [ -n "$(ls "$SPLIT_DIR"/*.pid 2>/dev/null)" ]; then
    stop_split
else
    say "split deployment: not running"
fi
stop_server yuetan "$LOCAL_DIR/yuetan.pid" yuetan "--config $REPO_ROOT/deploy/local/yuetan.toml serve" TERM 30
stop_server peers "$LOCAL_DIR/peers.pid" yuetan-peers "--callback-base" TERM 10
stop_server janus "$LOCAL_DIR/janus.pid" janus "$LOCAL_DIR/janus/conf/janus.jcfg" TERM 30
rm -f "$LOCAL_DIR/janus.port"
stop_server nats "$LOCAL_DIR/nats.pid" nats-server "-sd $LOCAL_DIR/nats" TERM 30
rm -f "$LOCAL_DIR/nats.ports"

# PostgreSQL: pg_ctl's fast shutdown; the pid file only when pg_ctl is unavailable.
PG_DATA="$(readlink -f "$LOCAL_DIR/pg" 2>/dev/null || echo "$LOCAL_DIR/pg")/data"   # .local/pg may be a link
PG_BIN="$(find_pg_bin 2>/dev/null || true)"
if [ -f "$PG_DATA/postmaster.pid" ] && [ -n "$PG_BIN" ] \
    && as_pg_user "$PG_BIN/pg_ctl" status -D "$PG_DATA" >/dev/null 2>&1; then
    pid="$(head -n 1 "$PG_DATA/postmaster.pid")"
    if as_pg_user "$PG_BIN/pg_ctl" stop -D "$PG_DATA" -m fast -w -t 60 -s </dev/null; then
        say "postgres: stopped (pid $pid)"
    else
        warn "pg_ctl stop failed; sending SIGINT (fast shutdown) to $pid"
        stop_pid postgres "$pid" INT 60
    fi
elif pid_alive "$LOCAL_DIR/pg.pid" postgres; then
    stop_pid postgres "$(head -n 1 "$LOCAL_DIR/pg.pid")" INT 60
else
    say "postgres: not running"
fi
rm -f "$LOCAL_DIR/pg.pid"

if [ "$PURGE" -eq 1 ]; then
    if [ -L "$LOCAL_DIR/pg" ]; then
        # up.sh put the cluster under /var/tmp (see up.sh, step 3).
        target="$(dirname "$(readlink -f "$LOCAL_DIR/pg")")"
        case "$target" in
            /var/tmp/yuetan-*) rm -rf "$target"; say "purged $target" ;;
            *) warn "not deleting $target (.local/pg points there; expected /var/tmp/yuetan-*)" ;;
        esac
    fi
    if [ -e "$LOCAL_DIR" ]; then
        rm -rf "$LOCAL_DIR"
        say "purged $LOCAL_DIR"
    else
        say "nothing to purge ($LOCAL_DIR does not exist)"
    fi
fi
