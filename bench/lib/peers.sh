# shellcheck shell=bash
# bench/lib/peers.sh - sourced by bench/run.sh (uses its variables): the
# tunnel daemons of a case (wireguard-go, the anchor, `meshgate up`) on the
# client and gateway side, and the client's route into the tunnel.

CASE=""            # name of the case being measured
CASE_PIDS=()       # daemons of the current case: client first, gateway second
CASE_DEVS=()       # their tunnel devices, same order
FAIL=""

wait_sock() {  # wait_sock PATH PID : until PATH is a socket (5 s)
  for _ in $(seq 50); do
    [ -S "$1" ] && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# start_wg SIDE ENDPOINT [IMPL BINARY] : wireguard-go on side c (client) or
# g (gateway); IMPL an with the anchor's BINARY runs the anchor the same way
start_wg() {
  local side=$1 ep=$2 impl=${3:-wg} bin=${4:-wireguard-go} ns dev
  if [ "$side" = g ]; then ns=$NS_G dev=DEV_${impl}_g; else ns=$NS_C dev=DEV_${impl}_c; fi
  dev=${!dev}
  rm -f "$WG_RUN/$dev.sock"
  spawn $ns "$WORK/$CASE-$impl-$side.log" env WG_PROCESS_FOREGROUND=1 "$bin" -f $dev
  CASE_PIDS+=("$LAST_PID") CASE_DEVS+=("$dev")
  wait_sock "$WG_RUN/$dev.sock" "$LAST_PID" || { FAIL="$bin ($side) did not start"; return 1; }
  if [ "$side" = g ]; then
    ip netns exec $ns wg set $dev private-key "$WORK/g.key" listen-port $PORT \
      peer "$(cat "$WORK/c.pub")" allowed-ips $TUN_C/32
    ip -n $ns addr add $TUN_G/24 dev $dev
  else
    ip netns exec $ns wg set $dev private-key "$WORK/c.key" \
      peer "$(cat "$WORK/g.pub")" endpoint "$ep" allowed-ips 0.0.0.0/0 persistent-keepalive 25
    ip -n $ns addr add $TUN_C/24 dev $dev
  fi
  ip -n $ns link set $dev mtu $MTU up
}

# start_an SIDE ENDPOINT : the anchor (upstream wireguard-go), like start_wg
start_an() { start_wg "$1" "$2" an "$ANCHOR"; }

# start_mg SIDE ENDPOINT : `meshgate up` from a wg-quick file on side c or g
start_mg() {
  local side=$1 ep=$2 ns dev conf
  [ -f "$MESHGATE" ] || { FAIL="meshgate CLI missing ($MESHGATE)"; return 1; }
  if [ "$MESHGATE" = "$REPO/bin/meshgate.js" ] && [ ! -f "$REPO/dist/shared/cli/main.js" ]; then
    FAIL="meshgate not built (no dist/shared/cli/main.js; run npm run build)"; return 1
  fi
  if [ "$side" = g ]; then ns=$NS_G dev=$DEV_mg_g; else ns=$NS_C dev=$DEV_mg_c; fi
  conf="$WORK/$dev.conf"
  if [ "$side" = g ]; then
    cat >"$conf" <<EOF
[Interface]
PrivateKey = $(cat "$WORK/g.key")
ListenPort = $PORT
Address = $TUN_G/24
MTU = $MTU

[Peer]
PublicKey = $(cat "$WORK/c.pub")
AllowedIPs = $TUN_C/32
EOF
  else
    client_wg_quick "$WORK/c.key" "$TUN_C/24" "$MTU" "$WORK/g.pub" "$ep" >"$conf"
  fi
  chmod 600 "$conf"
  local logf="$WORK/$CASE-mg-$side.log"
  if [[ $MESHGATE == *.js ]]; then
    spawn $ns "$logf" node "$MESHGATE" up "$conf"
  else
    spawn $ns "$logf" "$MESHGATE" up "$conf"
  fi
  CASE_PIDS+=("$LAST_PID") CASE_DEVS+=("$dev")
  for _ in $(seq 150); do
    grep -q '"event":"ready"' "$logf" 2>/dev/null && return 0
    kill -0 "$LAST_PID" 2>/dev/null || break
    sleep 0.1
  done
  FAIL="meshgate ($side) not ready"
  return 1
}

# tunnel_up CLIENT_IMPL GW_IMPL UNDERLAY(4|6)
tunnel_up() {
  local ci=$1 gi=$2 ul=$3 ep
  if [ "$ul" = 6 ]; then ep="[$G_UL6]:$PORT"; else ep="$G_UL4:$PORT"; fi
  CASE_PIDS=() CASE_DEVS=() FAIL=""
  # the client's plain default route goes away before its tunnel starts, so a
  # daemon that installs 0.0.0.0/0 itself finds the slot free
  ip -n $NS_C route del default 2>/dev/null || true
  "start_$gi" g "$ep" || return 1
  "start_$ci" c "$ep" || return 1
  local cdev=${CASE_DEVS[1]}
  ip -n $NS_C route replace $G_UL4/32 dev $V_C
  ip -n $NS_C route replace default dev "$cdev" ||
    { FAIL="cannot route into $cdev (did the client daemon exit?)"; return 1; }
  probe 8 || { FAIL="internet not reachable through the tunnel (handshake?)"; return 1; }
  # gateway first in CASE_PIDS/CASE_DEVS was convenient to start; swap to c,g
  CASE_PIDS=("${CASE_PIDS[1]}" "${CASE_PIDS[0]}")
  CASE_DEVS=("${CASE_DEVS[1]}" "${CASE_DEVS[0]}")
}

tunnel_down() {
  local d
  stop_pids "${CASE_PIDS[@]}"
  forget_pids "${CASE_PIDS[@]}"
  # a daemon that died hard may leave its device behind (inside our namespaces)
  for d in "${CASE_DEVS[@]}"; do
    ip -n $NS_C link del "$d" 2>/dev/null || true
    ip -n $NS_G link del "$d" 2>/dev/null || true
  done
  rm -f "$WG_RUN/$DEV_wg_c.sock" "$WG_RUN/$DEV_wg_g.sock" "$WG_RUN/$DEV_an_c.sock" "$WG_RUN/$DEV_an_g.sock"
  ip -n $NS_C route replace default via $G_UL4 dev $V_C
  CASE_PIDS=() CASE_DEVS=()
}
