#!/usr/bin/env bash
# Brings Yuetan up on this machine and runs a sample case through it:
#   1. installs what is missing (install.sh);
#   2. starts nats-server with JetStream (127.0.0.1, data in .local/nats);
#   3. starts PostgreSQL (127.0.0.1, data in .local/pg) and creates database `yuetan`;
#   4. builds the `yuetan` command;
#   5. runs `yuetan demo`: events through the outbox, JetStream and a consumer.
# Options: --serve also leaves `yuetan serve all` running (log in .local/yuetan.log).
# Environment: YUETAN_NATS_PORT (4222), YUETAN_PG_PORT (5432);
#              YUETAN_UP_SKIP_DEMO=1 stops after step 3.
# Idempotent: what already runs is left running. Stop with down.sh.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SERVE=0
for arg in "$@"; do
    case "$arg" in
        --serve) SERVE=1 ;;
        *) die "unknown option $arg (known: --serve)" ;;
    esac
done

NATS_PORT="${YUETAN_NATS_PORT:-4222}"
PG_PORT="${YUETAN_PG_PORT:-5432}"
mkdir -p "$LOCAL_DIR/nats" "$LOCAL_DIR/pg"

"$REPO_ROOT/deploy/local/install.sh"
NATS="$(find_nats_server)" || die "nats-server not found after install"
PG_BIN="$(find_pg_bin)" || die "PostgreSQL not found after install"

# --- NATS ---------------------------------------------------------------
if pid_alive "$LOCAL_DIR/nats.pid"; then
    say "nats: already running (pid $(cat "$LOCAL_DIR/nats.pid"))"
else
    port_open "$NATS_PORT" && die "port $NATS_PORT is taken by another program; set YUETAN_NATS_PORT"
    nohup "$NATS" -c "$REPO_ROOT/deploy/local/nats-server.conf" -a 127.0.0.1 -p "$NATS_PORT" -m 0 \
        -sd "$LOCAL_DIR/nats" >>"$LOCAL_DIR/nats.log" 2>&1 &
    echo $! >"$LOCAL_DIR/nats.pid"
    for _ in $(seq 1 100); do port_open "$NATS_PORT" && break; sleep 0.1; done
    port_open "$NATS_PORT" || die "nats-server did not start; see $LOCAL_DIR/nats.log"
    say "nats: started on 127.0.0.1:$NATS_PORT (pid $(cat "$LOCAL_DIR/nats.pid"))"
fi

# --- PostgreSQL ---------------------------------------------------------
PG_DATA="$LOCAL_DIR/pg/data"
if [ "$(id -u)" -eq 0 ]; then chown -R postgres:postgres "$LOCAL_DIR/pg"; fi
if [ ! -f "$PG_DATA/PG_VERSION" ]; then
    as_pg_user "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$LOCAL_DIR/initdb.log" 2>&1 \
        || die "initdb failed; see $LOCAL_DIR/initdb.log"
    say "postgres: initialised $PG_DATA"
fi
if pid_alive "$LOCAL_DIR/pg.pid"; then
    say "postgres: already running (pid $(cat "$LOCAL_DIR/pg.pid"))"
else
    port_open "$PG_PORT" && die "port $PG_PORT is taken by another program; set YUETAN_PG_PORT"
    PG_AS=()
    if [ "$(id -u)" -eq 0 ]; then PG_AS=(setpriv --reuid=postgres --regid=postgres --init-groups --); fi
    # setpriv execs postgres, so $! is the postmaster's pid.
    nohup "${PG_AS[@]}" "$PG_BIN/postgres" -D "$PG_DATA" -p "$PG_PORT" -h 127.0.0.1 -k "$LOCAL_DIR/pg" \
        >>"$LOCAL_DIR/postgres.log" 2>&1 &
    echo $! >"$LOCAL_DIR/pg.pid"
    for _ in $(seq 1 150); do "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" && break; sleep 0.2; done
    "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" || die "postgres did not start; see $LOCAL_DIR/postgres.log"
    say "postgres: started on 127.0.0.1:$PG_PORT (pid $(cat "$LOCAL_DIR/pg.pid"))"
fi
if [ -z "$("$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'yuetan'")" ]; then
    "$PG_BIN/psql" -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -c "CREATE DATABASE yuetan" || die "cannot create database yuetan"
    say "postgres: created database yuetan"
fi

export YUETAN_DATABASE__URL="postgres://postgres@127.0.0.1:$PG_PORT/yuetan"
export YUETAN_NATS__URL="nats://127.0.0.1:$NATS_PORT"
if [ "${YUETAN_UP_SKIP_DEMO:-0}" = "1" ]; then
    say "up: servers running; demo skipped (YUETAN_UP_SKIP_DEMO=1)"
    exit 0
fi

# --- Yuetan -------------------------------------------------------------
cd "$REPO_ROOT"
say "build: cargo build --bin yuetan"
cargo build --quiet --bin yuetan
YUETAN="$REPO_ROOT/target/debug/yuetan"
CONFIG="$REPO_ROOT/deploy/local/yuetan.toml"

say "demo: yuetan demo"
"$YUETAN" --config "$CONFIG" demo

if [ "$SERVE" -eq 1 ]; then
    if pid_alive "$LOCAL_DIR/yuetan.pid"; then
        say "yuetan: already serving (pid $(cat "$LOCAL_DIR/yuetan.pid"))"
    else
        nohup "$YUETAN" --config "$CONFIG" serve all >>"$LOCAL_DIR/yuetan.log" 2>&1 &
        echo $! >"$LOCAL_DIR/yuetan.pid"
        sleep 1
        pid_alive "$LOCAL_DIR/yuetan.pid" || die "yuetan serve all exited; see $LOCAL_DIR/yuetan.log"
        say "yuetan: serving gRPC on 127.0.0.1:50051 (pid $(cat "$LOCAL_DIR/yuetan.pid"), log $LOCAL_DIR/yuetan.log)"
        say "try:   TOKEN=\$($YUETAN --config $CONFIG token issue --officer o1 --name 张三 --organ 620102-SJ --division 620102 --roles case_officer)"
    fi
fi
