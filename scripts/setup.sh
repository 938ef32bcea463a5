#!/usr/bin/env bash
# Installs what amanuensis needs (Debian packages, PyPI test oracles) and builds
# it into build/. Idempotent: installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(cmake ninja-build g++ clang libclang-rt-14-dev python3 python3-pip
              libgtest-dev libcli11-dev nlohmann-json3-dev libopenblas-dev espeak-ng
              pkg-config libsndfile1-dev libsoxr-dev libfftw3-dev qemu-user
              libavformat-dev libavcodec-dev libavutil-dev ffmpeg
              libpcre2-dev zlib1g-dev libboost-dev nginx ccache
              chromium)  # the live transcription page's browser test
missing=()
for p in "${apt_packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq -o DPkg::Lock::Timeout=300 \
    "${missing[@]}" >/dev/null
fi

# Test oracles from PyPI; pip installs only what is missing or too old.
PIP_ROOT_USER_ACTION=ignore python3 -m pip install -q --disable-pip-version-check \
  -r scripts/requirements-test.txt
# Real Whisper weights and Silero VAD's (for --vad), cached outside the repository.
python3 scripts/fetch_models.py tiny.en base silero-vad >/dev/null

# The Python package below compiles the core's sources again, with the same
# flags, in its own tree: through ccache it takes build/'s objects instead
# (about two minutes of a fresh machine's setup). ccache tells compilers apart
# by the name they are called by, and scikit-build-core calls Python's (g++),
# so build/ does too. Read by a tree's first configure only.
export CMAKE_C_COMPILER_LAUNCHER=ccache CMAKE_CXX_COMPILER_LAUNCHER=ccache
export CC="${CC:-gcc}" CXX="${CXX:-g++}"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build
# The Python package (`import amanuensis`, faster-whisper's API): its own CMake
# tree build/wheel/ (incremental), the build tools installed above.
PIP_ROOT_USER_ACTION=ignore python3 -m pip install -q --disable-pip-version-check \
  --no-build-isolation .
