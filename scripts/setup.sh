#!/usr/bin/env bash
# Installs what meshgate needs on a Debian 12 machine (as root) and builds it.
# Idempotent: safe to run again. Used by the demo, the test run and CI.
set -euo pipefail
cd "$(dirname "$0")/.."

[ "$(id -u)" = 0 ] || { echo "setup: run as root (it installs Debian packages)" >&2; exit 1; }

need_node() {
  command -v node >/dev/null || return 0
  node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?1:0)'
}
if need_node; then
  echo "setup: meshgate needs Node.js >= 20.19 with npm (found: $(node --version 2>/dev/null || echo none))." >&2
  echo "       Install it first (Debian 12's own nodejs package is 18.x, too old)." >&2
  exit 1
fi

# prometheus: for promtool (checks deploy/prometheus/); chromium: the admin page's browser test.
packages=(iproute2 iputils-ping nftables wireguard-go wireguard-tools yggdrasil iperf3 jq tcpdump procps python3 make g++ ca-certificates prometheus chromium)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Packages install services (the prometheus server among them): none may start on this
  # machine, so a policy-rc.d refuses every start for the length of the install (unless the
  # machine already has its own policy).
  own_policy=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    own_policy=1
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
  fi
  rc=0
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || rc=$?
  [ -n "$own_policy" ] && rm -f /usr/sbin/policy-rc.d
  [ "$rc" = 0 ] || exit "$rc"
fi

# Builds the native TUN/UDP addon from source (node-gyp, no download) and the TypeScript.
if [ ! -f build/Release/meshgate_io.node ] || [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npm run build --silent
