#!/usr/bin/env bash
# Runs every test of the workspace: cargo test --workspace --locked [ARGS...].
# The tests start their own nats-server and PostgreSQL on ephemeral ports and
# in temporary folders (libs/testkit), so this script starts no servers:
# it installs what is missing (install.sh) and tells the harness where the
# binaries are (YUETAN_NATS_SERVER, YUETAN_PG_BIN).
#
# Usage: deploy/local/test.sh [cargo test arguments...]    (from any folder)
#   e.g. deploy/local/test.sh -p yuetan-platform -- outbox
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

"$REPO_ROOT/deploy/local/install.sh"
YUETAN_NATS_SERVER="$(find_nats_server)" || die "nats-server not found after install.sh"
YUETAN_PG_BIN="$(find_pg_bin)" || die "PostgreSQL not found after install.sh"
export YUETAN_NATS_SERVER YUETAN_PG_BIN
say "YUETAN_NATS_SERVER=$YUETAN_NATS_SERVER"
say "YUETAN_PG_BIN=$YUETAN_PG_BIN"

cd "$REPO_ROOT"
say "cargo test --workspace --locked $*"
exec cargo test --workspace --locked "$@"
