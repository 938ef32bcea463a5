#!/usr/bin/env bash
# The test suite (but its accuracy tier) under AddressSanitizer + UBSan, then the fuzz targets for a
# short run (clang's libFuzzer, also under ASan + UBSan).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null

cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAMANUENSIS_SANITIZE=ON >/dev/null
cmake --build build-asan
# Every test but the `accuracy` and `load` tiers: those compare numbers with
# Python references (faster-whisper, numpy) or repeat requests, over the same
# code paths as the end-to-end tests (the server's concurrent ones included),
# many times slower under ASan; the release build runs them.
ctest --test-dir build-asan --output-on-failure -LE "accuracy|load"

CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DAMANUENSIS_SANITIZE=ON -DAMANUENSIS_FUZZ=ON -DBUILD_TESTING=OFF >/dev/null
cmake --build build-fuzz --target npy_fuzzer audio_fuzzer ct2_fuzzer safetensors_fuzzer \
  ggml_fuzzer tokenizer_fuzzer request_fuzzer
seconds="${FUZZ_SECONDS:-45}"
for target in npy audio ct2 safetensors ggml tokenizer request; do
  work=$(mktemp -d)
  cp fuzz/corpus/"$target"/* "$work"/
  ./build-fuzz/${target}_fuzzer -max_total_time="$seconds" -print_final_stats=1 "$work" 2>&1 | tail -n 3
  rm -rf "$work"
  echo "fuzz: ${target}_fuzzer ran ${seconds}s without a crash"
done
