# shellcheck shell=bash
# Shared shell functions for the deploy/local scripts. Source it; do not run it.
#
#   REPO_ROOT, LOCAL_DIR       the repository root and its .local/ folder
#   say / warn / die           logging (die exits 1)
#   apt_install PKG...         apt-get install (apt-get update once per run)
#   find_nats_server           absolute path of a working nats-server binary
#   find_pg_bin                folder holding initdb, postgres and pg_ctl
#   pg_tool NAME               absolute path of a PostgreSQL client tool (psql, pg_isready)
#   as_pg_user CMD...          runs CMD as `postgres` when we are root
#   pid_alive FILE [COMM]      the pid in FILE runs (and its name is COMM)
#   port_open PORT             something accepts TCP connections on 127.0.0.1:PORT
#   http_status PORT PATH      HTTP status code of GET 127.0.0.1:PORT PATH (no curl)
#   wait_for SECONDS CMD...    retries CMD until it succeeds
#   DB_OWNER, DB_APP           the database roles of yuetan.toml (migrations, services)
#   reassign_to_owner_sql OWNER FROM...  SQL giving OWNER the schemas, tables,
#                              sequences and functions that roles FROM own
#   toml_string FILE SECTION KEY  the string value of KEY in [SECTION] of FILE
#   find_janus / find_janus_lib   the janus binary; the folder of its modules
#   render_janus_config DIR OUT PORT ADMIN_KEY BACKEND USER PASSWORD
#                              writes Janus's configuration for DIR into OUT
#                              (from deploy/local/janus/*.jcfg.in)
#   link_janus_modules DIR LIB the module folders of DIR: only the three modules
#   SPLIT_DIR, split_plan      the split deployment's processes (up.sh --split):
#                              one line each, "name replica grpc metrics http"
#   stop_pid NAME PID SIGNAL SECONDS  signals PID, waits, then SIGKILLs it
#   wait_exit NAME PID SIGNAL SECONDS the waiting half of stop_pid
#   stop_split                 stops every process of the split deployment

# shellcheck disable=SC2034  # used by the scripts that source this file
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck disable=SC2034
LOCAL_DIR="$REPO_ROOT/.local"
YUETAN_SCRIPT="$(basename "$0" .sh)"
# shellcheck disable=SC2034
DB_OWNER=yuetan_owner
# shellcheck disable=SC2034
DB_APP=yuetan_app

say()  { printf '%s: %s\n' "$YUETAN_SCRIPT" "$*"; }
warn() { printf '%s: warning: %s\n' "$YUETAN_SCRIPT" "$*" >&2; }
die()  { printf '%s: error: %s\n' "$YUETAN_SCRIPT" "$*" >&2; exit 1; }

is_root() { [ "$(id -u)" -eq 0 ]; }

# Runs "$@", keeping its output in a temporary file that is shown only when it fails.
quietly() {
    local out rc=0
    out="$(mktemp)"
    "$@" >"$out" 2>&1 </dev/null || rc=$?
    if [ "$rc" -ne 0 ]; then
        tail -n 30 "$out" >&2
    fi
    rm -f "$out"
    return "$rc"
}

APT_UPDATED=0
apt_install() {
    command -v apt-get >/dev/null 2>&1 || die "apt-get not found: install $* by hand"
    local sudo=()
    if ! is_root; then
        command -v sudo >/dev/null 2>&1 || die "installing $* needs root (or sudo)"
        sudo=(sudo)
    fi
    if [ "$APT_UPDATED" -eq 0 ]; then
        quietly "${sudo[@]}" apt-get update || die "apt-get update failed"
        APT_UPDATED=1
    fi
    quietly "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" \
        || die "apt-get install $* failed"
}

# A candidate path is usable when it runs and answers --version.
nats_works() { [ -n "$1" ] && [ -f "$1" ] && [ -x "$1" ] && "$1" --version >/dev/null 2>&1; }

# Prints the absolute path of a working nats-server binary (not a pyenv shim):
# $YUETAN_NATS_SERVER, PATH, pip's scripts folders, pyenv's versions, /usr/bin.
find_nats_server() {
    local candidate onpath scripts userbase
    if [ -n "${YUETAN_NATS_SERVER:-}" ]; then
        if nats_works "$YUETAN_NATS_SERVER"; then
            readlink -f "$YUETAN_NATS_SERVER"; return 0
        fi
        warn "YUETAN_NATS_SERVER=$YUETAN_NATS_SERVER does not run; looking elsewhere"
    fi
    onpath="$(command -v nats-server 2>/dev/null || true)"
    if [ -n "$onpath" ]; then
        case "$onpath" in
            */shims/*)   # a pyenv shim: ask pyenv for the real file
                onpath="$(pyenv which nats-server 2>/dev/null || true)" ;;
            *)
                onpath="$(readlink -f "$onpath")" ;;
        esac
    fi
    scripts="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))' 2>/dev/null || true)"
    userbase="$(python3 -m site --user-base 2>/dev/null || true)"
    for candidate in "$onpath" "${scripts:+$scripts/nats-server}" "${userbase:+$userbase/bin/nats-server}" \
        /root/.pyenv/versions/*/bin/nats-server /usr/local/bin/nats-server /usr/bin/nats-server; do
        if nats_works "$candidate"; then
            readlink -f "$candidate"
            return 0
        fi
    done
    return 1
}

nats_version() { "$1" --version 2>&1 | head -n 1; }

# Prints the folder holding initdb, postgres and pg_ctl: $YUETAN_PG_BIN, the
# newest /usr/lib/postgresql/<version>/bin, or the folder of initdb on PATH.
find_pg_bin() {
    local dir initdb
    if [ -n "${YUETAN_PG_BIN:-}" ]; then
        if [ -x "$YUETAN_PG_BIN/initdb" ] && [ -x "$YUETAN_PG_BIN/postgres" ]; then
            (cd "$YUETAN_PG_BIN" && pwd -P); return 0
        fi
        warn "YUETAN_PG_BIN=$YUETAN_PG_BIN has no initdb/postgres; looking elsewhere"
    fi
    while IFS= read -r dir; do
        if [ -x "$dir/initdb" ] && [ -x "$dir/postgres" ] && [ -x "$dir/pg_ctl" ]; then
            echo "$dir"; return 0
        fi
    done < <(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V -r)
    initdb="$(command -v initdb 2>/dev/null || true)"
    if [ -n "$initdb" ]; then
        dir="$(dirname "$(readlink -f "$initdb")")"
        if [ -x "$dir/postgres" ] && [ -x "$dir/pg_ctl" ]; then
            echo "$dir"; return 0
        fi
    fi
    return 1
}

pg_version() { "$1/postgres" --version 2>&1 | head -n 1; }

# Prints the path of a PostgreSQL client tool, preferring the server's folder.
pg_tool() {
    local bin
    bin="$(find_pg_bin 2>/dev/null || true)"
    if [ -n "$bin" ] && [ -x "$bin/$1" ]; then
        echo "$bin/$1"; return 0
    fi
    command -v "$1" 2>/dev/null
}

# Runs a command as the postgres user when we are root (PostgreSQL refuses root).
as_pg_user() {
    if is_root; then
        setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"
    else
        "$@"
    fi
}

# True when FILE holds the pid of a live process (named COMM, if given; this
# guards against a stale pid file whose number the kernel has reused).
pid_alive() {
    local file="$1" comm="${2:-}" pid
    [ -f "$file" ] || return 1
    pid="$(head -n 1 "$file" 2>/dev/null || true)"
    case "$pid" in ''|*[!0-9]*) return 1 ;; esac
    kill -0 "$pid" 2>/dev/null || return 1
    if [ -n "$comm" ] && [ -r "/proc/$pid/comm" ]; then
        [ "$(cat "/proc/$pid/comm")" = "$comm" ] || return 1
    fi
    return 0
}

# Pids of processes whose command line contains STRING (used to find a server
# of ours whose pid file was lost; STRING is a path inside this repository).
pids_with_arg() {
    local needle="$1" proc pid cmd
    for proc in /proc/[0-9]*; do
        pid="${proc#/proc/}"
        [ "$pid" = "$$" ] && continue
        cmd="$(tr '\0' ' ' 2>/dev/null <"$proc/cmdline" || true)"
        case "$cmd" in *"$needle"*) echo "$pid" ;; esac
    done
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") >/dev/null 2>&1; }

http_status() {
    local port="$1" path="$2"
    (
        exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
        printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' "$path" >&3
        IFS=' ' read -r -t 3 _ code _ <&3 || exit 1
        echo "$code"
    ) 2>/dev/null
}

# Waits up to SECONDS for "$@" to succeed; gives up at once when it returns 99
# (by convention: the process being waited for has died).
wait_for() {
    local seconds="$1" i rc
    shift
    for ((i = 0; i <= seconds * 5; i++)); do
        rc=0
        "$@" || rc=$?
        [ "$rc" -eq 0 ] && return 0
        [ "$rc" -eq 99 ] && return 99
        sleep 0.2
    done
    return "$rc"
}

# Prints one SQL statement (a DO block) that gives OWNER every schema, table,
# view, sequence and function outside the system schemas owned by one of the
# FROM roles. REASSIGN OWNED cannot take objects from the bootstrap superuser
# `postgres`, which earlier up.sh runs used for everything.
reassign_to_owner_sql() {
    local owner="$1" from="" role
    shift
    for role in "$@"; do from="$from${from:+, }'$role'"; done
    cat <<SQL
DO \$\$
DECLARE
    item record;
    owner_role CONSTANT name := '$owner';
BEGIN
    FOR item IN
        SELECT n.nspname FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner
        WHERE r.rolname IN ($from) AND n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'
    LOOP
        EXECUTE format('ALTER SCHEMA %I OWNER TO %I', item.nspname, owner_role);
    END LOOP;
    FOR item IN
        SELECT c.oid::regclass AS rel, c.relkind FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_roles r ON r.oid = c.relowner
        WHERE r.rolname IN ($from) AND n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'
          AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i'))
    LOOP
        EXECUTE format('ALTER %s %s OWNER TO %I',
            CASE item.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'TABLE' END,
            item.rel, owner_role);
    END LOOP;
    FOR item IN
        SELECT p.oid::regprocedure AS fn FROM pg_proc p
        JOIN pg_namespace n ON n.oid = p.pronamespace JOIN pg_roles r ON r.oid = p.proowner
        WHERE r.rolname IN ($from) AND n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'
    LOOP
        EXECUTE format('ALTER ROUTINE %s OWNER TO %I', item.fn, owner_role);
    END LOOP;
END
\$\$
SQL
}

# Prints the value of `KEY = "value"` in [SECTION] of a simple TOML FILE (the
# string forms deploy/local/yuetan.toml uses: basic strings with \" and \\
# escapes); fails when absent.
toml_string() {
    local file="$1" section="$2" key="$3"
    awk -v section="[$section]" -v key="$key" '
        /^[[:space:]]*\[/ { line = $0; sub(/[[:space:]]*(#.*)?$/, "", line); sub(/^[[:space:]]*/, "", line); current = line; next }
        current == section && $0 ~ "^[[:space:]]*" key "[[:space:]]*=" {
            value = $0
            sub(/^[^=]*=[[:space:]]*"/, "", value)
            out = ""
            for (i = 1; i <= length(value); i++) {
                c = substr(value, i, 1)
                if (c == "\\") { i++; out = out substr(value, i, 1); continue }
                if (c == "\"") { print out; found = 1; exit }
                out = out c
            }
        }
        END { exit found ? 0 : 1 }
    ' "$file"
}

# The janus binary: $YUETAN_JANUS, `janus` on PATH, /usr/bin/janus (as the
# tests' JanusPeer looks for it). `janus --version` exits with status 1, so
# "works" means: it is an executable file.
find_janus() {
    local candidate
    for candidate in "${YUETAN_JANUS:-}" "$(command -v janus 2>/dev/null || true)" /usr/bin/janus; do
        if [ -n "$candidate" ] && [ -f "$candidate" ] && [ -x "$candidate" ]; then
            readlink -f "$candidate"; return 0
        fi
    done
    return 1
}

# The folder holding Janus's plugins/, transports/ and events/:
# $YUETAN_JANUS_LIB, Debian's /usr/lib/<multiarch>/janus, /usr/lib/janus,
# /usr/local/lib/janus.
find_janus_lib() {
    local dir
    for dir in "${YUETAN_JANUS_LIB:-}" /usr/lib/*/janus /usr/lib/janus /usr/local/lib/janus /opt/janus/lib/janus; do
        if [ -n "$dir" ] && [ -f "$dir/plugins/libjanus_videoroom.so" ]; then
            echo "$dir"; return 0
        fi
    done
    return 1
}

# A value for a .jcfg file: quoted, with \ and " escaped.
jcfg_quote() {
    local value="${1//\\/\\\\}"
    printf '"%s"' "${value//\"/\\\"}"
}

# Writes Janus's configuration for the folder DIR into OUT (a folder) from
# deploy/local/janus/*.jcfg.in; its paths name DIR/conf and the module
# folders DIR/{plugins,transports,events,loggers} (link_janus_modules).
render_janus_config() {
    local dir="$1" out="$2" port="$3" admin_key="$4" backend="$5" user="$6" password="$7"
    local template text name
    rm -rf "$out"
    mkdir -p "$out"
    chmod 700 "$out"
    for template in "$REPO_ROOT"/deploy/local/janus/*.jcfg.in; do
        name="$(basename "$template" .in)"
        text="$(cat "$template")"
        # Quoted replacements are taken literally (no & or \ expansion).
        text="${text//@CONF@/"$(jcfg_quote "$dir/conf")"}"
        text="${text//@PLUGINS@/"$(jcfg_quote "$dir/plugins")"}"
        text="${text//@TRANSPORTS@/"$(jcfg_quote "$dir/transports")"}"
        text="${text//@EVENTS@/"$(jcfg_quote "$dir/events")"}"
        text="${text//@LOGGERS@/"$(jcfg_quote "$dir/loggers")"}"
        text="${text//@PORT@/"$port"}"
        text="${text//@ADMIN_KEY@/"$(jcfg_quote "$admin_key")"}"
        text="${text//@BACKEND@/"$(jcfg_quote "$backend")"}"
        text="${text//@USER@/"$(jcfg_quote "$user")"}"
        text="${text//@PASSWORD@/"$(jcfg_quote "$password")"}"
        printf '%s\n' "$text" >"$out/$name"
    done
}

# Makes DIR/{plugins,transports,events} hold a symlink to the one module of
# each kind Janus is to load (VideoRoom, HTTP, the sample event handler) from
# LIB, so nothing else installed is loaded; DIR/loggers stays empty.
link_janus_modules() {
    local dir="$1" lib="$2" kind module
    for kind in plugins:libjanus_videoroom.so transports:libjanus_http.so events:libjanus_sampleevh.so; do
        module="${kind#*:}"
        kind="${kind%%:*}"
        [ -f "$lib/$kind/$module" ] || die "$lib/$kind/$module is missing: apt-get install janus, or set YUETAN_JANUS_LIB"
        rm -rf "${dir:?}/$kind"
        mkdir -p "$dir/$kind"
        ln -s "$lib/$kind/$module" "$dir/$kind/$module"
    done
    rm -rf "${dir:?}/loggers"
    mkdir -p "$dir/loggers"
}

# --- The split deployment (up.sh --split) -------------------------------------
# Each service as its own processes: the platform once, every consumer-driven
# service twice. Pid and log of each in .local/split/<name>-<replica>.{pid,log}.
# shellcheck disable=SC2034
SPLIT_DIR="$LOCAL_DIR/split"

# The port plan, one process a line: name, replica, gRPC port, metrics port
# (Prometheus text on /metrics), the portal's HTTP port ("-": none). gRPC
# ports are 250xx (the last two digits those of the production plan's 500xx,
# deploy/production/yuetan.toml); a process's metrics port is 94xx with the
# same last two digits. All stay below Linux's ephemeral range (32768-60999):
# a port in it can be held at any moment by some program's outgoing
# connection (a first run met 50068 taken that way). The first portal keeps
# 7400, where the links, the provider peers and Janus's event handler point.
split_plan() {
    cat <<'PLAN'
platform      1 25051 9451 -
intake        1 25061 9461 -
intake        2 25062 9462 -
review        1 25063 9463 -
review        2 25064 9464 -
scheduling    1 25065 9465 -
scheduling    2 25066 9466 -
rectification 1 25067 9467 -
rectification 2 25068 9468 -
supervision   1 25069 9469 -
supervision   2 25070 9470 -
portal        1 25071 9471 7400
portal        2 25072 9472 7410
PLAN
}

# Sends SIGNAL to PID, waits up to SECONDS for it to exit, then SIGKILLs it.
stop_pid() {
    local name="$1" pid="$2" signal="$3" seconds="$4"
    kill "-$signal" "$pid" 2>/dev/null || return 0
    wait_exit "$name" "$pid" "$signal" "$seconds"
}

# Waits up to SECONDS for PID (sent SIGNAL already) to exit, then SIGKILLs it.
wait_exit() {
    local name="$1" pid="$2" signal="$3" seconds="$4" i
    for ((i = 0; i < seconds * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || { say "$name: stopped (pid $pid)"; return 0; }
        sleep 0.1
    done
    warn "$name (pid $pid) did not stop within $seconds s after SIG$signal; killing it"
    kill -KILL "$pid" 2>/dev/null || true
}

# Stops every process of the split deployment whose pid file is in
# .local/split: SIGTERM to all at once (each drains its calls, then its
# background tasks), then waits up to 30 s for each. (down.sh also stops
# any `yuetan serve` of this checkout whose pid file was lost.)
stop_split() {
    local name replica _rest pidfile pid pids=() labels=() i
    while read -r name replica _rest; do
        pidfile="$SPLIT_DIR/$name-$replica.pid"
        if pid_alive "$pidfile" yuetan; then
            pids+=("$(head -n 1 "$pidfile")")
            labels+=("$name-$replica")
        fi
        rm -f "$pidfile"
    done < <(split_plan)
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for i in "${!pids[@]}"; do
        wait_exit "${labels[$i]}" "${pids[$i]}" TERM 30
    done
}
