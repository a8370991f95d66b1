#!/usr/bin/env bash
# bench/run.sh - meshgate tunnel throughput next to wireguard-go and plain
# kernel forwarding, measured in one run on the same namespaces.
#
#   mg-bc (client)              mg-bg (gateway)                     mg-bi ("internet")
#   mg-bc0 192.0.2.2  ------->  mg-bg0 192.0.2.1                     mg-bi0 198.51.100.1
#          2001:db8:1::2               2001:db8:1::1                        iperf3 -s
#   tunnel 10.66.0.2/24         mg-bg1 198.51.100.2  -------------->
#   default -> tunnel           tunnel 10.66.0.1/24, ip_forward=1,
#   192.0.2.1/32 -> mg-bc0      nft table "mg_bench": masquerade out mg-bg1
#
# Cases (CASES, space separated; the "6" variants run the tunnel over the
# IPv6 underlay 2001:db8:1::/64, the inner traffic stays IPv4):
#   plain        routed forwarding client -> gateway -> internet, no tunnel
#   wg   wg6     wireguard-go client  <-> wireguard-go gateway
#   mg   mg6     meshgate client      <-> meshgate gateway
#   wgmg wgmg6   wireguard-go client  <-> meshgate gateway
#   mgwg mgwg6   meshgate client      <-> wireguard-go gateway
#   an   an6     anchor client        <-> anchor gateway
#   anmg anmg6   anchor client        <-> meshgate gateway
#   mgan mgan6   meshgate client      <-> anchor gateway
# "wireguard-go" is Debian's package (PATH); the "anchor" is upstream
# wireguard-go 0.0.20250522 with TUN offloads and UDP GSO/GRO, a measuring
# stick only (never shipped): ANCHOR, default <repo>/../shared/anchors/
# wireguard-go-0.0.20250522. Without it the an* cases are skipped with a note.
# Each case: iperf3 TCP client->internet (fwd) and internet->client (-R), with
# packets/s from the tunnel device's counters and CPU of the daemons and VM.
#
# Knobs (environment): T (s per iperf3 run, 10), CASES ("plain wg an mg wgmg"),
# PARALLEL (iperf3 -P, 1), REPEAT (rounds over all cases, interleaved; ratios
# use medians, 1), JSON (write results to this path), IDLE_WAIT (max s
# to wait for foreign CPU load to settle before a case, 30), BG_MAX (foreign
# load in % of one core that counts as "busy", 20), LOGDIR (keep daemon logs
# there), MESHGATE (path of the CLI, default <repo>/bin/meshgate.js), ANCHOR
# (path of the anchor wireguard-go binary).
#
# Needs root and iproute2 nftables iperf3 wireguard-go wireguard-tools jq.
# Only namespaces mg-bc, mg-bg, mg-bi are created; leftovers of an earlier run
# of this script are removed first and everything is torn down on exit,
# failure, SIGINT or SIGTERM. The host namespace is never modified.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
T=${T:-10}
CASES=${CASES:-plain wg an mg wgmg}
PARALLEL=${PARALLEL:-1}
REPEAT=${REPEAT:-1}
JSON=${JSON:-}
IDLE_WAIT=${IDLE_WAIT:-30}
BG_MAX=${BG_MAX:-20}
LOGDIR=${LOGDIR:-}
MESHGATE=${MESHGATE:-$REPO/bin/meshgate.js}
# beside the clone: ../shared of the project root (read-only in CI)
ANCHOR=${ANCHOR:-$(dirname "$REPO")/shared/anchors/wireguard-go-0.0.20250522}

NS_C=mg-bc NS_G=mg-bg NS_I=mg-bi
V_C=mg-bc0 V_GC=mg-bg0 V_GI=mg-bg1 V_I=mg-bi0
C_UL4=192.0.2.2 G_UL4=192.0.2.1
C_UL6=2001:db8:1::2 G_UL6=2001:db8:1::1
G_UP=198.51.100.2 INET=198.51.100.1
TUN_G=10.66.0.1 TUN_C=10.66.0.2
PORT=51820 MTU=1420
WG_RUN=/var/run/wireguard
MG_RUN=/var/run/meshgate
# tunnel device names per implementation and side (the meshgate device is
# named after its config file)
DEV_wg_c=mg-bwgc DEV_wg_g=mg-bwgg DEV_mg_c=mg-bmgc DEV_mg_g=mg-bmgg
DEV_an_c=mg-banc DEV_an_g=mg-bang

die() { echo "bench: $*" >&2; exit 1; }
log() { printf '[%(%T)T] %s\n' -1 "$*" >&2; }

[[ $T =~ ^[1-9][0-9]*$ ]] || die "T must be a positive integer"
[[ $PARALLEL =~ ^[1-9][0-9]*$ ]] || die "PARALLEL must be a positive integer"
[[ $REPEAT =~ ^[1-9][0-9]*$ ]] || die "REPEAT must be a positive integer"
for c in $CASES; do
  [[ $c =~ ^(plain|wg6?|mg6?|wgmg6?|mgwg6?|an6?|anmg6?|mgan6?)$ ]] || die "unknown case '$c'"
done
# the anchor is optional: its cases are skipped (with a note) when it is missing
ANCHOR_NOTE=""
if [[ " $CASES " =~ \ (an|anmg|mgan)6?\  ]] && [ ! -x "$ANCHOR" ]; then
  ANCHOR_NOTE="anchor wireguard-go not found at $ANCHOR: skipped cases"
  keep=""
  for c in $CASES; do
    if [[ $c =~ ^(an|anmg|mgan)6?$ ]]; then ANCHOR_NOTE+=" $c"; else keep+=" $c"; fi
  done
  CASES=${keep# }
  log "$ANCHOR_NOTE"
fi
for b in ip nft iperf3 wireguard-go wg jq timeout awk node; do
  command -v "$b" >/dev/null || die "missing tool: $b"
done
[ "$(id -u)" = 0 ] || die "needs root (network namespaces)"

# ------------------------------------------------------------ lifecycle ----
PIDS=()            # every process this run started, killed by PID
WORK=""
WG_RUN_MADE=0

# stop_pids: scripts/lib.sh
. "$REPO/scripts/lib.sh"

forget_pids() {  # drop the given PIDs from PIDS
  local p keep=()
  for p in "${PIDS[@]}"; do [[ " $* " == *" $p "* ]] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}

ns_exists() { ip netns list | awk '{print $1}' | grep -qx "$1"; }

cleanup() {
  set +e
  stop_pids "${PIDS[@]}"
  PIDS=()
  local ns left=()
  # anything still running inside our own mg-b* namespaces was started by
  # this script (now or in an earlier, interrupted run)
  for ns in $NS_C $NS_G $NS_I; do
    ns_exists "$ns" && left+=($(ip netns pids "$ns" 2>/dev/null))
  done
  stop_pids "${left[@]}"
  for ns in $NS_C $NS_G $NS_I; do ns_exists "$ns" && ip netns del "$ns"; done
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

cleanup                                    # leftovers of an interrupted run
set -e                                     # (cleanup switched it off)
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
[ -d "$WG_RUN" ] || WG_RUN_MADE=1
mkdir -p "$WG_RUN"
WORK=$(mktemp -d /tmp/mg-bench.XXXXXX)

LAST_PID=""
spawn() {  # spawn NS LOG cmd... : run cmd in NS in the background
  local ns=$1 logf=$2; shift 2
  ip netns exec "$ns" "$@" >"$logf" 2>&1 &   # ip execs the command: $! is it
  LAST_PID=$!
  PIDS+=("$LAST_PID")
}

# --------------------------------------------------------------- topology ----
log "creating namespaces $NS_C $NS_G $NS_I"
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
start_server
# reachability probe without ping (not installed everywhere): a tiny iperf3 run
probe() {  # probe TRIES : can the client reach the iperf3 server?
  local i
  for i in $(seq "$1"); do
    timeout 5 ip netns exec $NS_C iperf3 -c $INET -n 1K --connect-timeout 1500 >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  return 1
}
probe 3 || die "plain path client -> internet broken"

for s in c g; do
  (umask 077; wg genkey >"$WORK/$s.key")
  wg pubkey <"$WORK/$s.key" >"$WORK/$s.pub"
done

# -------------------------------------------------------------- tunnels ----
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
    cat >"$conf" <<EOF
[Interface]
PrivateKey = $(cat "$WORK/c.key")
Address = $TUN_C/24
MTU = $MTU

[Peer]
PublicKey = $(cat "$WORK/g.pub")
AllowedIPs = 0.0.0.0/0
Endpoint = $ep
PersistentKeepalive = 25
EOF
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

# ------------------------------------------------------------ measuring ----
HZ=$(getconf CLK_TCK)
NPROC=$(nproc)

# tree_ticks PID... : for each PID, utime+stime (clock ticks, all threads) of
# it and all its descendants, space separated (0 for a PID that is gone)
tree_ticks() {
  [ $# -gt 0 ] || return 0
  cat /proc/[0-9]*/stat 2>/dev/null | awk -v roots="$*" '
    { pid = $1; rest = $0; sub(/^.*\) /, "", rest); split(rest, f, " ")
      ppid[pid] = f[2]; t[pid] = f[12] + f[13] }
    END {
      n = split(roots, r, " ")
      for (i = 1; i <= n; i++) {
        s = 0
        for (p in t) {         # p counts if r[i] is p or one of its ancestors
          q = p
          while (q != "" && q != 0 && q != r[i]) q = ppid[q]
          if (q == r[i]) s += t[p]
        }
        printf "%s%d", (i > 1 ? " " : ""), s
      }
      print ""
    }'
}
ticks_sum() { local s=0 x; for x in $(tree_ticks "$@"); do s=$((s + x)); done; echo $s; }
vm_stat() {  # "busy total" jiffies over all CPUs
  awk '/^cpu /{ b=$2+$3+$4+$7+$8+$9; print b, b+$5+$6 }' /proc/stat
}
counters() {  # counters NS DEV -> "rx_bytes rx_packets tx_bytes tx_packets"
  ip -n "$1" -s -j link show "$2" |
    jq -r '.[0].stats64 | "\(.rx.bytes) \(.rx.packets) \(.tx.bytes) \(.tx.packets)"'
}

# foreign_load PIDS... : VM busy % of one core over 1 s, minus our daemons
foreign_load() {
  local b0 t0 b1 t1 d0 d1
  read -r b0 t0 < <(vm_stat); d0=$(ticks_sum "$@")
  sleep 1
  read -r b1 t1 < <(vm_stat); d1=$(ticks_sum "$@")
  awk -v b=$((b1 - b0)) -v t=$((t1 - t0)) -v n="$NPROC" -v d=$((d1 - d0)) -v hz="$HZ" \
    'BEGIN { v = (t > 0 ? b / t * 100 * n : 0) - d / hz * 100; printf "%.0f", (v < 0 ? 0 : v) }'
}

# wait_idle PIDS... : wait (up to IDLE_WAIT s) until nothing else loads the VM;
# the last foreign load seen -> BG
BG=0
wait_idle() {
  local waited=0
  while :; do
    BG=$(foreign_load "$@")
    [ "$BG" -le "$BG_MAX" ] && break
    waited=$((waited + 1))
    [ "$waited" -ge "$IDLE_WAIT" ] && break
  done
  if [ "$waited" -gt 0 ]; then log "waited ${waited}s for foreign CPU load to settle (last ${BG}%)"; fi
}

# iperf_run NAME DIR(fwd|rev) CNS CDEV GNS GDEV PIDS... -> JSON object in RUN
#   CDEV/GDEV: devices whose counters must show the traffic (client / gateway side)
iperf_run() {
  local name=$1 dir=$2 cns=$3 cdev=$4 gns=$5 gdev=$6; shift 6
  local f="$WORK/$name-$dir" rflag=""
  [ "$dir" = rev ] && rflag=-R
  local cc0 gc0 cc1 gc1 b0 t0 b1 t1 w0 w1 p0=() p1=() p
  cc0=$(counters "$cns" "$cdev"); gc0=$(counters "$gns" "$gdev")
  read -r -a p0 <<<"$(tree_ticks "$@")"
  read -r b0 t0 < <(vm_stat); w0=$(date +%s.%N)
  # in the background + wait, so that SIGINT/SIGTERM are handled at once
  timeout $((T + 30)) ip netns exec $NS_C iperf3 -c $INET -t "$T" -P "$PARALLEL" $rflag \
    --connect-timeout 3000 -J >"$f.json" 2>"$f.err" &
  local ipid=$!
  PIDS+=("$ipid")
  wait "$ipid" || true
  forget_pids "$ipid"
  read -r b1 t1 < <(vm_stat); w1=$(date +%s.%N)
  read -r -a p1 <<<"$(tree_ticks "$@")"
  cc1=$(counters "$cns" "$cdev"); gc1=$(counters "$gns" "$gdev")
  local cpus="[]" i
  for i in "${!p0[@]}"; do
    cpus=$(jq -c --argjson a "$cpus" -n \
      "\$a + [($((p1[i] - p0[i])) / $HZ) / ($w1 - $w0) * 100 | round]")
  done
  # iperf3's JSON: sum_received = what the receiver got (client in fwd,
  # client in -R too since the client then receives), sum_sent.retransmits
  # = the sender's TCP retransmits (reported back by the server for -R)
  RUN=$(jq -c -n --slurpfile r <(jq -c . "$f.json" 2>/dev/null || echo '{}') \
    --arg dir "$dir" --argjson secs "$(awk -v a="$w0" -v b="$w1" 'BEGIN{print b-a}')" \
    --argjson vm "$(awk -v b=$((b1 - b0)) -v t=$((t1 - t0)) -v n="$NPROC" \
                    'BEGIN{ printf "%.0f", (t > 0 ? b / t * 100 * n : 0) }')" \
    --argjson cpus "$cpus" \
    --arg cc0 "$cc0" --arg cc1 "$cc1" --arg gc0 "$gc0" --arg gc1 "$gc1" '
    def num: split(" ") | map(tonumber);
    def delta($a; $b): [($b|num), ($a|num)] | transpose | map(.[0] - .[1]);
    ($r[0] // {}) as $j
    | delta($cc0; $cc1) as $c          # client dev: rx_b rx_p tx_b tx_p
    | delta($gc0; $gc1) as $g          # gateway dev
    | ($j.end.sum_received.bytes // null) as $got
    | (if $dir == "fwd" then [$c[2], $g[0]] else [$c[0], $g[2]] end) as $carried
    | {
        dir: $dir,
        error: ($j.error // (if $j.end == null then "no iperf3 result" else null end)),
        mbps: (if $j.end.sum_received.bits_per_second then ($j.end.sum_received.bits_per_second / 1e6 | round) else null end),
        retransmits: ($j.end.sum_sent.retransmits // null),
        bytes: $got,
        seconds: ($secs * 100 | round / 100),
        client_dev_bytes: $carried[0],
        gateway_dev_bytes: $carried[1],
        pps: (($c[1] + $c[3]) / $secs | round),
        daemon_cpu: $cpus,
        vm_cpu: $vm,
        # the traffic really crossed both devices: each carried at least the
        # payload that arrived and not wildly more (headers + retransmits)
        carried: ($got != null and $got > 0
                  and ($carried | all(. >= 0.95 * $got and . <= 1.6 * $got + 2e6)))
      }
    | .valid = (.error == null and .carried)')
}

ROWS="$WORK/rows.jsonl"
: >"$ROWS"

# run_case NAME ROUND : set up, measure fwd and rev, tear down, append one row
run_case() {
  local name=$1 round=$2 ci gi ul=4 desc cdev gdev cns gns
  CASE=$name
  start_server
  [[ $name == *6 ]] && ul=6
  case ${name%6} in
    plain) ci=""   gi="" ;;
    wg)    ci=wg   gi=wg ;;
    mg)    ci=mg   gi=mg ;;
    wgmg)  ci=wg   gi=mg ;;
    mgwg)  ci=mg   gi=wg ;;
    an)    ci=an   gi=an ;;
    anmg)  ci=an   gi=mg ;;
    mgan)  ci=mg   gi=an ;;
  esac
  if [ -z "$ci" ]; then
    desc="plain kernel forwarding"
    cns=$NS_C cdev=$V_C gns=$NS_G gdev=$V_GC
  else
    desc="$ci client <-> $gi gateway, IPv$ul underlay"
  fi
  log "case $name (round $round/$REPEAT): $desc"
  if [ -n "$ci" ] && ! tunnel_up "$ci" "$gi" "$ul"; then
    log "case $name FAILED: $FAIL"
    local l
    for l in "$WORK/$name"-*.log; do
      [ -f "$l" ] && { echo "--- ${l##*/}" >&2; tail -n 15 "$l" >&2; }
    done
    jq -c -n --arg c "$name" --argjson r "$round" --arg d "$desc" --arg e "$FAIL" \
      '{case: $c, round: $r, desc: $d, valid: false, error: $e}' >>"$ROWS"
    tunnel_down
    return 0
  fi
  if [ -n "$ci" ]; then
    cns=$NS_C cdev=${CASE_DEVS[0]} gns=$NS_G gdev=${CASE_DEVS[1]}
  fi
  local bg fwd rev
  wait_idle "${CASE_PIDS[@]}"
  bg=$BG
  [ "$bg" -gt "$BG_MAX" ] && log "WARNING: ${bg}% of a core busy with other work before case $name: its numbers are low/noisy"
  log "case $name: TCP fwd (client -> internet), ${T}s, -P $PARALLEL"
  iperf_run "$name" fwd $cns "$cdev" $gns "$gdev" "${CASE_PIDS[@]}"
  fwd=$RUN
  sleep 1
  log "case $name: TCP rev (internet -> client), ${T}s, -P $PARALLEL"
  iperf_run "$name" rev $cns "$cdev" $gns "$gdev" "${CASE_PIDS[@]}"
  rev=$RUN
  local d
  for d in "$fwd" "$rev"; do
    jq -e .valid <<<"$d" >/dev/null ||
      log "case $name: $(jq -r '"\(.dir) INVALID: " + (.error // "devices carried client \(.client_dev_bytes) / gateway \(.gateway_dev_bytes) bytes for \(.bytes) delivered")' <<<"$d")"
  done
  jq -c -n --arg c "$name" --argjson round "$round" --arg d "$desc" --argjson bg "$bg" \
    --argjson bgmax "$BG_MAX" --arg devs "$cdev,$gdev" --argjson f "$fwd" --argjson r "$rev" \
    '{case: $c, round: $round, desc: $d, devices: ($devs | split(",")), bg_cpu: $bg,
      busy_before: ($bg > $bgmax), fwd: $f, rev: $r, valid: ($f.valid and $r.valid)}' >>"$ROWS"
  [ -n "$ci" ] && tunnel_down
  sleep 1
}

# rounds interleave the cases, so that a slow drift of the machine hits all alike
for r in $(seq "$REPEAT"); do
  for c in $CASES; do run_case "$c" "$r"; done
done

# --------------------------------------------------------------- report -----
ver_wg=$(wireguard-go --version 2>/dev/null | head -1 | awk '{print $2}')
ver_an=$([ -x "$ANCHOR" ] && "$ANCHOR" --version 2>/dev/null | head -1 | awk '{print $2}' || echo "")
ver_iperf=$(iperf3 -v 2>/dev/null | head -1 | awk '{print $2}')
ver_node=$(node -v)
ver_kernel=$(uname -r)
ver_mg=$(jq -r .version "$REPO/package.json" 2>/dev/null || echo "?")

echo
echo "meshgate bench  $(date -u +%FT%TZ)  T=${T}s  PARALLEL=$PARALLEL  REPEAT=$REPEAT  nproc=$NPROC  MTU=$MTU"
echo "meshgate $ver_mg, wireguard-go $ver_wg, anchor ${ver_an:-(none)}, iperf3 $ver_iperf, node $ver_node, kernel $ver_kernel"
[ -n "$ANCHOR_NOTE" ] && echo "note: $ANCHOR_NOTE"
echo
jq -r -s --argjson rep "$REPEAT" '
  def v(x): if x == null then "-" else (x | tostring) end;
  def cpu(d): if d == null or (d.daemon_cpu | length) == 0 then "-" else (d.daemon_cpu | map(tostring) | join("/")) end;
  def k(x): if x == null then "-" else ((x / 100 | round) / 10 | tostring) end;
  ["case", "fwd Mb/s", "retr", "rev Mb/s", "retr", "fwd kpps", "rev kpps",
   "daemon CPU% fwd", "rev", "VM CPU% fwd", "rev", "bg%", "valid"],
  (.[] | (.case + (if $rep > 1 then "#\(.round)" else "" end)) as $name
   | if .error then [$name] + [range(11) | "-"] + ["FAILED"] else
    [$name, v(.fwd.mbps), v(.fwd.retransmits), v(.rev.mbps), v(.rev.retransmits),
     k(.fwd.pps), k(.rev.pps), cpu(.fwd), cpu(.rev), v(.fwd.vm_cpu), v(.rev.vm_cpu),
     v(.bg_cpu) + (if .busy_before then "!" else "" end),
     (if .valid then "yes" else "NO" + (if .fwd.valid then "" else " fwd" end) + (if .rev.valid then "" else " rev" end) end)]
  end) | join("|")' "$ROWS" | column -t -s'|'
echo
echo "kpps: packets/s (rx+tx, thousands) on the client's tunnel device (veth for plain)."
echo "daemon CPU%: client/gateway tunnel process, % of one core; VM CPU%: all cores, max $((NPROC * 100))."
echo "bg%: load from other work in the 1 s before the case (! = above $BG_MAX%, row is low/noisy)."
echo "valid: iperf3 succeeded and both tunnel devices carried about the bytes delivered."
jq -r 'select(.error) | "\(.case) round \(.round): FAILED: \(.error)"' "$ROWS" | sort -u

# per case: median Mb/s over its valid rounds that started on an idle machine
# (over all valid rounds if none did: then "noisy"); ratios between medians
SUMMARY=$(jq -c -s '
  def median: sort | if length == 0 then null
    elif length % 2 == 1 then .[length / 2 | floor]
    else (.[length / 2 - 1] + .[length / 2]) / 2 end;
  (group_by(.case) | map({key: .[0].case, value: (
      map(select(.valid)) as $ok | ($ok | map(select(.busy_before | not))) as $idle
      | (if ($idle | length) > 0 then $idle else $ok end) as $use
      | { rounds: ($use | length), noisy: (($idle | length) == 0 and ($ok | length) > 0),
          fwd: ($use | map(.fwd.mbps) | median), rev: ($use | map(.rev.mbps) | median) })})
   | from_entries) as $m
  | def r(a; b; d): if ($m[a][d] // 0) > 0 and ($m[b][d] // 0) > 0
                   then ($m[a][d] / $m[b][d] * 100 | round / 100) else null end;
  { median: $m,
    ratios: ([ ["meshgate/wireguard-go", "mg", "wg"],
               ["meshgate/wireguard-go (IPv6 underlay)", "mg6", "wg6"],
               ["meshgate/plain", "mg", "plain"],
               ["wireguard-go/plain", "wg", "plain"],
               ["wg-go client + meshgate gw / wireguard-go", "wgmg", "wg"],
               ["meshgate client + wg-go gw / wireguard-go", "mgwg", "wg"],
               ["meshgate/anchor", "mg", "an"],
               ["meshgate/anchor (IPv6 underlay)", "mg6", "an6"],
               ["anchor/wireguard-go", "an", "wg"],
               ["anchor/plain", "an", "plain"],
               ["anchor client + meshgate gw / anchor", "anmg", "an"],
               ["meshgate client + anchor gw / anchor", "mgan", "an"] ]
             | map(select($m[.[1]] != null and $m[.[2]] != null)
                   | {name: .[0], a: .[1], b: .[2], fwd: r(.[1]; .[2]; "fwd"), rev: r(.[1]; .[2]; "rev")})) }' "$ROWS")
if [ "$REPEAT" -gt 1 ]; then
  echo
  echo "median over the valid rounds without background load (noisy: all rounds had some):"
  jq -r '["case", "rounds", "fwd Mb/s", "rev Mb/s", ""],
         (.median | to_entries[] | [.key, .value.rounds, (.value.fwd // "-"), (.value.rev // "-"),
                                    (if .value.noisy then "noisy" else "" end)])
         | map(tostring) | join("|")' <<<"$SUMMARY" | column -t -s'|'
fi
if [ "$(jq '.ratios | length' <<<"$SUMMARY")" -gt 0 ]; then
  echo
  jq -r '.median as $m | .ratios[]
         | "ratio \(.name): fwd \(.fwd // "n/a")  rev \(.rev // "n/a")"
           + (if $m[.a].noisy or $m[.b].noisy then "  (noisy)" else "" end)' <<<"$SUMMARY"
fi
if jq -e -s 'any(.busy_before)' "$ROWS" >/dev/null; then
  echo
  echo "WARNING: other CPU load was present before at least one case (bg% with !); rerun on an idle machine."
fi

if [ -n "$JSON" ]; then
  jq -s --arg date "$(date -u +%FT%TZ)" --argjson t "$T" --argjson p "$PARALLEL" \
    --argjson rep "$REPEAT" --argjson nproc "$NPROC" --argjson mtu "$MTU" --argjson sum "$SUMMARY" \
    --arg mg "$ver_mg" --arg wg "$ver_wg" --arg an "$ver_an" --arg ip "$ver_iperf" --arg node "$ver_node" --arg k "$ver_kernel" \
    '{date: $date, t: $t, parallel: $p, repeat: $rep, nproc: $nproc, mtu: $mtu,
      versions: {meshgate: $mg, "wireguard-go": $wg, anchor: $an, iperf3: $ip, node: $node, kernel: $k},
      runs: ., median: $sum.median, ratios: $sum.ratios}' "$ROWS" >"$JSON"
  echo "results written to $JSON"
fi
