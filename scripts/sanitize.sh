#!/usr/bin/env bash
# The in-process tiers under AddressSanitizer + UBSan, then the fuzz targets
# for a short run (clang's libFuzzer, also under ASan + UBSan).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null

cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAMANUENSIS_SANITIZE=ON >/dev/null
# Only what the in-process tiers run: the unit tests and the developer's tool
# (the bit-exact tier's encoder), not the programs and the shared library.
cmake --build build-asan --target unit_tests amanuensis-dev
# The unit, model-files and bit-exact tiers: every kernel, parser and stage
# in-process, and the encoder's bytes across backends. The tiers that run whole
# programs (end-to-end, accuracy, load) go through the same code many times
# slower under ASan; the release build runs them, and the fuzzers below feed
# the parsers of outside data.
start=$SECONDS
ctest --test-dir build-asan --output-on-failure -j2 -L "unit|model-files|bit-exact"
echo "sanitize.sh: sanitized tests took $((SECONDS - start)) s"
start=$SECONDS

CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DAMANUENSIS_SANITIZE=ON -DAMANUENSIS_FUZZ=ON -DBUILD_TESTING=OFF >/dev/null
cmake --build build-fuzz --target npy_fuzzer audio_fuzzer ct2_fuzzer safetensors_fuzzer \
  ggml_fuzzer tokenizer_fuzzer request_fuzzer http_fuzzer
seconds="${FUZZ_SECONDS:-20}"  # 8 targets: under 3 minutes of CI's 45 (FUZZ_SECONDS for longer runs)
for target in npy audio ct2 safetensors ggml tokenizer request http; do
  work=$(mktemp -d)
  cp fuzz/corpus/"$target"/* "$work"/
  ./build-fuzz/${target}_fuzzer -max_total_time="$seconds" -print_final_stats=1 "$work" 2>&1 | tail -n 3
  rm -rf "$work"
  echo "fuzz: ${target}_fuzzer ran ${seconds}s without a crash"
done
echo "sanitize.sh: fuzzing took $((SECONDS - start)) s"
