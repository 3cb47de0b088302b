#!/usr/bin/env bash
# Checks the three-node NATS configuration of this folder on one machine:
# copies nats-1.conf, nats-2.conf and nats-3.conf into a temporary folder
# with the production hosts and paths replaced by loopback ones (client
# ports 14221-14223, routes 16221-16223, monitoring 18221-18223, stores and
# throwaway TLS certificates in the folder), tests each with
# `nats-server -t`, starts the three, and waits until they form one cluster
# with a JetStream meta leader and report "sync_always": true. Then, unless
# --no-stop, stops them and deletes the folder.
#
# Usage: deploy/production/check-nats.sh [--no-stop]
#   --no-stop  leave the cluster running (its folder and pids are printed)
#              to point a yuetan at it, e.g.
#              YUETAN_NATS__URL=nats://yuetan:check@127.0.0.1:14221,nats://yuetan:check@127.0.0.1:14222,nats://yuetan:check@127.0.0.1:14223
#              YUETAN_NATS__REPLICAS=3
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../local/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../local/lib.sh"

STOP=1
for arg in "$@"; do
    case "$arg" in
        --no-stop) STOP=0 ;;
        -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) die "unknown option $arg" ;;
    esac
done

NATS="$(find_nats_server)" || die "nats-server not found (deploy/local/install.sh installs it)"
command -v openssl >/dev/null 2>&1 || die "openssl is needed for the throwaway certificates"
DIR="$(mktemp -d /tmp/yuetan-nats-check.XXXXXX)"
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$DIR"
}
if [ "$STOP" -eq 1 ]; then trap cleanup EXIT; fi
say "$(nats_version "$NATS"); folder $DIR"

# A CA and one certificate per node, naming the host the routes use.
mkdir -p "$DIR/tls"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj "/CN=yuetan-check-ca" \
    -keyout "$DIR/tls/ca.key" -out "$DIR/tls/ca.crt" >/dev/null 2>&1 || die "openssl: the CA"
for n in 1 2 3; do
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=nats-$n" \
        -keyout "$DIR/tls/nats-$n.key" -out "$DIR/tls/nats-$n.csr" >/dev/null 2>&1 || die "openssl: nats-$n's key"
    printf 'subjectAltName=IP:127.0.0.1,DNS:nats-%s.yuetan.internal\nextendedKeyUsage=serverAuth,clientAuth\n' "$n" >"$DIR/tls/nats-$n.ext"
    openssl x509 -req -in "$DIR/tls/nats-$n.csr" -CA "$DIR/tls/ca.crt" -CAkey "$DIR/tls/ca.key" -CAcreateserial \
        -days 1 -extfile "$DIR/tls/nats-$n.ext" -out "$DIR/tls/nats-$n.crt" >/dev/null 2>&1 || die "openssl: nats-$n's certificate"
done

for n in 1 2 3; do
    sed -e "s#/etc/nats/tls#$DIR/tls#g" \
        -e "s#/var/lib/nats/jetstream#$DIR/store-$n#" \
        -e "s#0.0.0.0:4222#127.0.0.1:1422$n#" \
        -e "s#0.0.0.0:6222#127.0.0.1:1622$n#" \
        -e "s#127.0.0.1:8222#127.0.0.1:1822$n#" \
        -e "s#max_file_store: 200GB#max_file_store: 1GB#" \
        -e "s#max_memory_store: 1GB#max_memory_store: 64MB#" \
        -e "s#nats-route://nats-\([123]\).yuetan.internal:6222#nats-route://127.0.0.1:1622\1#" \
        "$REPO_ROOT/deploy/production/nats-$n.conf" >"$DIR/nats-$n.conf"
    YUETAN_NATS_PASSWORD=check "$NATS" -c "$DIR/nats-$n.conf" -t >/dev/null 2>&1 \
        || { YUETAN_NATS_PASSWORD=check "$NATS" -c "$DIR/nats-$n.conf" -t >&2 || true; die "nats-$n.conf does not pass nats-server -t"; }
    for port in "1422$n" "1622$n" "1822$n"; do
        port_open "$port" && die "port $port is taken"
    done
done
say "nats-1.conf, nats-2.conf, nats-3.conf pass nats-server -t"

for n in 1 2 3; do
    YUETAN_NATS_PASSWORD=check "$NATS" -c "$DIR/nats-$n.conf" >"$DIR/nats-$n.log" 2>&1 </dev/null &
    PIDS+=("$!")
    echo "$!" >"$DIR/nats-$n.pid"
done

# One cluster: each node routes to the other two, JetStream has a meta
# leader over three peers, and every node syncs each write.
cluster_formed() {
    local n varz jsz
    for n in 1 2 3; do
        kill -0 "${PIDS[$((n - 1))]}" 2>/dev/null || return 99
        [ "$(http_status "1822$n" /healthz)" = "200" ] || return 1
        varz="$(curl -fsS "http://127.0.0.1:1822$n/varz")" || return 1
        jsz="$(curl -fsS "http://127.0.0.1:1822$n/jsz")" || return 1
        grep -q '"sync_always": true' <<<"$varz" || return 1
        [ "$(curl -fsS "http://127.0.0.1:1822$n/routez" | grep -c '"remote_name"')" -ge 2 ] || return 1
        grep -q '"leader"' <<<"$jsz" || return 1
        [ "$(grep -o '"cluster_size": *[0-9]*' <<<"$jsz" | grep -o '[0-9]*$')" = 3 ] || return 1
    done
}
if ! wait_for 60 cluster_formed; then
    for n in 1 2 3; do tail -n 15 "$DIR/nats-$n.log" >&2; done
    die "the three nodes did not form one JetStream cluster within 60 s (logs above)"
fi
leader="$(curl -fsS http://127.0.0.1:18221/jsz | grep -o '"leader": *"[^"]*"' | head -n 1 | sed 's/.*"\([^"]*\)"$/\1/')"
say "cluster yuetan formed: 3 nodes, routes over mutual TLS, JetStream meta leader $leader, sync_always true on each"
if [ "$STOP" -eq 0 ]; then
    say "left running (pids ${PIDS[*]}; stop with: kill ${PIDS[*]}; rm -rf $DIR)"
    say "clients: nats://yuetan:check@127.0.0.1:14221,nats://yuetan:check@127.0.0.1:14222,nats://yuetan:check@127.0.0.1:14223"
fi
