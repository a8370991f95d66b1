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

# ------------------------------------------------------------ the parts ----
# lifecycle and namespaces, tunnel daemons, measuring, report: bench/lib/
. "$REPO/bench/lib/namespaces.sh"
. "$REPO/bench/lib/peers.sh"
. "$REPO/bench/lib/measure.sh"
. "$REPO/bench/lib/report.sh"

cleanup                                    # leftovers of an interrupted run
set -e                                     # (cleanup switched it off)
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
[ -d "$WG_RUN" ] || WG_RUN_MADE=1
mkdir -p "$WG_RUN"
WORK=$(mktemp -d /tmp/mg-bench.XXXXXX)

log "creating namespaces $NS_C $NS_G $NS_I"
make_topology
start_server
probe 3 || die "plain path client -> internet broken"

for s in c g; do
  (umask 077; wg genkey >"$WORK/$s.key")
  wg pubkey <"$WORK/$s.key" >"$WORK/$s.pub"
done

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

report
