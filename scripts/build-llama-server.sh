#!/usr/bin/env bash
# Builds llama.cpp's own `llama-server` from the very llama.cpp source node-llama-cpp bundles
# (node_modules/node-llama-cpp/llama/gitRelease.bundle, the release named in llama.cpp.info.json),
# into a directory outside the repository, for `node bench/lmx/run.mjs --llama-server PATH`.
# Needs cmake and a C++ compiler (Debian: apt-get install cmake g++); nothing is downloaded.
#
#   scripts/build-llama-server.sh [BUILD_DIR]     (default /tmp/llama-build; JOBS=2 by default)
#
# Prints the path of the built binary on its last line.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="${1:-/tmp/llama-build}"
jobs="${JOBS:-2}"
bundle="$root/node_modules/node-llama-cpp/llama/gitRelease.bundle"
info="$root/node_modules/node-llama-cpp/llama/llama.cpp.info.json"
[ -f "$bundle" ] || { echo "no $bundle: run npm install first" >&2; exit 1; }
command -v cmake >/dev/null || { echo "cmake is missing (Debian: apt-get install cmake)" >&2; exit 1; }
echo "llama.cpp release: $(tr -d '\n ' <"$info")" >&2
if [ ! -d "$dir/llama.cpp/.git" ]; then
  mkdir -p "$dir"
  git clone --quiet "$bundle" "$dir/llama.cpp"
fi
cmake -S "$dir/llama.cpp" -B "$dir/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DLLAMA_CURL=OFF \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF >&2
cmake --build "$dir/build" --target llama-server -j "$jobs" >&2
echo "$dir/build/bin/llama-server"
