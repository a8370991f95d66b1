# Shell helpers shared by scripts/demo.sh and the bench scripts (sourced, not run).

stop_pids() {  # TERM, wait up to 3 s, then KILL; by PID only
  local p alive
  [ $# -gt 0 ] || return 0
  for p in "$@"; do kill -TERM "$p" 2>/dev/null || true; done
  for _ in $(seq 30); do
    alive=0
    for p in "$@"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.1
  done
  for p in "$@"; do kill -KILL "$p" 2>/dev/null || true; done
  for p in "$@"; do wait "$p" 2>/dev/null || true; done
}

ns_exists() { ip netns list | awk '{print $1}' | grep -qx "$1"; }

# remove_namespaces NS... : stops what still runs inside each namespace (the
# caller's script started it, now or in an earlier, interrupted run), then
# deletes the namespaces; absent ones are skipped.
remove_namespaces() {
  local ns left=()
  for ns in "$@"; do ns_exists "$ns" && left+=($(ip netns pids "$ns" 2>/dev/null)); done
  stop_pids "${left[@]}"
  for ns in "$@"; do ns_exists "$ns" && ip netns del "$ns"; done
  return 0
}

# client_wg_quick PRIVATE-KEY-FILE ADDRESS MTU PEER-PUBLIC-KEY-FILE ENDPOINT :
# prints the wg-quick file of a client sending everything through its peer
client_wg_quick() {
  cat <<CONF
[Interface]
PrivateKey = $(cat "$1")
Address = $2
MTU = $3

[Peer]
PublicKey = $(cat "$4")
AllowedIPs = 0.0.0.0/0
Endpoint = $5
PersistentKeepalive = 25
CONF
}
