#!/usr/bin/env bash
# A long run of the property-based fuzzing in test/unit/fuzz.test.ts: every
# parser that network bytes reach (WireGuard messages through the device, the
# lease messages and their carrier), arbitrary and mutated inputs. It prints
# how many inputs ran without an exception; a failure shows fast-check's
# shrunk counterexample and its seed (rerun with FUZZ_SEED=<seed>).
#
#   bash scripts/fuzz.sh                   # 1,000,000 inputs
#   FUZZ_RUNS=100000 bash scripts/fuzz.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export FUZZ_RUNS="${FUZZ_RUNS:-1000000}"
exec npx vitest run --project unit test/unit/fuzz.test.ts
