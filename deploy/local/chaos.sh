#!/usr/bin/env bash
# The fault-injection run (issue 14, docs/reliability.md): builds `yuetan`
# and `yuetan-chaos`, then runs yuetan-chaos, which starts its own
# PostgreSQL and nats-server on ephemeral ports in a temporary folder, the
# split deployment as child processes (platform, portal, two replicas of
# each consumer-driven service), drives lifecycles while it SIGKILLs random
# processes, lets relays abort between publish and mark, restarts
# PostgreSQL and NATS, injects poison events; then checks the invariants.
# Exit status non-zero on any breach.
#
# Usage: deploy/local/chaos.sh [--short|--long] [--cluster] [yuetan-chaos options…]
#   --short    the CI form (about 3 minutes of faults, at least 10 kills)
#   --long     the long form (at least 100 kills); writes its result to
#              target/chaos-long.md (docs/reliability.md quotes it)
#   --cluster  three nats-servers clustered on loopback (stream replicas 3);
#              the stream leader is the NATS server killed
#   --seed N   replay a run's faults (the seed is printed first)
#   --keep     keep the temporary folder (logs, data)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

YUETAN_NATS_SERVER="$(find_nats_server)" || die "nats-server not found (deploy/local/install.sh installs it)"
YUETAN_PG_BIN="$(find_pg_bin)" || die "PostgreSQL not found (deploy/local/install.sh installs it)"
export YUETAN_NATS_SERVER YUETAN_PG_BIN

cd "$REPO_ROOT"
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
say "build: cargo build -p yuetan --bin yuetan; cargo build -p yuetan-chaos --bin yuetan-chaos"
cargo build --locked -p yuetan --bin yuetan
cargo build --locked -p yuetan-chaos --bin yuetan-chaos
TARGET="${CARGO_TARGET_DIR:-$REPO_ROOT/target}"

args=()
for arg in "$@"; do
    case "$arg" in
        --long) args+=(--long --report "$TARGET/chaos-long.md") ;;
        *) args+=("$arg") ;;
    esac
done
# ${args[@]+…}: no arguments is not an unbound variable under set -u.
exec "$TARGET/debug/yuetan-chaos" --yuetan "$TARGET/debug/yuetan" --config "$REPO_ROOT/deploy/local/yuetan.toml" ${args[@]+"${args[@]}"}
