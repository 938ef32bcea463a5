#!/usr/bin/env bash
# Installs amanuensis from a build folder into a temporary prefix, builds
# examples/minimal against it with find_package(amanuensis), and runs it on
# jfk.wav: the public API as an outside program sees it.
set -euo pipefail
build="$1"
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" >/dev/null
cmake -S "$repo/examples/minimal" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/build" >/dev/null
models="${AMANUENSIS_MODELS:-$HOME/.cache/amanuensis/models}"
out="$("$work/build/minimal" "$models/tiny.en" "$repo/../shared/data/jfk.wav")"
echo "$out"
grep -q "ask not what your country can do for you" <<<"$out"
grep -q "^language en" <<<"$out"
echo "install_consumer_test: passed"
