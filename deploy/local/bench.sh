#!/usr/bin/env bash
# The whole-lifecycle benchmark (issue 14): builds `yuetan` and `yuetan-bench`
# in release and runs the bench. The bench starts its own split deployment
# (every service as its own processes, on its own PostgreSQL and NATS on
# ephemeral ports, through the chaos crate's spawner), drives whole cases
# from clue to archive through it without faults, measures the tonic +
# one-transaction floor on the same PostgreSQL at the same concurrency,
# samples each service process's resident memory, and rewrites the
# "Whole lifecycle (split deployment)" section of docs/benchmarks.md.
# It does not touch a deployment started by up.sh. Not part of CI or of any test.
#
# Usage: deploy/local/bench.sh [--lifecycles N] [--concurrency C] [--warmup W]
#                              [--floor-secs S] [--idle-secs S] [--doc FILE|-] [--note TEXT]
#   (from any folder; see `yuetan-bench --help`)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

"$REPO_ROOT/deploy/local/install.sh"
YUETAN_NATS_SERVER="$(find_nats_server)" || die "nats-server not found after install.sh"
YUETAN_PG_BIN="$(find_pg_bin)" || die "PostgreSQL not found after install.sh"
export YUETAN_NATS_SERVER YUETAN_PG_BIN

cd "$REPO_ROOT"
say "cargo build --release -p yuetan-chaos -p yuetan"
cargo build --release -p yuetan-chaos -p yuetan
# The spawner runs this build of `yuetan serve …`.
export YUETAN_BIN="$REPO_ROOT/target/release/yuetan"
say "target/release/yuetan-bench $*"
exec "$REPO_ROOT/target/release/yuetan-bench" "$@"
