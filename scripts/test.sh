#!/usr/bin/env bash
# Sets up, builds and runs every test (unit tests, float64 accuracy, CLI errors).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
ctest --test-dir build --output-on-failure
