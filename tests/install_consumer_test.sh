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
# The library exports its public API and no other function: no kernel, model
# or server code is callable from the program that loads it.
lib="$(find "$work/prefix" -name 'libamanuensis.so*' -type f | head -n 1)"
api='amanuensis::(Model|Session|StreamingSession|Error|load_audio|decode_audio|language_name|model_cache_dir|parse_|to_string)'
symbols="$(nm -DC --defined-only "$lib")"
leaked="$(awk '$2 == "T" || $2 == "i"' <<<"$symbols" | grep -Ev "$api" || true)"
if [ -n "$leaked" ]; then
  echo "install_consumer_test: internal functions exported:"; head -n 5 <<<"$leaked"; exit 1
fi
grep -q 'amanuensis::Session::transcribe' <<<"$symbols"
grep -q 'amanuensis::StreamingSession::push' <<<"$symbols"
models="${AMANUENSIS_MODELS:-$HOME/.cache/amanuensis/models}"
out="$("$work/build/minimal" "$models/tiny.en" "$repo/samples/jfk.wav")"
echo "$out"
grep -q "ask not what your country can do for you" <<<"$out"
grep -q "^language en" <<<"$out"
echo "install_consumer_test: passed"
