#!/usr/bin/env bash
# bench/traffic.sh - the throughput cost of meshgate's shaper (accounting,
# rate limits, link scheduler) end to end: one client, iperf3 through the
# gateway, with 1 and with 200 configured clients (199 idle keys), in one run.
#
#   mg-btc (client)              mg-btg (gateway)                     mg-bti ("internet")
#   mg-btc0 192.0.2.2  -------->  mg-btg0 192.0.2.1                     mg-bti0 198.51.100.1
#   tunnel 10.66.0.2/24           mg-btg1 198.51.100.2  -------------->         iperf3 -s
#   default -> tunnel             tunnel 10.66.0.1/24
#   `meshgate up` (wg-quick)
#
# Gateway variants (each with 1 and with N=200 configured clients):
#   up    `meshgate up` of a wg-quick file with the same peers, the same
#         device name, and the nftables table the gateway itself installs
#         (captured from it at start: NAT, MSS clamping, client isolation):
#         the same tunnel and kernel path, no shaper at all (the baseline)
#   gw    `meshgate gateway`, no traffic fields: every client unlimited, so
#         only accounting runs in the shaper
#   pol   `meshgate gateway` with a default policy of rate limits (10 Gbit/s)
#         and a quota (1000 TB a month) far above what is sent, and
#         uplinkCapacity 100 Gbit/s: buckets and link scheduler on, never binding
# The client is the same `meshgate up` wg-quick file every time (its address
# is fixed in the gateway config). Rounds alternate the variants (rotated
# start); each run is iperf3 upload (fwd) then download (-R).
# The cost measure is the gateway's CPU time (utime + stime of its process,
# all threads) per GB iperf3 delivered: it holds when the gateway is not the
# bottleneck (download: the client's decryption is) and when other work shares
# the machine. Mb/s is printed too; on a shared 2-core VM it swings by tens of %.
#
# Knobs: T (s per iperf3 run, 10), REPEAT (rounds, 3), CLIENTS ("1 200"),
# VARIANTS ("up gw pol"), MESHGATE (CLI, <repo>/bin/meshgate.js), LOGDIR
# (keep logs), JSON (write the runs and medians there).
#
# Needs root, iproute2, nftables, iperf3, wireguard-tools (`wg genkey`), jq
# and a built tree (npm run build). Only the namespaces mg-btc, mg-btg and
# mg-bti are created; leftovers of an interrupted run are removed first, and
# everything is torn down on exit, failure, SIGINT or SIGTERM. The host
# namespace is never changed.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
T=${T:-10}
REPEAT=${REPEAT:-3}
CLIENTS=${CLIENTS:-1 200}
VARIANTS=${VARIANTS:-up gw pol}
MESHGATE=${MESHGATE:-$REPO/bin/meshgate.js}
LOGDIR=${LOGDIR:-}
JSON=${JSON:-}

NS_C=mg-btc NS_G=mg-btg NS_I=mg-bti
V_C=mg-btc0 V_GC=mg-btg0 V_GI=mg-btg1 V_I=mg-bti0
C_UL=192.0.2.2 G_UL=192.0.2.1 G_UP=198.51.100.2 INET=198.51.100.1
TUN_C=10.66.0.2 TUN_G=10.66.0.1 POOL=10.66.0.0/24
PORT=51820 MTU=1420
DEV_C=mg-btcl DEV_GW=mg-btgw
MG_RUN=/var/run/meshgate

die() { echo "traffic-bench: $*" >&2; exit 1; }
log() { printf '[%(%T)T] %s\n' -1 "$*" >&2; }

[[ $T =~ ^[1-9][0-9]*$ ]] || die "T must be a positive integer"
[[ $REPEAT =~ ^[1-9][0-9]*$ ]] || die "REPEAT must be a positive integer"
for n in $CLIENTS; do [[ $n =~ ^[1-9][0-9]*$ && $n -le 250 ]] || die "CLIENTS: 1..250 each"; done
for v in $VARIANTS; do [[ $v =~ ^(up|gw|pol)$ ]] || die "unknown variant '$v'"; done
[ "$(id -u)" = 0 ] || die "needs root (network namespaces)"
for t in ip nft iperf3 wg jq; do command -v $t >/dev/null || die "$t not found"; done
[ -f "$REPO/dist/shared/cli/main.js" ] || die "not built: run npm run build"
if [[ $MESHGATE == *.js ]]; then MG=(node "$MESHGATE"); else MG=("$MESHGATE"); fi

# stop_pids, remove_namespaces, client_wg_quick: scripts/lib.sh
. "$REPO/scripts/lib.sh"
PIDS=()
WORK=""
cleanup() {
  set +e
  stop_pids "${PIDS[@]}"
  PIDS=()
  remove_namespaces $NS_C $NS_G $NS_I # what runs there is ours (scripts/lib.sh)
  rm -f "$MG_RUN/$DEV_C.sock" "$MG_RUN/$DEV_GW.sock"
  if [ -n "$WORK" ]; then
    [ -n "$LOGDIR" ] && mkdir -p "$LOGDIR" && cp "$WORK"/*.log "$LOGDIR"/ 2>/dev/null
    rm -rf "$WORK"
  fi
  WORK=""
  return 0
}
trap 'rc=$?; cleanup; exit $rc' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
cleanup

LAST_PID=""
spawn() {  # spawn NS LOG cmd... : in the background inside NS
  local ns=$1 logf=$2; shift 2
  ip netns exec "$ns" "$@" >"$logf" 2>&1 &
  LAST_PID=$!
  PIDS+=("$LAST_PID")
}
forget() { local p keep=(); for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done; PIDS=("${keep[@]}"); }
ready() {  # ready LOG PID : until the daemon logs "ready" (20 s)
  for _ in $(seq 200); do
    grep -q '"event":"ready"' "$1" 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }

WORK=$(mktemp -d /tmp/mg-btraffic.XXXXXX)
chmod 700 "$WORK"

# ------------------------------------------------------------------ topology
for ns in $NS_C $NS_G $NS_I; do ip netns add $ns; ip -n $ns link set lo up; done
ip -n $NS_C link add $V_C type veth peer name $V_GC netns $NS_G
ip -n $NS_G link add $V_GI type veth peer name $V_I netns $NS_I
ip -n $NS_C addr add $C_UL/24 dev $V_C
ip -n $NS_G addr add $G_UL/24 dev $V_GC
ip -n $NS_G addr add $G_UP/24 dev $V_GI
ip -n $NS_I addr add $INET/24 dev $V_I
for x in "$NS_C $V_C" "$NS_G $V_GC" "$NS_G $V_GI" "$NS_I $V_I"; do ip -n ${x% *} link set ${x#* } up; done
# mg-bti has no route back to 192.0.2.0/24 or the pool: only NATed traffic gets answers
ip netns exec $NS_G sysctl -qw net.ipv4.ip_forward=1
spawn $NS_I "$WORK/iperf3-server.log" iperf3 -s -B $INET
for _ in $(seq 30); do ip netns exec $NS_I ss -Htln "sport = :5201" | grep -q . && break; sleep 0.1; done

# ---------------------------------------------------------------------- keys
umask 077
wg genkey >"$WORK/g.key"
wg pubkey <"$WORK/g.key" >"$WORK/g.pub"
wg genkey >"$WORK/c.key"
wg pubkey <"$WORK/c.key" >"$WORK/c.pub"
MAXN=1
for n in $CLIENTS; do [ "$n" -gt "$MAXN" ] && MAXN=$n; done
for i in $(seq 1 $((MAXN - 1))); do wg genkey | wg pubkey; done >"$WORK/idle.pub"

client_wg_quick "$WORK/c.key" "$TUN_C/24" "$MTU" "$WORK/g.pub" "$G_UL:$PORT" >"$WORK/client.conf"

# idle client i (1..n-1) gets 10.66.0.(2+i)
for n in $CLIENTS; do
  mkdir "$WORK/up-$n"
  {
    printf '[Interface]\nPrivateKey = %s\nListenPort = %s\nAddress = %s/24\nMTU = %s\n' \
      "$(cat "$WORK/g.key")" $PORT $TUN_G $MTU
    printf '\n[Peer]\nPublicKey = %s\nAllowedIPs = %s/32\n' "$(cat "$WORK/c.pub")" $TUN_C
    i=0
    head -n $((n - 1)) "$WORK/idle.pub" | while read -r pub; do
      i=$((i + 1))
      printf '\n[Peer]\nPublicKey = %s\nAllowedIPs = 10.66.0.%d/32\n' "$pub" $((2 + i))
    done
  } >"$WORK/up-$n/$DEV_GW.conf"
  for v in gw pol; do
    {
      cat <<EOF
privateKeyFile: g.key
listenPort: $PORT
endpoint: $G_UL:$PORT
uplink: $V_GI
interface: $DEV_GW
mtu: $MTU
ipv4Pool: $POOL
stateDir: state-$v-$n
EOF
      if [ $v = pol ]; then
        cat <<EOF
uplinkCapacity: { down: 100Gbit, up: 100Gbit }
defaultPolicy: far
policies:
  far:
    quota: { bytes: 1000TB, period: month }
    rate: { down: 10Gbit, up: 10Gbit }
EOF
      fi
      printf 'clients:\n  - name: c0\n    publicKey: "%s"\n    ipv4: %s\n' "$(cat "$WORK/c.pub")" $TUN_C
      i=0
      head -n $((n - 1)) "$WORK/idle.pub" | while read -r pub; do
        i=$((i + 1))
        printf '  - name: idle%d\n    publicKey: "%s"\n    ipv4: 10.66.0.%d\n' $i "$pub" $((2 + i))
      done
    } >"$WORK/gateway-$v-$n.yaml"
  done
done

# ------------------------------------------------------------------- a case
GW_PID="" CL_PID="" FAIL=""
case_up() {  # case_up VARIANT N
  local v=$1 n=$2 glog="$WORK/$1-$2-gateway.log"
  FAIL=""
  if [ $v = up ]; then
    ip netns exec $NS_G nft -f "$WORK/firewall-$n.nft"
    spawn $NS_G "$glog" "${MG[@]}" up "$WORK/up-$n/$DEV_GW.conf"
  else
    spawn $NS_G "$glog" "${MG[@]}" gateway --config "$WORK/gateway-$v-$n.yaml"
  fi
  GW_PID=$LAST_PID
  ready "$glog" $GW_PID || { FAIL="gateway ($v, $n clients) not ready: $(tail -c 400 "$glog")"; return 1; }
  ip -n $NS_C route del default 2>/dev/null || true
  cp "$WORK/client.conf" "$WORK/$DEV_C.conf"
  spawn $NS_C "$WORK/$v-$n-client.log" "${MG[@]}" up "$WORK/$DEV_C.conf"
  CL_PID=$LAST_PID
  ready "$WORK/$v-$n-client.log" $CL_PID || { FAIL="client not ready"; return 1; }
  ip -n $NS_C route replace $G_UL/32 dev $V_C
  ip -n $NS_C route replace default dev $DEV_C
  for _ in $(seq 8); do
    timeout 5 ip netns exec $NS_C iperf3 -c $INET -n 1K --connect-timeout 1500 >/dev/null 2>&1 && return 0
    sleep 0.3
  done
  FAIL="no way through the tunnel ($v, $n clients)"
  return 1
}
case_down() {
  local p
  for p in $CL_PID $GW_PID; do stop_pids $p; forget $p; done
  GW_PID="" CL_PID=""
  ip netns exec $NS_G nft delete table inet meshgate 2>/dev/null || true
  ip -n $NS_C link del $DEV_C 2>/dev/null || true
  ip -n $NS_G link del $DEV_GW 2>/dev/null || true
}

RUNS="$WORK/runs.jsonl"
: >"$RUNS"
measure() {  # measure VARIANT N ROUND DIR(fwd|rev)
  local v=$1 n=$2 r=$3 d=$4 flag="" out t0 t1 c0 c1 hz mbps bytes
  [ "$d" = rev ] && flag=-R
  hz=$(getconf CLK_TCK)
  c0=$(cpu_ticks $GW_PID) t0=$(date +%s.%N)
  out=$(ip netns exec $NS_C iperf3 -c $INET -t "$T" $flag -J 2>&1) || true
  c1=$(cpu_ticks $GW_PID) t1=$(date +%s.%N)
  mbps=$(jq -r '.end.sum_received.bits_per_second // empty' <<<"$out" 2>/dev/null || true)
  bytes=$(jq -r '.end.sum_received.bytes // empty' <<<"$out" 2>/dev/null || true)
  if [ -z "$mbps" ] || [ -z "$bytes" ]; then
    log "  $v/$n $d: iperf3 failed: $(tail -c 200 <<<"$out")"
    return 0
  fi
  # gateway CPU: % of one core over the run, and CPU seconds per GB delivered
  jq -nc --arg v "$v" --argjson n "$n" --argjson r "$r" --arg d "$d" --argjson bps "$mbps" --argjson bytes "$bytes" \
    --argjson cpu "$(awk -v a="$c0" -v b="$c1" -v h="$hz" -v s="$t0" -v e="$t1" 'BEGIN{printf "%.1f", (b-a)/h/(e-s)*100}')" \
    --argjson cpus "$(awk -v a="$c0" -v b="$c1" -v h="$hz" 'BEGIN{printf "%.3f", (b-a)/h}')" \
    --argjson load "$(cut -d' ' -f1 /proc/loadavg)" \
    '{variant:$v, clients:$n, round:$r, dir:$d, mbps:($bps/1e6), gwCpu:$cpu, gwCpuPerGB:($cpus/($bytes/1e9)), load1:$load}' >>"$RUNS"
  log "  $v/$n $d: $(awk -v b="$mbps" 'BEGIN{printf "%.0f", b/1e6}') Mb/s, gateway $(jq -r '.gwCpuPerGB * 100 | round / 100' <<<"$(tail -n1 "$RUNS")") CPU s/GB, load $(cut -d' ' -f1 /proc/loadavg)"
}

# the gateway's own nftables table, for the up variant (the gateway removes it when it stops)
for n in $CLIENTS; do
  spawn $NS_G "$WORK/firewall-$n.log" "${MG[@]}" gateway --config "$WORK/gateway-gw-$n.yaml"
  GW_PID=$LAST_PID
  ready "$WORK/firewall-$n.log" $GW_PID || die "gateway ($n clients) not ready: $(tail -c 400 "$WORK/firewall-$n.log")"
  ip netns exec $NS_G nft list table inet meshgate >"$WORK/firewall-$n.nft"
  stop_pids $GW_PID
  forget $GW_PID
  ip netns exec $NS_G nft delete table inet meshgate 2>/dev/null || true
done
GW_PID=""

read -r -a VS <<<"$VARIANTS"
log "load: $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min), $(nproc) cores; T=$T REPEAT=$REPEAT CLIENTS=\"$CLIENTS\""
for r in $(seq 1 "$REPEAT"); do
  for n in $CLIENTS; do
    for k in $(seq 0 $((${#VS[@]} - 1))); do
      v=${VS[$(((k + r - 1) % ${#VS[@]}))]}
      log "round $r: $v, $n clients"
      if case_up $v $n; then
        measure $v $n $r fwd
        measure $v $n $r rev
        if [ $v != up ]; then
          # the shaper counted what went through (a proof it ran)
          ip netns exec $NS_G "${MG[@]}" gateway usage --config "$WORK/gateway-$v-$n.yaml" --json \
            >"$WORK/usage.json" 2>/dev/null &&
            log "  usage c0: $(jq -r '.clients[] | select(.name=="c0") | "down \(.download.bytes/1e6|floor) MB, up \(.upload.bytes/1e6|floor) MB, policy \(.policy)"' "$WORK/usage.json")"
        fi
      else
        log "  FAILED: $FAIL"
      fi
      case_down
    done
  done
done

# ------------------------------------------------------------------- report
MEDIAN='def median: sort | if length == 0 then null elif length % 2 == 1 then .[length / 2 | floor]
          else (.[length / 2 - 1] + .[length / 2]) / 2 end;
        def cell($rows; $v; $n; $d): [$rows[] | select(.variant == $v and .clients == $n and .dir == $d)];
        def fmt($k): if . == null then "-" else (. * $k | round / $k | tostring) end;
        def ratio($rows; $a; $b; $n; $d; f):
          [cell($rows; $a; $n; $d)[] as $x | cell($rows; $b; $n; $d)[] | select(.round == $x.round) | ($x | f) / f]
          | median | fmt(1000);'
echo
echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min)"
echo "medians over rounds: gateway CPU seconds per GB delivered (Mb/s; gateway CPU in % of one core)"
jq -rs --arg vs "$VARIANTS" --arg ns "$CLIENTS" "$MEDIAN"'
  . as $rows | ($vs | split(" ")) as $V | ($ns | split(" ") | map(tonumber)) as $N
  | "variant\tclients\tupload (fwd)\tdownload (rev)",
    ($N[] as $n | $V[] as $v | [["fwd", "rev"][] as $d | cell($rows; $v; $n; $d)
        | "\(map(.gwCpuPerGB) | median | fmt(100)) s/GB (\(map(.mbps) | median | fmt(1)) Mb/s; \(map(.gwCpu) | median | fmt(1))%)"]
      | "\($v)\t\($n)\t\(.[0])\t\(.[1])")
' "$RUNS" | column -t -s $'\t'
echo
echo "ratios, median over rounds of the ratio within a round: gateway CPU s/GB (Mb/s)"
jq -rs --arg vs "$VARIANTS" --arg ns "$CLIENTS" "$MEDIAN"'
  . as $rows | ($vs | split(" ")) as $V | ($ns | split(" ") | map(tonumber)) as $N
  | "ratio\tclients\tupload\tdownload",
    ($N[] as $n | [["gw", "up"], ["pol", "up"], ["pol", "gw"]][] as [$a, $b]
      | select(($V | index($a)) != null and ($V | index($b)) != null)
      | [["fwd", "rev"][] as $d | "\(ratio($rows; $a; $b; $n; $d; .gwCpuPerGB)) (\(ratio($rows; $a; $b; $n; $d; .mbps)))"]
      | "\($a)/\($b)\t\($n)\t\(.[0])\t\(.[1])")
' "$RUNS" | column -t -s $'\t'
if [ -n "$JSON" ]; then jq -s '{runs: .}' "$RUNS" >"$JSON"; fi
