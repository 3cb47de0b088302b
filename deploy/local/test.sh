#!/usr/bin/env bash
# Runs every test of the workspace: first the proto contract's checks
# (`buf lint proto`, and `buf breaking` against the last stable contract,
# proto/stable.binpb — see proto/README.md), then
# cargo test --workspace --locked [ARGS...], then (without ARGS) the short
# fault-injection run, deploy/local/chaos.sh --short.
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
BUF="$(command -v buf || echo "$(npm prefix -g 2>/dev/null)/bin/buf")"
[ -x "$BUF" ] || die "buf not found after install.sh"
say "buf lint proto"
"$BUF" lint proto || die "buf lint: the proto contract breaks a lint rule (proto/buf.yaml)"
say "buf breaking proto --against proto/stable.binpb"
"$BUF" breaking proto --against proto/stable.binpb \
    || die "buf breaking: the contract is no longer compatible with proto/stable.binpb (see proto/README.md)"
# The property tests (docs/fuzzing.md) draw new inputs on every local run;
# CI draws from one fixed seed, so a red CI is always reproducible
# (PROPTEST_RNG_SEED=… cargo test …) and never a coin toss.
if [ "${CI:-}" = "true" ]; then
    export PROPTEST_RNG_SEED="${PROPTEST_RNG_SEED:-20261126}"
    say "PROPTEST_RNG_SEED=$PROPTEST_RNG_SEED"
fi
say "cargo test --workspace --locked $*"
cargo test --workspace --locked "$@"
# The short fault-injection run (issue 14, docs/reliability.md): about three
# minutes of faults against the split deployment, then the invariants. Only
# for the whole suite (no arguments), as CI runs it.
if [ "$#" -eq 0 ]; then
    say "deploy/local/chaos.sh --short"
    "$REPO_ROOT/deploy/local/chaos.sh" --short
fi
