# shellcheck shell=bash
# bench/lib/namespaces.sh - sourced by bench/run.sh (uses its variables): the
# run's lifecycle (every process by PID, cleanup on exit and of leftovers of an
# interrupted run), the three namespaces and their veths, the iperf3 server and
# the reachability probe.

PIDS=()            # every process this run started, killed by PID
WORK=""
WG_RUN_MADE=0

# stop_pids, remove_namespaces, client_wg_quick: scripts/lib.sh
. "$REPO/scripts/lib.sh"

forget_pids() {  # drop the given PIDs from PIDS
  local p keep=()
  for p in "${PIDS[@]}"; do [[ " $* " == *" $p "* ]] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}

cleanup() {
  set +e
  stop_pids "${PIDS[@]}"
  PIDS=()
  remove_namespaces $NS_C $NS_G $NS_I # what runs there is ours (scripts/lib.sh)
  rm -f "$WG_RUN/$DEV_wg_c.sock" "$WG_RUN/$DEV_wg_g.sock" \
        "$WG_RUN/$DEV_an_c.sock" "$WG_RUN/$DEV_an_g.sock" \
        "$MG_RUN/$DEV_mg_c.sock" "$MG_RUN/$DEV_mg_g.sock"
  [ "$WG_RUN_MADE" = 1 ] && rmdir "$WG_RUN" 2>/dev/null
  if [ -n "$WORK" ]; then
    [ -n "$LOGDIR" ] && mkdir -p "$LOGDIR" && cp "$WORK"/*.log "$LOGDIR"/ 2>/dev/null
    rm -rf "$WORK"
  fi
  WORK=""
  return 0
}

on_exit() { local rc=$?; cleanup; exit $rc; }

LAST_PID=""
spawn() {  # spawn NS LOG cmd... : run cmd in NS in the background
  local ns=$1 logf=$2; shift 2
  ip netns exec "$ns" "$@" >"$logf" 2>&1 &   # ip execs the command: $! is it
  LAST_PID=$!
  PIDS+=("$LAST_PID")
}

# make_topology: the namespaces, veths, addresses, routes and NAT drawn in run.sh
make_topology() {
  local ns
  for ns in $NS_C $NS_G $NS_I; do
    ip netns add "$ns"
    ip -n "$ns" link set lo up
  done
  ip -n $NS_C link add $V_C type veth peer name $V_GC netns $NS_G
  ip -n $NS_G link add $V_GI type veth peer name $V_I netns $NS_I
  ip -n $NS_C addr add $C_UL4/24 dev $V_C
  ip -n $NS_C addr add $C_UL6/64 dev $V_C nodad
  ip -n $NS_G addr add $G_UL4/24 dev $V_GC
  ip -n $NS_G addr add $G_UL6/64 dev $V_GC nodad
  ip -n $NS_G addr add $G_UP/24 dev $V_GI
  ip -n $NS_I addr add $INET/24 dev $V_I
  ip -n $NS_C link set $V_C up
  ip -n $NS_G link set $V_GC up
  ip -n $NS_G link set $V_GI up
  ip -n $NS_I link set $V_I up
  # the gateway's underlay address always stays on the veth
  ip -n $NS_C route add $G_UL4/32 dev $V_C
  ip -n $NS_C route add default via $G_UL4 dev $V_C
  # mg-bi has no route back to 192.0.2.0/24 or 10.66.0.0/24: only
  # masqueraded traffic gets answers
  ip netns exec $NS_G sysctl -qw net.ipv4.ip_forward=1
  ip netns exec $NS_G nft -f - <<EOF
table ip mg_bench {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "$V_GI" masquerade
  }
}
EOF
}

SERVER_PID=""
# (re)start the iperf3 server: a test cut off by a dying tunnel would keep the
# old one "busy" for minutes
start_server() {
  if [ -n "$SERVER_PID" ]; then stop_pids "$SERVER_PID"; forget_pids "$SERVER_PID"; fi
  spawn $NS_I "$WORK/iperf3-server.log" iperf3 -s -B $INET
  SERVER_PID=$LAST_PID
  for _ in $(seq 30); do
    ip netns exec $NS_I ss -Htln "sport = :5201" | grep -q . && return 0
    sleep 0.1
  done
}

# reachability probe without ping (not installed everywhere): a tiny iperf3 run
probe() {  # probe TRIES : can the client reach the iperf3 server?
  local i
  for i in $(seq "$1"); do
    timeout 5 ip netns exec $NS_C iperf3 -c $INET -n 1K --connect-timeout 1500 >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  return 1
}
