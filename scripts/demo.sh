#!/usr/bin/env bash
# The meshgate demo, inside network namespaces it creates (mg-demo-*), on
# documentation addresses only; it never touches the host's own network.
#
#   mg-demo-a (meshgate)  ── veth 192.0.2.0/24 + 2001:db8:d::/64 ──  mg-demo-b (wireguard-go)
#        tunnel 10.88.0.1, fd00:88::1          ⇄           tunnel 10.88.0.2, fd00:88::2
#
# It brings a meshgate tunnel up against a stock wireguard-go peer, pings
# through it over IPv4 and IPv6, moves data with iperf3, shows both sides'
# status, and removes everything on exit (Ctrl-C, or at the end).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

A=mg-demo-a B=mg-demo-b
WORK=$(mktemp -d /tmp/mg-demo.XXXXXX)
PIDS=()
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
cleanup() {
  set +e
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  sleep 0.5
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
  for ns in $A $B; do ip netns pids $ns 2>/dev/null | xargs -r kill -9 2>/dev/null; done
  ip netns del $A 2>/dev/null; ip netns del $B 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
ip netns del $A 2>/dev/null || true; ip netns del $B 2>/dev/null || true

say "network namespaces $A and $B, joined by a veth on 192.0.2.0/24 and 2001:db8:d::/64"
ip netns add $A; ip netns add $B
ip -n $A link set lo up; ip -n $B link set lo up
ip -n $A link add mg-demo0 type veth peer name mg-demo1 netns $B
ip -n $A addr add 192.0.2.1/24 dev mg-demo0; ip -n $A addr add 2001:db8:d::1/64 dev mg-demo0 nodad
ip -n $B addr add 192.0.2.2/24 dev mg-demo1; ip -n $B addr add 2001:db8:d::2/64 dev mg-demo1 nodad
ip -n $A link set mg-demo0 up; ip -n $B link set mg-demo1 up

say "keys (meshgate genkey / pubkey are interchangeable with wg genkey / pubkey)"
(umask 077; node bin/meshgate.js genkey >"$WORK/a.key"; wg genkey >"$WORK/b.key")
PUB_A=$(node bin/meshgate.js pubkey <"$WORK/a.key"); PUB_B=$(wg pubkey <"$WORK/b.key")
echo "meshgate side:     $PUB_A"
echo "wireguard-go side: $PUB_B"

say "meshgate up mgdemo.conf in $A (a plain wg-quick file)"
umask 077
cat >"$WORK/mgdemo.conf" <<CONF
[Interface]
PrivateKey = $(cat "$WORK/a.key")
ListenPort = 51820
Address = 10.88.0.1/24, fd00:88::1/64

[Peer]
PublicKey = $PUB_B
AllowedIPs = 10.88.0.2/32, fd00:88::2/128
Endpoint = [2001:db8:d::2]:51821
CONF
sed 's/^PrivateKey = .*/PrivateKey = (hidden)/' "$WORK/mgdemo.conf"
ip netns exec $A node bin/meshgate.js up "$WORK/mgdemo.conf" >"$WORK/meshgate.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do grep -q '"event":"ready"' "$WORK/meshgate.log" && break; sleep 0.1; done
grep -q '"event":"ready"' "$WORK/meshgate.log" || { cat "$WORK/meshgate.log"; exit 1; }

say "wireguard-go in $B, configured with wg"
ip netns exec $B env WG_PROCESS_FOREGROUND=1 wireguard-go -f wgdemo >"$WORK/wg.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do [ -S /var/run/wireguard/wgdemo.sock ] && break; sleep 0.1; done
ip netns exec $B wg set wgdemo private-key "$WORK/b.key" listen-port 51821 \
  peer "$PUB_A" allowed-ips 10.88.0.1/32,fd00:88::1/128 endpoint 192.0.2.1:51820
ip -n $B addr add 10.88.0.2/24 dev wgdemo; ip -n $B addr add fd00:88::2/64 dev wgdemo nodad
ip -n $B link set wgdemo mtu 1420 up

say "ping through the tunnel, IPv4 then IPv6 (meshgate → wireguard-go)"
ip netns exec $A ping -c 3 -i 0.3 10.88.0.2
ip netns exec $A ping -6 -c 3 -i 0.3 fd00:88::2

say "iperf3 TCP for 3 s each way through the tunnel"
ip netns exec $B iperf3 -s -1 -D -B 10.88.0.2 >/dev/null; sleep 0.5
ip netns exec $A iperf3 -c 10.88.0.2 -t 3 | grep -E 'sender|receiver'
ip netns exec $B iperf3 -s -1 -D -B 10.88.0.2 >/dev/null; sleep 0.5
ip netns exec $A iperf3 -c 10.88.0.2 -t 3 -R | grep -E 'sender|receiver'

say "meshgate show mgdemo"
ip netns exec $A node bin/meshgate.js show mgdemo
say "wg show wgdemo (the stock peer's view)"
ip netns exec $B wg show wgdemo

say "done: removing the namespaces"
