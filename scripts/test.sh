#!/usr/bin/env bash
# Runs every test: type-check, lint, unit and vector tests, and the
# network-namespace tests (real TUN devices, wireguard-go, nftables), as root.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
rm -f .vitest-results.json
rc=0
npm test || rc=$?
node scripts/test-summary.mjs .vitest-results.json
exit $rc
