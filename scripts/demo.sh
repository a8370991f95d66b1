#!/usr/bin/env bash
# The meshgate demo: a gateway sharing one uplink with two neighbours, inside
# network namespaces it creates (mg-demo-*), on documentation addresses only; it
# never touches the host's own interfaces, routes or firewall.
#
#   mg-demo-inet  "the Internet": web server on 198.51.100.1 and 2001:db8:100::1,
#        │        and a private box 192.168.77.1 behind the uplink (an ISP router's admin page)
#        │ uplink 198.51.100.2/24, 2001:db8:100::2/64
#   mg-demo-gw    meshgate gateway: leases, NAT out of the uplink, clients kept apart
#        │ mesh 192.0.2.1/24, 2001:db8:1::1/64
#   mg-demo-mesh  the mesh (one bridge)
#        ├─ mg-demo-ca  client A: the meshgate client agent (gets its addresses in-band)
#        └─ mg-demo-cb  client B: stock wg-quick + wireguard-go with a config the gateway exported
#
# Tunnel pools: 100.64.0.0/16 and a ULA /48 the gateway generates and keeps.
# Everything is removed on exit (Ctrl-C, an error, or the end).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. scripts/lib.sh # stop_pids

INET=mg-demo-inet GW=mg-demo-gw MESH=mg-demo-mesh CA=mg-demo-ca CB=mg-demo-cb
ALL=($INET $GW $MESH $CA $CB)
GW_IF=mgdemo-gw A_IF=mgdemo-a B_IF=mgdemo-b
SOCKETS=(/var/run/meshgate/$GW_IF.sock /var/run/meshgate/$GW_IF.api.sock /var/run/meshgate/$A_IF.sock /var/run/wireguard/$B_IF.sock /var/lib/meshgate/client-$A_IF.state)
HTTP=test/netns/tools/http-server.mjs
MG=bin/meshgate.js
WORK=$(mktemp -d /tmp/mg-demo.XXXXXX)
PIDS=()
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
remove_all() {
  for ns in "${ALL[@]}"; do ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null; done
  for ns in "${ALL[@]}"; do ip netns del "$ns" 2>/dev/null; done
  rm -f "${SOCKETS[@]}"
}
cleanup() {
  set +e
  stop_pids "${PIDS[@]}"
  remove_all
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
(set +e; remove_all) # leftovers of an interrupted earlier run

# Waits until FILE has a line matching PATTERN (or the process PID died).
wait_for() {
  local file=$1 pattern=$2 pid=$3
  for _ in $(seq 200); do
    grep -q "$pattern" "$file" && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "demo: no $pattern in $file:" >&2
  cat "$file" >&2
  exit 1
}
# http-server.mjs get in a namespace; prints its JSON verdict line.
get() { ip netns exec "$1" node $HTTP get "$2" --timeout "${3:-20}" || true; }

say "namespaces: the Internet, the gateway, the mesh and two clients"
for ns in "${ALL[@]}"; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
ip -n $INET link add isp0 type veth peer name up0 netns $GW
ip -n $INET addr add 198.51.100.1/24 dev isp0; ip -n $INET addr add 2001:db8:100::1/64 dev isp0 nodad
ip -n $INET addr add 192.168.77.1/32 dev lo
ip -n $GW addr add 198.51.100.2/24 dev up0; ip -n $GW addr add 2001:db8:100::2/64 dev up0 nodad
ip -n $INET link set isp0 up; ip -n $GW link set up0 up
ip -n $GW route add default via 198.51.100.1 dev up0
ip -n $GW -6 route add default via 2001:db8:100::1 dev up0
ip -n $GW route add 192.168.77.0/24 via 198.51.100.1 dev up0
ip -n $MESH link add br0 type bridge; ip -n $MESH link set br0 up
i=0
for pair in "$GW 1" "$CA 10" "$CB 11"; do
  set -- $pair
  ip -n $MESH link add p$i type veth peer name mesh0 netns "$1"
  ip -n $MESH link set p$i master br0; ip -n $MESH link set p$i up
  ip -n "$1" addr add 192.0.2.$2/24 dev mesh0; ip -n "$1" addr add 2001:db8:1::$2/64 dev mesh0 nodad
  ip -n "$1" link set mesh0 up
  i=$((i + 1))
done
echo "Internet 198.51.100.1 | gateway uplink 198.51.100.2, mesh 192.0.2.1 | clients 192.0.2.10, 192.0.2.11"
echo "The Internet has no route back to the tunnel pools: only NATed traffic can be answered."
ip netns exec $INET node $HTTP serve --bind 198.51.100.1,2001:db8:100::1,192.168.77.1 --port 80 >"$WORK/http.log" 2>&1 &
PIDS+=($!)
wait_for "$WORK/http.log" '"event":"ready"' $!

say "keys: the gateway's, client A's (made on its own machine), client B's (made by the admin)"
(
  umask 077
  node $MG genkey >"$WORK/gateway.key"; node $MG genkey >"$WORK/alice.key"
  node $MG genkey >"$WORK/bob.key"; node $MG genpsk >"$WORK/bob.psk"
)
GW_PUB=$(node $MG pubkey <"$WORK/gateway.key")
echo "gateway: $GW_PUB"

say "the gateway's configuration (gateway.yaml)"
cat >"$WORK/gateway.yaml" <<YAML
privateKeyFile: $WORK/gateway.key
listenPort: 51820
endpoint: 192.0.2.1:51820
uplink: up0
interface: $GW_IF
ipv4Pool: 100.64.0.0/16
stateDir: $WORK/state
policies:
  small:                     # 50 MB of downloads a month, then blocked
    quota: { bytes: 50MB, period: month, count: download, atQuota: block }
clients:
  - name: alice
    publicKey: $(node $MG pubkey <"$WORK/alice.key")
    policy: small
  - name: bob
    publicKey: $(node $MG pubkey <"$WORK/bob.key")
    presharedKeyFile: $WORK/bob.psk
    privateKeyFile: $WORK/bob.key
YAML
chmod 600 "$WORK/gateway.yaml"
sed "s|$WORK/|/etc/meshgate/|" "$WORK/gateway.yaml"

say "meshgate gateway --config gateway.yaml (in $GW)"
ip netns exec $GW node $MG gateway --config "$WORK/gateway.yaml" >"$WORK/gateway.log" 2>&1 &
GW_PID=$!
PIDS+=($GW_PID)
wait_for "$WORK/gateway.log" '"event":"ready"' $GW_PID
jq -c 'select(.event == "ready") | {interface, listenPort, ipv4Pool, ipv6Pool, gateway}' "$WORK/gateway.log"
echo "its nftables table (the only one it touches):"
ip netns exec $GW nft list tables

say "client A: meshgate client, which asks the gateway for its addresses inside the tunnel"
cat >"$WORK/alice.yaml" <<YAML
privateKeyFile: $WORK/alice.key
interface: $A_IF
gateway:
  publicKey: $GW_PUB
  endpoint: "[2001:db8:1::1]:51820"
persistentKeepalive: 25
routes: [198.51.100.0/24, "2001:db8:100::/64", 192.168.77.0/24]
YAML
chmod 600 "$WORK/alice.yaml"
echo "addresses in $CA before: $(ip -n $CA -brief addr show dev mesh0 | awk '{$1=$2=""; print}')"
ip netns exec $CA node $MG client --config "$WORK/alice.yaml" >"$WORK/client.log" 2>&1 &
A_PID=$!
PIDS+=($A_PID)
wait_for "$WORK/client.log" '"event":"ready"' $A_PID
jq -c 'select(.event == "lease") | {ipv4, ipv6, gateway, mtu, lifetime}' "$WORK/client.log"
ip -n $CA -brief addr show dev $A_IF

say "client B: a stock WireGuard client with the config the gateway exports"
echo "# meshgate gateway export-client bob --config gateway.yaml"
ip netns exec $GW node $MG gateway export-client bob --config "$WORK/gateway.yaml" >"$WORK/$B_IF.conf"
chmod 600 "$WORK/$B_IF.conf"
sed -E 's/^(PrivateKey|PresharedKey) = .*/\1 = (hidden)/' "$WORK/$B_IF.conf"
echo "# wg-quick up $B_IF.conf (wireguard-go; its default routes live in $CB only)"
# wireguard-go daemonizes: LOG_LEVEL would keep our output pipe open, and a
# WG_PROCESS_FOREGROUND in the environment would confuse its daemon child.
if ! ip netns exec $CB env -u LOG_LEVEL -u WG_PROCESS_FOREGROUND WG_QUICK_USERSPACE_IMPLEMENTATION=wireguard-go \
  wg-quick up "$WORK/$B_IF.conf" >"$WORK/wg-quick.log" 2>&1; then
  cat "$WORK/wg-quick.log" >&2
  exit 1
fi
grep '^\[#\]' "$WORK/wg-quick.log" | grep -v -e 'type wireguard' -e 'nft -f' | sed 's/^/  /'

say "who the Internet sees: the gateway's uplink address, never a client's"
for c in $CA $CB; do
  for host in 198.51.100.1 '[2001:db8:100::1]'; do
    printf '%-11s → %-20s sees %s\n' "$c" "$host" "$(get $c "http://$host/whoami" | jq -r '.body // .error' | tr -d '\n')"
  done
done

say "20 MB downloads through the gateway, every byte checked"
for c in $CA $CB; do
  for host in 198.51.100.1 '[2001:db8:100::1]'; do
    get $c "http://$host/data/20000000?seed=demo-$c" 120 |
      jq -r --arg c "$c" --arg h "$host" \
        '"\($c) ← \($h): \(.bytes) bytes in \(.seconds * 10 | floor / 10) s, \(if .seconds > 0 then (.bytes * 8 / .seconds / 1e6 | floor) else 0 end) Mbit/s, content \(if .ok then "ok" else "WRONG: \(.error // .firstMismatch)" end)"'
  done
done

say "isolation: client A tries client B, the gateway itself and the private box, through the tunnel"
B_V4=$(ip netns exec $GW node $MG show $GW_IF --json | jq -r '.leases[] | select(.name == "bob") | .ipv4')
ip -n $CA route add "$B_V4/32" dev $A_IF
printf 'A → %-28s %s\n' "ping $B_V4 (client B)" "$(ip netns exec $CA ping -c 2 -W 1 -q "$B_V4" | grep -o '[0-9]* received' || true)"
verdict='if .ok then "reached (wrong!)" elif (.error | test("timeout")) then "dropped by the gateway" else "answered: \(.error)" end'
for url in "http://$B_V4/" http://198.51.100.2/ http://192.168.77.1/whoami; do
  printf 'A → %-28s %s\n' "$url" "$(get $CA "$url" 3 | jq -r "$verdict")"
done
echo "(the private box becomes reachable with allowPrivate: [192.168.77.1/32] in gateway.yaml)"
echo "the gateway's firewall counters:"
ip netns exec $GW nft -j list counters table inet meshgate |
  jq -r '.nftables[].counter? | select(. != null and .packets > 0) | "  \(.name): \(.packets) packets dropped"'

say "quota: alice may download 50 MB a month; a third 20 MB download stops at the quota"
get $CA "http://198.51.100.1/data/20000000?seed=demo-quota" 6 |
  jq -r '"alice ← 198.51.100.1: \(.bytes // 0) bytes, then \(if .ok then "complete (wrong!)" else "stalled: blocked by the gateway" end)"'
echo "# meshgate usage"
ip netns exec $GW node $MG usage --interface $GW_IF
echo "alice's agent learned it inside the tunnel:"
wait_for "$WORK/client.log" '"state":"blocked"' $A_PID
jq -c 'select(.event == "quota" and .state == "blocked") | {event, state, used, quota, periodEnd}' "$WORK/client.log" | tail -1

say "the admin API: a neighbour added while the gateway runs; one cut off and let in again"
echo "# meshgate clients add carol --public-key …   (her own key: the gateway never sees a private key)"
ip netns exec $GW node $MG clients add carol --public-key "$(node $MG genkey | node $MG pubkey)" --interface $GW_IF >/dev/null
ip netns exec $GW node $MG clients list --interface $GW_IF
echo "# meshgate clients disable bob"
ip netns exec $GW node $MG clients disable bob --interface $GW_IF
get $CB "http://198.51.100.1/whoami" 3 | jq -r '"bob → 198.51.100.1: \(if .ok then "reached (wrong!)" else "no answer: cut off" end)"'
echo "# meshgate clients enable bob"
ip netns exec $GW node $MG clients enable bob --interface $GW_IF
echo "# meshgate status"
ip netns exec $GW node $MG status --interface $GW_IF

say "meshgate show $GW_IF (peers, leases)"
ip netns exec $GW node $MG show $GW_IF
ip netns exec $GW node $MG show $GW_IF --json | jq -c '.leases[]'

say "clean stop (SIGTERM): the gateway removes its nftables table and its TUN"
kill -TERM $GW_PID
wait $GW_PID || true
echo "nft tables in $GW now: [$(ip netns exec $GW nft list tables | tr '\n' ' ')]"
ip -n $GW link show dev $GW_IF >/dev/null 2>&1 && echo "$GW_IF still there (wrong!)" || echo "$GW_IF is gone"

say "done: removing the namespaces"
