#!/usr/bin/env bash
# Runs every test: installs what is missing, builds with -Werror, runs ctest, then repeats under
# AddressSanitizer + UBSan and runs each fuzz target for a bounded time.
# ESPTOOLS_QUICK=1 skips the sanitizer build and the fuzzers.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
jobs=$(nproc)

"$root/scripts/install-deps.sh"

echo "== Build (-Wall -Wextra -Werror) and test"
cmake -S . -B build-ci -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DESPTOOLS_WERROR=ON -DESPTOOLS_BUILD_STUBS=ON >/dev/null
cmake --build build-ci -j "$jobs"
ctest --test-dir build-ci -j "$jobs" --output-on-failure --timeout 600

if [[ "${ESPTOOLS_QUICK:-0}" != 1 ]]; then
  echo "== AddressSanitizer + UBSan build and test (clang, with libFuzzer targets)"
  CC=clang CXX=clang++ cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug \
    -DESPTOOLS_WERROR=ON -DESPTOOLS_SANITIZE=ON -DESPTOOLS_FUZZ=ON >/dev/null
  cmake --build build-asan -j "$jobs"
  ctest --test-dir build-asan -j "$jobs" --output-on-failure --timeout 900

  echo "== Fuzzing (bounded)"
  "$root/scripts/fuzz.sh" build-asan "${ESPTOOLS_FUZZ_SECONDS:-30}"
fi
