#!/usr/bin/env bash
# Runs every test of the workspace. The tests start their own nats-server and
# PostgreSQL on ephemeral ports (services/testkit), so this script only makes
# sure both are installed and tells the harness where they are.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

"$REPO_ROOT/deploy/local/install.sh"
YUETAN_NATS_SERVER="$(find_nats_server)" || die "nats-server not found"
YUETAN_PG_BIN="$(find_pg_bin)" || die "PostgreSQL not found"
export YUETAN_NATS_SERVER YUETAN_PG_BIN

cd "$REPO_ROOT"
cargo test --workspace --locked "$@"
