#!/usr/bin/env bash
# Brings Yuetan up on this machine and runs a sample case through it:
#   1. installs what is missing (install.sh);
#   2. starts nats-server with JetStream on 127.0.0.1 (data in .local/nats,
#      pid and log in .local/nats.pid, .local/nats.log);
#   3. starts PostgreSQL on 127.0.0.1 (cluster in .local/pg/data, socket and
#      log in .local/pg, trust authentication for local connections, superuser
#      `postgres`), the roles `yuetan_owner` (owns the database, runs the
#      migrations) and `yuetan_app` (the services run as it), and the
#      database `yuetan`;
#   3b. starts Janus (the WebRTC gateway of video interviews) on 127.0.0.1
#      with only the HTTP transport (port 7088, admin API off), only the
#      VideoRoom plugin (admin_key from yuetan.toml) and only the sample HTTP
#      event handler, which posts joins and leaves to the portal
#      (http://127.0.0.1:7400/callbacks/janus, Basic authentication with the
#      portal's janus_event_user/password); configuration generated from
#      deploy/local/janus/*.jcfg.in into .local/janus/conf, recordings in
#      .local/janus/recordings, pid and log in .local/janus.{pid,log}; a
#      running one is kept unless its configuration changed;
#   4. builds the `yuetan` command and the provider peers (cargo build --bin
#      yuetan --bin yuetan-peers) and starts the peers (SMS gateway, e-gov
#      platform, SMTP server; pid and log in .local/peers.{pid,log});
#   5. starts `yuetan serve all` in the background (gRPC on 127.0.0.1:50051,
#      the portal on 127.0.0.1:7400; pid and log in .local/yuetan.{pid,log}),
#      restarting a running one;
#   6. runs `yuetan demo case`: a sample party and clue through verification
#      to a case submitted for review, passed by the legal reviewer and
#      approved by the deputy leader; then the interview planned, the notice
#      numbered, reviewed, sealed and served by SMS and e-mail with delivery
#      receipts; the outline issued; the video interview held on the local
#      Janus (the party and both interviewers join through Janus's HTTP API)
#      with two rectification items; the record signed by the officers and,
#      on a tablet, by the party; printing the numbers, the notice's and the
#      record's PDFs, the evidence, who was present and the events.
#
# With --split, steps 5 and 6 run the platform as a province does: every
# service as its own processes instead of one `yuetan serve all` (which is
# stopped if it runs) — `yuetan serve platform` once, and `intake`,
# `review`, `scheduling`, `rectification`, `supervision`, `portal` twice
# each, all started at once (two replicas of a service migrate its schema
# together; PostgreSQL's advisory locks make them take turns). Pid and log of
# each in .local/split/<service>-<replica>.{pid,log}; a running split
# deployment is restarted on the new build. Ports (lib.sh, split_plan):
#      service        gRPC           metrics      HTTP
#      platform       25051          9451
#      intake         25061, 25062   9461, 9462
#      review         25063, 25064   9463, 9464
#      scheduling     25065, 25066   9465, 9466
#      rectification  25067, 25068   9467, 9468
#      supervision    25069, 25070   9469, 9470
#      portal         25071, 25072   9471, 9472   7400, 7410
#   given to each process as YUETAN_GRPC__LISTEN, YUETAN_METRICS__LISTEN
#   (Prometheus text on /metrics) and YUETAN_PORTAL__LISTEN; the first
#   portal keeps 7400, where links, the peers' reports and Janus's events
#   go. The demo then reaches each service's two processes through
#   [client] endpoints (YUETAN_CLIENT__ENDPOINTS__<SERVICE>='["http://…", …]';
#   the case-file service is supervision's, the platform's own calls go to
#   `serve platform`), also written to .local/split/client.env for other tools
#   (`set -a; . .local/split/client.env; set +a`).
#
# Usage: deploy/local/up.sh [--split]      (from any folder)
#
# Environment:
#   YUETAN_NATS_PORT=4222        NATS client port
#   YUETAN_NATS_HTTP_PORT=8222   NATS monitoring port
#   YUETAN_PG_PORT=5432          PostgreSQL port
#   YUETAN_JANUS_PORT=7088       Janus HTTP API port
#   YUETAN_JANUS, YUETAN_JANUS_LIB  the janus binary, the folder of its modules
#   YUETAN_UP_SKIP_DEMO=1        stop after step 3b (servers only: no build, no yuetan, no demo)
#   YUETAN_GRPC__LISTEN, YUETAN_DATABASE__URL, ...  override deploy/local/yuetan.toml
#                                (with --split, each process's listen addresses are the plan's)
#
# Idempotent: what already runs is left running. Stop with deploy/local/down.sh.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SPLIT=0
for arg in "$@"; do
    case "$arg" in
        --serve) ;;   # the server always stays up now; accepted for old scripts
        --split) SPLIT=1 ;;
        -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) die "unknown option $arg" ;;
    esac
done

check_port() {
    case "$2" in
        ''|*[!0-9]*) die "$1=$2 is not a port number" ;;
    esac
    if [ "$2" -lt 1 ] || [ "$2" -gt 65535 ]; then die "$1=$2 is not a port number"; fi
}
NATS_PORT="${YUETAN_NATS_PORT:-4222}"
NATS_HTTP_PORT="${YUETAN_NATS_HTTP_PORT:-8222}"
PG_PORT="${YUETAN_PG_PORT:-5432}"
check_port YUETAN_NATS_PORT "$NATS_PORT"
check_port YUETAN_NATS_HTTP_PORT "$NATS_HTTP_PORT"
JANUS_PORT="${YUETAN_JANUS_PORT:-7088}"
check_port YUETAN_PG_PORT "$PG_PORT"
check_port YUETAN_JANUS_PORT "$JANUS_PORT"
CONFIG="$REPO_ROOT/deploy/local/yuetan.toml"

# --- 1. Install ---------------------------------------------------------------
"$REPO_ROOT/deploy/local/install.sh"
NATS="$(find_nats_server)" || die "nats-server not found after install.sh"
PG_BIN="$(find_pg_bin)" || die "PostgreSQL not found after install.sh"
PSQL="$(pg_tool psql)" || die "psql not found after install.sh"
PG_ISREADY="$(pg_tool pg_isready)" || die "pg_isready not found after install.sh"
JANUS="$(find_janus)" || die "janus not found after install.sh (or set YUETAN_JANUS)"
JANUS_LIB="$(find_janus_lib)" || die "Janus's modules (plugins/libjanus_videoroom.so) not found; apt-get install janus, or set YUETAN_JANUS_LIB"
mkdir -p "$LOCAL_DIR/nats"

# Before starting anything: the ports of the servers that are not running yet
# must be free (each step checks again before it starts its server).
if ! pid_alive "$LOCAL_DIR/nats.pid" nats-server; then
    orphans="$(pids_with_arg "-sd $LOCAL_DIR/nats" | paste -sd ' ')"
    [ -z "$orphans" ] || die "a nats-server of this checkout runs without its pid file (pid $orphans); run deploy/local/down.sh first"
    port_open "$NATS_PORT" && die "port $NATS_PORT (NATS) is taken by another program; choose another with YUETAN_NATS_PORT=<port>"
    port_open "$NATS_HTTP_PORT" && die "port $NATS_HTTP_PORT (NATS monitoring) is taken by another program; choose another with YUETAN_NATS_HTTP_PORT=<port>"
fi
pg_data_now="$(readlink -f "$LOCAL_DIR/pg" 2>/dev/null || true)/data"   # .local/pg may be a link
if ! { [ -f "$pg_data_now/postmaster.pid" ] \
    && as_pg_user "$PG_BIN/pg_ctl" status -D "$pg_data_now" >/dev/null 2>&1; }; then
    port_open "$PG_PORT" && die "port $PG_PORT (PostgreSQL) is taken by another program; choose another with YUETAN_PG_PORT=<port>"
fi
JANUS_PID_FILE="$LOCAL_DIR/janus.pid"
JANUS_DIR="$LOCAL_DIR/janus"
JANUS_NEEDLE="$JANUS_DIR/conf/janus.jcfg"   # on the command line of a Janus of this checkout
if ! pid_alive "$JANUS_PID_FILE" janus; then
    orphans="$(pids_with_arg "$JANUS_NEEDLE" | paste -sd ' ')"
    [ -z "$orphans" ] || die "a janus of this checkout runs without its pid file (pid $orphans); run deploy/local/down.sh first"
    port_open "$JANUS_PORT" && die "port $JANUS_PORT (Janus) is taken by another program; choose another with YUETAN_JANUS_PORT=<port>"
fi

# --- 2. NATS --------------------------------------------------------------------
NATS_PID_FILE="$LOCAL_DIR/nats.pid"
NATS_LOG="$LOCAL_DIR/nats.log"
nats_healthy() {
    pid_alive "$NATS_PID_FILE" nats-server || return 99
    [ "$(http_status "$NATS_HTTP_PORT" /healthz)" = "200" ] && port_open "$NATS_PORT"
}
if pid_alive "$NATS_PID_FILE" nats-server; then
    running="$(cat "$LOCAL_DIR/nats.ports" 2>/dev/null || echo "$NATS_PORT $NATS_HTTP_PORT")"
    read -r running_port running_http <<<"$running"
    if [ "$running_port" != "$NATS_PORT" ]; then
        warn "nats-server already runs on port $running_port, not $NATS_PORT; using it (down.sh, then up.sh, to change)"
    fi
    NATS_PORT="$running_port"
    NATS_HTTP_PORT="$running_http"
    say "nats: already running on 127.0.0.1:$NATS_PORT (pid $(cat "$NATS_PID_FILE"))"
else
    rm -f "$NATS_PID_FILE" "$LOCAL_DIR/nats.ports"
    orphans="$(pids_with_arg "-sd $LOCAL_DIR/nats" | paste -sd ' ')"
    [ -z "$orphans" ] || die "a nats-server of this checkout runs without its pid file (pid $orphans); run deploy/local/down.sh first"
    port_open "$NATS_PORT" && die "port $NATS_PORT (NATS) is taken by another program; choose another with YUETAN_NATS_PORT=<port>"
    port_open "$NATS_HTTP_PORT" && die "port $NATS_HTTP_PORT (NATS monitoring) is taken by another program; choose another with YUETAN_NATS_HTTP_PORT=<port>"
    nats_args=(-c "$REPO_ROOT/deploy/local/nats-server.conf" -a 127.0.0.1 -p "$NATS_PORT" -sd "$LOCAL_DIR/nats")
    [ -z "${YUETAN_NATS_HTTP_PORT:-}" ] || nats_args+=(-m "$NATS_HTTP_PORT")
    printf '\n=== %s: %s %s\n' "$(date -u +%FT%TZ)" "$NATS" "${nats_args[*]}" >>"$NATS_LOG"
    nohup "$NATS" "${nats_args[@]}" >>"$NATS_LOG" 2>&1 </dev/null &
    echo $! >"$NATS_PID_FILE"
    echo "$NATS_PORT $NATS_HTTP_PORT" >"$LOCAL_DIR/nats.ports"
    if ! wait_for 30 nats_healthy; then
        tail -n 20 "$NATS_LOG" >&2
        pid_alive "$NATS_PID_FILE" nats-server && kill "$(cat "$NATS_PID_FILE")" 2>/dev/null
        rm -f "$NATS_PID_FILE" "$LOCAL_DIR/nats.ports"
        die "nats-server did not start (or did not become healthy within 30 s); log: $NATS_LOG"
    fi
    say "nats: started on 127.0.0.1:$NATS_PORT with JetStream (pid $(cat "$NATS_PID_FILE"), monitoring 127.0.0.1:$NATS_HTTP_PORT, log $NATS_LOG)"
fi

# --- 3. PostgreSQL ------------------------------------------------------------
# The cluster lives in .local/pg. As root, PostgreSQL runs as `postgres`, which
# must be able to reach that folder; when it cannot (a parent such as /root is
# closed to others) or the socket path would be too long for Unix sockets,
# .local/pg becomes a link to a folder under /var/tmp (down.sh --purge removes both).
pg_home_usable() {
    as_pg_user test -w "$1" -a -x "$1" 2>/dev/null && [ "${#1}" -le 90 ]
}
if [ -L "$LOCAL_DIR/pg" ]; then
    PG_HOME="$(readlink -f "$LOCAL_DIR/pg")"
    mkdir -p "$PG_HOME"
else
    mkdir -p "$LOCAL_DIR/pg"
    PG_HOME="$LOCAL_DIR/pg"
fi
if is_root; then chown postgres:postgres "$PG_HOME"; fi
if ! pg_home_usable "$PG_HOME"; then
    if [ -e "$PG_HOME/data" ]; then
        die "PostgreSQL cannot use $PG_HOME (not writable for it, or the path is too long for its socket); fix it or run down.sh --purge"
    fi
    fallback="/var/tmp/yuetan-$(id -u)-$(printf '%s' "$REPO_ROOT" | cksum | cut -d ' ' -f 1)"
    mkdir -p "$fallback/pg"
    chmod 755 "$fallback"
    if is_root; then chown postgres:postgres "$fallback/pg"; fi
    rmdir "$LOCAL_DIR/pg" 2>/dev/null || rm -f "$LOCAL_DIR/pg"
    ln -s "$fallback/pg" "$LOCAL_DIR/pg"
    PG_HOME="$fallback/pg"
    pg_home_usable "$PG_HOME" || die "PostgreSQL cannot use $PG_HOME either"
    say "postgres: $LOCAL_DIR/pg is not reachable for PostgreSQL; using $PG_HOME (linked from .local/pg)"
fi
case "$PG_HOME" in *"'"*) die "the path $PG_HOME contains a single quote, which PostgreSQL options cannot carry" ;; esac
PG_DATA="$PG_HOME/data"
PG_LOG="$PG_HOME/postgres.log"
# The split deployment's 13 processes each keep a pool (database.max_connections,
# 16) and a status pool (2): more than PostgreSQL's default 100 at full load.
PG_MAX_CONNECTIONS=300

if [ ! -f "$PG_DATA/PG_VERSION" ]; then
    initdb_log="$(mktemp)"
    if ! as_pg_user "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --auth-local=trust --auth-host=trust \
        --encoding=UTF8 --locale=C.UTF-8 >"$initdb_log" 2>&1 </dev/null; then
        cat "$initdb_log" >&2
        rm -f "$initdb_log"
        die "initdb failed for $PG_DATA"
    fi
    rm -f "$initdb_log"
    say "postgres: initialised $PG_DATA ($(pg_version "$PG_BIN"))"
fi

if as_pg_user "$PG_BIN/pg_ctl" status -D "$PG_DATA" >/dev/null 2>&1; then
    running_port="$(sed -n 4p "$PG_DATA/postmaster.pid" 2>/dev/null || true)"
    if [ -n "$running_port" ] && [ "$running_port" != "$PG_PORT" ]; then
        warn "PostgreSQL already runs on port $running_port, not $PG_PORT; using it (down.sh, then up.sh, to change)"
        PG_PORT="$running_port"
    fi
    say "postgres: already running on 127.0.0.1:$PG_PORT (pid $(head -n 1 "$PG_DATA/postmaster.pid"))"
else
    port_open "$PG_PORT" && die "port $PG_PORT (PostgreSQL) is taken by another program; choose another with YUETAN_PG_PORT=<port>"
    if ! as_pg_user "$PG_BIN/pg_ctl" start -D "$PG_DATA" -l "$PG_LOG" -w -t 60 -s \
        -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories='$PG_HOME' -c max_connections=$PG_MAX_CONNECTIONS" </dev/null; then
        tail -n 20 "$PG_LOG" >&2 || true
        die "PostgreSQL did not start; log: $PG_LOG"
    fi
    say "postgres: started on 127.0.0.1:$PG_PORT (pid $(head -n 1 "$PG_DATA/postmaster.pid"), socket dir $PG_HOME, log $PG_LOG)"
fi
head -n 1 "$PG_DATA/postmaster.pid" >"$LOCAL_DIR/pg.pid"
wait_for 30 "$PG_ISREADY" -q -h 127.0.0.1 -p "$PG_PORT" \
    || die "PostgreSQL does not accept connections on 127.0.0.1:$PG_PORT; log: $PG_LOG"

psql_admin() { "$PSQL" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres "$@" </dev/null; }
psql_yuetan() { "$PSQL" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres -d yuetan "$@" </dev/null; }
# The two roles of deploy/local/yuetan.toml (docs/security.md): the migration
# owner owns the database and every table; the services run as the app role,
# which the services grant only what it needs at start (on the audit log:
# read, and append through audit_append).
psql_admin -c "DO \$\$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$DB_OWNER') THEN
        CREATE ROLE $DB_OWNER LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$DB_APP') THEN
        CREATE ROLE $DB_APP LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT;
    END IF;
END \$\$" || die "cannot create the roles $DB_OWNER and $DB_APP"
if [ "$(psql_admin -tAc "SELECT 1 FROM pg_database WHERE datname = 'yuetan'")" = "1" ]; then
    say "postgres: database yuetan exists"
else
    psql_admin -c "CREATE DATABASE yuetan OWNER $DB_OWNER" || die "cannot create database yuetan"
    say "postgres: created database yuetan (owner $DB_OWNER)"
fi
# A database made by an earlier up.sh belongs to `postgres`, and so do its
# schemas and tables: hand them to the owner role (idempotent).
psql_admin -c "ALTER DATABASE yuetan OWNER TO $DB_OWNER" || die "cannot give database yuetan to $DB_OWNER"
psql_yuetan -c "$(reassign_to_owner_sql "$DB_OWNER" postgres "$DB_APP")" \
    || die "cannot hand the objects of database yuetan to $DB_OWNER"

# yuetan.toml assumes the default ports; follow the ones actually used.
if [ -n "${YUETAN_PG_PORT:-}" ] || [ "$PG_PORT" != 5432 ]; then
    export YUETAN_DATABASE__URL="postgres://$DB_APP@127.0.0.1:$PG_PORT/yuetan"
    export YUETAN_DATABASE__OWNER_URL="postgres://$DB_OWNER@127.0.0.1:$PG_PORT/yuetan"
fi
if [ -n "${YUETAN_NATS_PORT:-}" ] || [ "$NATS_PORT" != 4222 ]; then
    export YUETAN_NATS__URL="nats://127.0.0.1:$NATS_PORT"
fi
say "ready: NATS nats://127.0.0.1:$NATS_PORT, PostgreSQL postgres://$DB_APP@127.0.0.1:$PG_PORT/yuetan (migrations as $DB_OWNER)"

# --- 3b. Janus ------------------------------------------------------------------
# Its settings come from yuetan.toml (or the YUETAN_... variables that
# override it), so Janus and the platform agree: the VideoRoom admin_key,
# the portal's address and its Janus event credentials.
JANUS_LOG="$LOCAL_DIR/janus.log"
config_value() {   # ENV_NAME SECTION KEY: the environment's value, else yuetan.toml's
    if [ -n "${!1:-}" ]; then printf '%s\n' "${!1}"; else toml_string "$CONFIG" "$2" "$3"; fi
}
janus_admin_key="$(config_value YUETAN_SCHEDULING__VIDEO__JANUS__ADMIN_KEY scheduling.video.janus admin_key)" \
    || die "$CONFIG has no [scheduling.video.janus] admin_key"
portal_listen="$(config_value YUETAN_PORTAL__LISTEN portal listen)" || die "$CONFIG has no [portal] listen"
janus_event_user="$(config_value YUETAN_PORTAL__JANUS_EVENT_USER portal janus_event_user)" \
    || die "$CONFIG has no [portal] janus_event_user"
janus_event_password="$(config_value YUETAN_PORTAL__JANUS_EVENT_PASSWORD portal janus_event_password)" \
    || die "$CONFIG has no [portal] janus_event_password"
case "$portal_listen" in 0.0.0.0:*) portal_listen="127.0.0.1:${portal_listen##*:}" ;; esac
janus_backend="http://$portal_listen/callbacks/janus"

# The configuration of this run, rendered next to the running one: a
# running Janus is kept when nothing changed, restarted otherwise.
if pid_alive "$JANUS_PID_FILE" janus; then
    running_port="$(cat "$LOCAL_DIR/janus.port" 2>/dev/null || echo "$JANUS_PORT")"
    if [ -z "${YUETAN_JANUS_PORT:-}" ]; then JANUS_PORT="$running_port"; fi
fi
mkdir -p "$JANUS_DIR/recordings"
render_janus_config "$JANUS_DIR" "$JANUS_DIR/conf.next" "$JANUS_PORT" "$janus_admin_key" "$janus_backend" "$janus_event_user" "$janus_event_password"
janus_healthy() {   # no name check: right after the start, nohup may not have exec'd janus yet
    pid_alive "$JANUS_PID_FILE" || return 99
    [ "$(http_status "$JANUS_PORT" /janus/info)" = "200" ]
}
janus_same_config() {
    [ -d "$JANUS_DIR/conf" ] && diff -r "$JANUS_DIR/conf" "$JANUS_DIR/conf.next" >/dev/null 2>&1 \
        && [ "$(cat "$LOCAL_DIR/janus.port" 2>/dev/null)" = "$JANUS_PORT" ]
}
if pid_alive "$JANUS_PID_FILE" janus && janus_same_config && janus_healthy; then
    rm -rf "$JANUS_DIR/conf.next"
    say "janus: already running on 127.0.0.1:$JANUS_PORT (pid $(cat "$JANUS_PID_FILE"))"
else
    if pid_alive "$JANUS_PID_FILE" janus; then
        old="$(cat "$JANUS_PID_FILE")"
        kill -TERM "$old" 2>/dev/null || true
        janus_stopped() { ! pid_alive "$JANUS_PID_FILE" janus; }
        wait_for 30 janus_stopped || die "the running janus (pid $old) did not stop within 30 s"
        say "janus: stopped the running one (pid $old): its configuration changed or it did not answer"
    fi
    rm -f "$JANUS_PID_FILE" "$LOCAL_DIR/janus.port"
    orphans="$(pids_with_arg "$JANUS_NEEDLE" | paste -sd ' ')"
    [ -z "$orphans" ] || die "a janus of this checkout runs without its pid file (pid $orphans); run deploy/local/down.sh first"
    port_open "$JANUS_PORT" && die "port $JANUS_PORT (Janus) is taken by another program; choose another with YUETAN_JANUS_PORT=<port>"
    rm -rf "$JANUS_DIR/conf"
    mv "$JANUS_DIR/conf.next" "$JANUS_DIR/conf"
    link_janus_modules "$JANUS_DIR" "$JANUS_LIB"
    janus_args=(-C "$JANUS_DIR/conf/janus.jcfg" -F "$JANUS_DIR/conf" -o)
    printf '\n=== %s: %s %s\n' "$(date -u +%FT%TZ)" "$JANUS" "${janus_args[*]}" >>"$JANUS_LOG"
    (cd "$JANUS_DIR" && exec nohup "$JANUS" "${janus_args[@]}" >>"$JANUS_LOG" 2>&1 </dev/null) &
    echo $! >"$JANUS_PID_FILE"
    echo "$JANUS_PORT" >"$LOCAL_DIR/janus.port"
    if ! wait_for 30 janus_healthy; then
        tail -n 20 "$JANUS_LOG" >&2
        pid_alive "$JANUS_PID_FILE" && kill "$(cat "$JANUS_PID_FILE")" 2>/dev/null
        rm -f "$JANUS_PID_FILE" "$LOCAL_DIR/janus.port"
        die "janus did not start (or did not answer GET /janus/info within 30 s); log: $JANUS_LOG"
    fi
    say "janus: started on 127.0.0.1:$JANUS_PORT (pid $(cat "$JANUS_PID_FILE"), VideoRoom, events to $janus_backend, log $JANUS_LOG)"
fi
# The platform creates rooms on it, recording into the absolute folder Janus writes.
export YUETAN_SCHEDULING__VIDEO__JANUS__RECORDINGS_DIR="$JANUS_DIR/recordings"
if [ -n "${YUETAN_JANUS_PORT:-}" ] || [ "$JANUS_PORT" != 7088 ]; then
    export YUETAN_SCHEDULING__VIDEO__JANUS__URL="http://127.0.0.1:$JANUS_PORT/janus"
fi

if [ "${YUETAN_UP_SKIP_DEMO:-0}" = "1" ]; then
    say "YUETAN_UP_SKIP_DEMO=1: not building, no demo; stop the servers with deploy/local/down.sh"
    exit 0
fi

# --- 4. Build -------------------------------------------------------------------
cd "$REPO_ROOT"
say "build: cargo build --bin yuetan --bin yuetan-peers"
cargo build --bin yuetan --bin yuetan-peers
YUETAN_BIN="${CARGO_TARGET_DIR:-$REPO_ROOT/target}/debug/yuetan"
PEERS_BIN="${CARGO_TARGET_DIR:-$REPO_ROOT/target}/debug/yuetan-peers"
[ -x "$YUETAN_BIN" ] || die "cargo build finished but $YUETAN_BIN is missing"
[ -x "$PEERS_BIN" ] || die "cargo build finished but $PEERS_BIN is missing"

# --- 4b. Provider peers -------------------------------------------------------------
# The local stand-ins of the world's channels (deploy/local/yuetan.toml points
# scheduling at them): an SMS gateway shaped like Alibaba Cloud's (port 7401),
# an e-gov delivery platform (7402), a real SMTP server (aiosmtpd, 7425);
# reports and acknowledgements go to the portal (7400). Pid and log in
# .local/peers.{pid,log}; a running one is restarted.
PEERS_PID_FILE="$LOCAL_DIR/peers.pid"
PEERS_LOG="$LOCAL_DIR/peers.log"
if pid_alive "$PEERS_PID_FILE" yuetan-peers; then
    old="$(cat "$PEERS_PID_FILE")"
    kill -TERM "$old" 2>/dev/null || true
    peers_stopped() { ! pid_alive "$PEERS_PID_FILE" yuetan-peers; }
    wait_for 30 peers_stopped || die "the running yuetan-peers (pid $old) did not stop within 30 s"
fi
rm -f "$PEERS_PID_FILE"
for port in 7401 7402 7425; do
    port_open "$port" && die "port $port (provider peers) is taken by another program"
done
printf '\n=== %s: yuetan-peers\n' "$(date -u +%FT%TZ)" >>"$PEERS_LOG"
nohup "$PEERS_BIN" --sms-port 7401 --egov-port 7402 --smtp-port 7425 --callback-base http://127.0.0.1:7400 >>"$PEERS_LOG" 2>&1 </dev/null &
echo $! >"$PEERS_PID_FILE"
peers_listening() { pid_alive "$PEERS_PID_FILE" || return 99; port_open 7401 && port_open 7402 && port_open 7425; }
wait_for 30 peers_listening || { tail -n 20 "$PEERS_LOG" >&2; die "yuetan-peers did not start; log: $PEERS_LOG"; }
say "peers: SMS gateway :7401, e-gov platform :7402, SMTP :7425 (pid $(cat "$PEERS_PID_FILE"), log $PEERS_LOG)"

# --- 5s. Serve split (--split) ------------------------------------------------------
# Every service as its own processes (the plan: lib.sh's split_plan); the
# demo (6s) then goes through them. A running `yuetan serve all` holds the
# platform's and the portal's ports: it is stopped first.
YUETAN_PID_FILE="$LOCAL_DIR/yuetan.pid"
if [ "$SPLIT" -eq 1 ]; then
    if pid_alive "$YUETAN_PID_FILE" yuetan; then
        stop_pid "yuetan serve all" "$(cat "$YUETAN_PID_FILE")" TERM 30
    fi
    rm -f "$YUETAN_PID_FILE"
    mkdir -p "$SPLIT_DIR"
    stop_split
    running_max="$(psql_admin -tAc "SHOW max_connections" 2>/dev/null || echo 0)"
    if [ "${running_max:-0}" -lt 250 ]; then
        warn "PostgreSQL allows $running_max connections (started by an older up.sh); 13 processes may need more under load: down.sh, then up.sh --split, restarts it with $PG_MAX_CONNECTIONS"
    fi
    while read -r name replica grpc metrics http; do
        for port in "$grpc" "$metrics" "$http"; do
            [ "$port" = - ] && continue
            port_open "$port" && die "port $port ($name-$replica) is taken by another program (a yuetan whose pid file was lost? deploy/local/down.sh stops those)"
        done
    done < <(split_plan)
    started="$(date +%s.%N)"
    while read -r name replica grpc metrics http; do
        log="$SPLIT_DIR/$name-$replica.log"
        http_note=""
        [ "$http" = - ] || http_note=", HTTP 127.0.0.1:$http"
        printf '\n=== %s: yuetan serve %s (replica %s: gRPC 127.0.0.1:%s, metrics 127.0.0.1:%s%s)\n' \
            "$(date -u +%FT%TZ)" "$name" "$replica" "$grpc" "$metrics" "$http_note" >>"$log"
        (
            export YUETAN_GRPC__LISTEN="127.0.0.1:$grpc" YUETAN_METRICS__LISTEN="127.0.0.1:$metrics"
            [ "$http" = - ] || export YUETAN_PORTAL__LISTEN="127.0.0.1:$http"
            exec nohup "$YUETAN_BIN" --config "$CONFIG" serve "$name" >>"$log" 2>&1 </dev/null
        ) &
        echo $! >"$SPLIT_DIR/$name-$replica.pid"
    done < <(split_plan)
    split_listening() {   # every process alive and listening
        local name replica grpc _metrics http
        while read -r name replica grpc _metrics http; do
            pid_alive "$SPLIT_DIR/$name-$replica.pid" || { failed="$name-$replica"; return 99; }
            port_open "$grpc" || return 1
            [ "$http" = - ] || port_open "$http" || return 1
        done < <(split_plan)
    }
    failed=""
    if ! wait_for 180 split_listening; then
        if [ -n "$failed" ]; then
            tail -n 30 "$SPLIT_DIR/$failed.log" >&2
            stop_split
            die "yuetan serve ${failed%-*} (replica ${failed##*-}) exited at start; log: $SPLIT_DIR/$failed.log"
        fi
        stop_split
        die "the split deployment did not listen on every port within 180 s; logs: $SPLIT_DIR/*.log"
    fi
    say "split: $(split_plan | wc -l) processes listening after $(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s:"
    while read -r name replica grpc metrics http; do
        http_note=""
        [ "$http" = - ] || http_note=", HTTP 127.0.0.1:$http"
        say "  $(printf '%-15s' "$name-$replica") pid $(cat "$SPLIT_DIR/$name-$replica.pid"), gRPC 127.0.0.1:$grpc, metrics 127.0.0.1:$metrics$http_note, log .local/split/$name-$replica.log"
    done < <(split_plan)

    # --- 6s. Sample case through the separate processes ---------------------------
    # Each service's endpoints for the demo's router ([client] endpoints):
    # both replicas of a service; the platform's own calls (WhoAmI,
    # GetStatus) to `serve platform`. (The portal serves no gRPC API of its own.)
    : >"$SPLIT_DIR/client.env"
    for service in platform intake review scheduling rectification supervision; do
        urls="$(split_plan | awk -v s="$service" '$1 == s { printf "%s\"http://127.0.0.1:%s\"", (n++ ? "," : ""), $3 }')"
        var="YUETAN_CLIENT__ENDPOINTS__$(printf '%s' "$service" | tr '[:lower:]' '[:upper:]')"
        export "$var=[$urls]"
        printf "%s='%s'\n" "$var" "[$urls]" >>"$SPLIT_DIR/client.env"
    done
    say "demo: $YUETAN_BIN --config $CONFIG demo case   (each service's calls to its two processes: .local/split/client.env)"
    demo_started="$(date +%s.%N)"
    "$YUETAN_BIN" --config "$CONFIG" demo case </dev/null \
        || die "the sample case failed (logs: $SPLIT_DIR/*.log, $NATS_LOG, $PG_LOG)"
    say "demo: done through the separate processes in $(awk -v a="$demo_started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s; they keep running"
    say "stop with: $REPO_ROOT/deploy/local/down.sh"
    exit 0
fi
# Without --split: a running split deployment holds the portal's port.
if [ -n "$(ls "$SPLIT_DIR"/*.pid 2>/dev/null)" ]; then
    stop_split
fi

# --- 5. Serve -------------------------------------------------------------------
# `yuetan serve all` runs in the background (pid and log in .local/yuetan.{pid,log})
# and stays up after this script; a running one is restarted, so the platform
# always runs the binary just built.
YUETAN_LOG="$LOCAL_DIR/yuetan.log"
GRPC_LISTEN="${YUETAN_GRPC__LISTEN:-127.0.0.1:50051}"
GRPC_PORT="${GRPC_LISTEN##*:}"
if pid_alive "$YUETAN_PID_FILE" yuetan; then
    old="$(cat "$YUETAN_PID_FILE")"
    kill -TERM "$old" 2>/dev/null || true
    stopped() { ! pid_alive "$YUETAN_PID_FILE" yuetan; }
    wait_for 30 stopped || die "the running yuetan (pid $old) did not stop within 30 s"
    say "yuetan: stopped the running server (pid $old) to start the new build"
fi
rm -f "$YUETAN_PID_FILE"
port_open "$GRPC_PORT" && die "port $GRPC_PORT (gRPC) is taken by another program; choose another with YUETAN_GRPC__LISTEN=127.0.0.1:<port>"
printf '\n=== %s: yuetan serve all\n' "$(date -u +%FT%TZ)" >>"$YUETAN_LOG"
nohup "$YUETAN_BIN" --config "$CONFIG" serve all >>"$YUETAN_LOG" 2>&1 </dev/null &
echo $! >"$YUETAN_PID_FILE"
# (no process name check here: right after the start, nohup may not have exec'd yuetan yet)
yuetan_listening() { pid_alive "$YUETAN_PID_FILE" || return 99; port_open "$GRPC_PORT"; }
if ! wait_for 60 yuetan_listening; then
    tail -n 30 "$YUETAN_LOG" >&2
    pid_alive "$YUETAN_PID_FILE" yuetan && kill "$(cat "$YUETAN_PID_FILE")" 2>/dev/null
    rm -f "$YUETAN_PID_FILE"
    die "yuetan serve all did not start listening on $GRPC_LISTEN; log: $YUETAN_LOG"
fi
say "yuetan: serving gRPC on $GRPC_LISTEN (pid $(cat "$YUETAN_PID_FILE"), log $YUETAN_LOG)"

# --- 6. Sample case ---------------------------------------------------------------
say "demo: $YUETAN_BIN --config $CONFIG demo case --server http://$GRPC_LISTEN"
"$YUETAN_BIN" --config "$CONFIG" demo case --server "http://$GRPC_LISTEN" </dev/null \
    || die "the sample case failed (logs: $YUETAN_LOG, $NATS_LOG, $PG_LOG)"
say "demo: done; the platform keeps running"
console_listen="$(config_value YUETAN_CONSOLE__LISTEN console listen || true)"
if [ -n "$console_listen" ]; then
    say "console: http://$console_listen/  (development sign-in: pick 张承办, 李审核 or 王局长 on the sign-in page; the sample case is under 我的工作 and 督办看板)"
fi
say "a token: $YUETAN_BIN --config $CONFIG token issue --officer o1 --name 张三 --organ 620102-SJ --division 620102 --roles case_officer"
say "stop with: $REPO_ROOT/deploy/local/down.sh"
