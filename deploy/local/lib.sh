# Shared shell functions for deploy/local scripts. Source it; do not run it.

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
LOCAL_DIR="$REPO_ROOT/.local"

say() { printf '%s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

APT_UPDATED=0
apt_install() {
    command -v apt-get >/dev/null 2>&1 || die "apt-get not found: install $* by hand"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    if [ "$APT_UPDATED" -eq 0 ]; then
        $sudo apt-get update -qq >/dev/null || die "apt-get update failed"
        APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null || die "apt-get install $* failed"
}

# Prints the absolute path of a working nats-server binary, or nothing.
find_nats_server() {
    local candidate scripts
    if [ -n "${YUETAN_NATS_SERVER:-}" ] && "$YUETAN_NATS_SERVER" --version >/dev/null 2>&1; then
        echo "$YUETAN_NATS_SERVER"; return 0
    fi
    scripts="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))' 2>/dev/null || true)"
    for candidate in "$scripts/nats-server" /root/.pyenv/versions/*/bin/nats-server "$(command -v nats-server 2>/dev/null || true)" /usr/bin/nats-server /usr/local/bin/nats-server; do
        if [ -n "$candidate" ] && [ -x "$candidate" ] && "$candidate" --version >/dev/null 2>&1; then
            echo "$candidate"; return 0
        fi
    done
    return 1
}

# Prints the folder holding initdb and postgres (newest Debian version), or nothing.
find_pg_bin() {
    local dir
    if [ -n "${YUETAN_PG_BIN:-}" ] && [ -x "$YUETAN_PG_BIN/initdb" ]; then
        echo "$YUETAN_PG_BIN"; return 0
    fi
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4 -n -r); do
        if [ -x "$dir/initdb" ] && [ -x "$dir/postgres" ]; then
            echo "$dir"; return 0
        fi
    done
    return 1
}

# Runs a command as the postgres user when we are root (PostgreSQL refuses root).
as_pg_user() {
    if [ "$(id -u)" -eq 0 ]; then
        setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"
    else
        "$@"
    fi
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") >/dev/null 2>&1; }

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
