#!/usr/bin/env bash
# Builds relish's examples (Release, build/release) and runs one.
# Placeholder: there is no example yet.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install_deps.sh

cmake -S . -B build/release \
  -DCMAKE_BUILD_TYPE=Release \
  -DRELISH_BUILD_TESTS=OFF -DRELISH_BUILD_EXAMPLES=ON -DRELISH_BUILD_BENCHMARKS=OFF
cmake --build build/release -j"$(nproc)"

echo "no example yet"
