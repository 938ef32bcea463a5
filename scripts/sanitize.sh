#!/usr/bin/env bash
# The in-process tiers under AddressSanitizer + UBSan, then the fuzz targets
# for a short run (clang's libFuzzer, also under ASan + UBSan).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null

# One clang build for both halves: AddressSanitizer + UBSan everywhere, and
# libFuzzer's coverage counters in the library (which the tests do not mind).
# Line tables are all the debug information a sanitizer's report needs.
CC=clang CXX=clang++ cmake -S . -B build-sanitize -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -gline-tables-only -DNDEBUG" \
  -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O2 -gline-tables-only -DNDEBUG" \
  -DAMANUENSIS_SANITIZE=ON -DAMANUENSIS_FUZZ=ON >/dev/null
targets=(npy audio ct2 safetensors ggml tokenizer request http realtime)
# Only what the in-process tiers run (the unit tests and the developer's
# tool, the bit-exact tier's encoder), not the programs and the shared
# library; and the fuzz targets.
cmake --build build-sanitize --target unit_tests amanuensis-dev "${targets[@]/%/_fuzzer}"
# The unit, model-files and bit-exact tiers: every kernel, parser and stage
# in-process, and the encoder's bytes across backends. The tiers that run whole
# programs (end-to-end, accuracy, load) go through the same code many times
# slower under ASan; the release build runs them, and the fuzzers below feed
# the parsers of outside data.
start=$SECONDS
ctest --test-dir build-sanitize --output-on-failure -j2 -L "unit|model-files|bit-exact"
echo "sanitize.sh: sanitized tests took $((SECONDS - start)) s"
start=$SECONDS

seconds="${FUZZ_SECONDS:-20}"  # a target; two run at once (FUZZ_SECONDS for longer runs)
fuzz() {  # one target on a copy of its corpus; its last lines, then the verdict
  local target=$1 work
  work=$(mktemp -d)
  cp fuzz/corpus/"$target"/* "$work"/
  if ./build-sanitize/${target}_fuzzer -max_total_time="$seconds" -print_final_stats=1 "$work" \
      >"$work.log" 2>&1; then
    tail -n 3 "$work.log"
    echo "fuzz: ${target}_fuzzer ran ${seconds}s without a crash"
  else
    tail -n 40 "$work.log"
    echo "fuzz: ${target}_fuzzer FAILED"
    return 1
  fi
  rm -rf "$work" "$work.log"
}
# Two at a time: each fuzzer is one process on one core.
for ((i = 0; i < ${#targets[@]}; i += 2)); do
  fuzz "${targets[i]}" &
  first=$!
  second=""
  if ((i + 1 < ${#targets[@]})); then
    fuzz "${targets[i + 1]}" &
    second=$!
  fi
  wait "$first"
  if [ -n "$second" ]; then wait "$second"; fi
done
echo "sanitize.sh: fuzzing took $((SECONDS - start)) s"
