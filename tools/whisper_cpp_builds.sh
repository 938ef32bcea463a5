#!/usr/bin/env bash
# whisper.cpp built from source two ways, its encoder timed on one ggml model:
# is pywhispercpp's wheel (an AVX2 build) whisper.cpp's best on this machine?
#
#   bash tools/whisper_cpp_builds.sh [GGML_MODEL] [THREADS] [RUNS]
#
# GGML_MODEL defaults to tools/ct2_to_ggml.py's base conversion, the file that
# tools/bench_encoder_peers.py times. The source is the whisper.cpp inside the
# pywhispercpp 1.5.1 sdist (the version of the wheel the peer script uses),
# fetched from PyPI with a pinned sha256 and built outside the repository in
# ~/.cache/amanuensis/whisper.cpp: once with GGML_NATIVE=ON (-march=native, here
# AVX-512), once with the wheel's flags (AVX2, FMA, F16C, no AVX-512). Each
# build's whisper_encode of one 30 s window is timed by
# tools/whisper_cpp_encode_bench.cpp: two warm-ups, then the median of RUNS.
# Needs cmake, ninja, g++ and python3 (scripts/setup.sh installs them).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
MODEL=${1:-$HOME/.cache/amanuensis/ggml/ggml-base.bin}
THREADS=${2:-2}
RUNS=${3:-5}
CACHE=$HOME/.cache/amanuensis/whisper.cpp
URL=https://files.pythonhosted.org/packages/9f/35/610787a277e177e6b7983277a35a2969c0876b46c0d889bc6a0c4b4ac4a7/pywhispercpp-1.5.1.tar.gz
SHA256=5df897e5dd9d9f16804fc937bd85b9f5880a0b29a55f8843585e0e03d76195e5

[[ -f $MODEL ]] || { echo "$MODEL: no such ggml model (run tools/bench_encoder_peers.py once, or pass one)" >&2; exit 1; }
mkdir -p "$CACHE"
cd "$CACHE"
if [[ ! -d pywhispercpp-1.5.1/whisper.cpp ]]; then
  python3 -c 'import sys, urllib.request; urllib.request.urlretrieve(sys.argv[1], sys.argv[2])' \
    "$URL" sdist.tar.gz
  echo "$SHA256  sdist.tar.gz" | sha256sum -c --quiet
  tar xzf sdist.tar.gz
  rm sdist.tar.gz
fi
SRC=$CACHE/pywhispercpp-1.5.1/whisper.cpp

build() {  # build DIR CMAKE_FLAGS...: static libwhisper + ggml, then the timing program
  local dir=$1
  shift
  if [[ ! -x $dir/encode_bench ]]; then
    # The build's output goes to DIR.log, printed if it fails.
    if ! { cmake -S "$SRC" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
      -DWHISPER_BUILD_TESTS=OFF -DWHISPER_BUILD_EXAMPLES=OFF -DWHISPER_SDL2=OFF "$@" &&
      cmake --build "$dir" -j"$(nproc)"; } >"$dir.log" 2>&1; then
      cat "$dir.log" >&2
      exit 1
    fi
    g++ -O2 -std=c++17 "$REPO/tools/whisper_cpp_encode_bench.cpp" -I "$SRC/include" \
      -I "$SRC/ggml/include" "$dir/src/libwhisper.a" "$dir/ggml/src/libggml.a" \
      "$dir/ggml/src/libggml-cpu.a" "$dir/ggml/src/libggml-base.a" -fopenmp -lpthread \
      -o "$dir/encode_bench"
  fi
}
build "$CACHE/build-native" -DGGML_NATIVE=ON
build "$CACHE/build-avx2" -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON \
  -DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_AVX512=OFF

echo "whisper.cpp (pywhispercpp 1.5.1 source), $MODEL, $THREADS threads, median of $RUNS, ms per encode:"
for round in 1 2 3; do
  printf "round %d: native (-march=native) %s, AVX2 %s\n" "$round" \
    "$("$CACHE/build-native/encode_bench" "$MODEL" "$THREADS" "$RUNS")" \
    "$("$CACHE/build-avx2/encode_bench" "$MODEL" "$THREADS" "$RUNS")"
done
