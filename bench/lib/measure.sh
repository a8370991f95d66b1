# shellcheck shell=bash
# bench/lib/measure.sh - sourced by bench/run.sh (uses its variables): CPU of
# process trees and of the VM, device counters, waiting for an idle machine,
# and one iperf3 run with its JSON row.

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
