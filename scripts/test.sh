#!/usr/bin/env bash
# Sets up, builds and runs every test: the unit tier (offline, no model; two at
# a time), then the tiers that run programs, models and Python references
# (one at a time: several of them time requests or count threads).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
start=$SECONDS
ctest --test-dir build --output-on-failure -j2 -L unit
echo "test.sh: unit tier took $((SECONDS - start)) s"
start=$SECONDS
ctest --test-dir build --output-on-failure -LE unit
echo "test.sh: other tiers took $((SECONDS - start)) s"
