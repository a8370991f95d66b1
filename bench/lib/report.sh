# shellcheck shell=bash
# bench/lib/report.sh - sourced by bench/run.sh (uses its variables): the
# results table, medians and ratios over the rounds, and the JSON file, all
# from the rows in $ROWS.

# report: everything run.sh prints after the cases, and $JSON when set
report() {
  print_table
  summarize
  print_summary
  write_json
}

# print_table: the versions (ver_*, for the JSON too), one line per case and
# round, the legend and the failures
print_table() {
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
}

# per case: median Mb/s over its valid rounds that started on an idle machine
# (over all valid rounds if none did: then "noisy"); ratios between medians
# -> SUMMARY
summarize() {
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
}

# print_summary: the medians (REPEAT > 1), the ratios and the load warning
print_summary() {
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
}

# write_json: the rows, versions, medians and ratios into $JSON (when set)
write_json() {
  if [ -n "$JSON" ]; then
    jq -s --arg date "$(date -u +%FT%TZ)" --argjson t "$T" --argjson p "$PARALLEL" \
      --argjson rep "$REPEAT" --argjson nproc "$NPROC" --argjson mtu "$MTU" --argjson sum "$SUMMARY" \
      --arg mg "$ver_mg" --arg wg "$ver_wg" --arg an "$ver_an" --arg ip "$ver_iperf" --arg node "$ver_node" --arg k "$ver_kernel" \
      '{date: $date, t: $t, parallel: $p, repeat: $rep, nproc: $nproc, mtu: $mtu,
        versions: {meshgate: $mg, "wireguard-go": $wg, anchor: $an, iperf3: $ip, node: $node, kernel: $k},
        runs: ., median: $sum.median, ratios: $sum.ratios}' "$ROWS" >"$JSON"
    echo "results written to $JSON"
  fi
}
