#!/usr/bin/env bash
# Two nodes on this machine, set up the way two operators would do it: the Thai
# node th-msdhs and the Lao node la-molsw each run `init`, hand over their signed
# descriptor, read its fingerprint to the other side, register each other with
# `peer add`, serve, and check the mutual-TLS link both ways.
#
#   scripts/two-nodes.sh [--dir DIR] [--exit]
#
# --exit stops both nodes after the check instead of serving until Ctrl-C.
# Ports: federation 7443/7444 and desk 8080/8081 (MITTAPHAP_PORT_BASE moves them).
set -euo pipefail
cd "$(dirname "$0")/.."

dir="" exit_after=0
while [ $# -gt 0 ]; do
    case "$1" in
        --dir) dir="$2"; shift 2 ;;
        --exit) exit_after=1; shift ;;
        *) echo "usage: $0 [--dir DIR] [--exit]" >&2; exit 2 ;;
    esac
done
[ -n "$dir" ] || dir=$(mktemp -d -t mittaphap-XXXXXX)
base=${MITTAPHAP_PORT_BASE:-0}

echo "== building"
cargo build --release --locked -q
m=target/release/mittaphap

echo "== 1. each operator creates a node"
$m init --dir "$dir/th-msdhs" --node-id th-msdhs --country TH --name "MSDHS shelter, Thailand" \
    --federation-addr "127.0.0.1:$((7443 + base))" --desk-addr "127.0.0.1:$((8080 + base))"
$m init --dir "$dir/la-molsw" --node-id la-molsw --country LA --name "MoLSW reception, Lao PDR" \
    --federation-addr "127.0.0.1:$((7444 + base))" --desk-addr "127.0.0.1:$((8081 + base))"

echo "== 2. they exchange descriptors, and read the fingerprints to each other out of band"
$m descriptor --dir "$dir/th-msdhs" > "$dir/th-msdhs.json"
$m descriptor --dir "$dir/la-molsw" > "$dir/la-molsw.json"
fp_th=$($m descriptor --dir "$dir/th-msdhs" --fingerprint)
fp_la=$($m descriptor --dir "$dir/la-molsw" --fingerprint)
echo "th-msdhs reads out: $fp_th"
echo "la-molsw reads out: $fp_la"

echo "== 3. each registers the other, checking the fingerprint it was told"
$m peer add --dir "$dir/th-msdhs" "$dir/la-molsw.json" --fingerprint "$fp_la"
$m peer add --dir "$dir/la-molsw" "$dir/th-msdhs.json" --fingerprint "$fp_th"
$m peer list --dir "$dir/th-msdhs"

echo "== 4. both serve"
pids=()
stop() { [ ${#pids[@]} -gt 0 ] && kill -TERM "${pids[@]}" 2>/dev/null; wait; }
trap stop EXIT INT TERM
for n in th-msdhs la-molsw; do
    $m serve --dir "$dir/$n" > "$dir/$n.out" 2> "$dir/$n.log" &
    pids+=($!)
done
for n in th-msdhs la-molsw; do
    for _ in $(seq 1 100); do grep -q '^desk:' "$dir/$n.out" 2>/dev/null && break; sleep 0.1; done
    sed "s/^/$n /" "$dir/$n.out"
done

echo "== 5. each checks the link to the other over mutual TLS"
$m peer check --dir "$dir/th-msdhs" --peer la-molsw
$m peer check --dir "$dir/la-molsw" --peer th-msdhs

echo "Node folders: $dir (logs in $dir/*.log)"
if [ "$exit_after" = 1 ]; then exit 0; fi
echo "Serving until Ctrl-C."
wait
