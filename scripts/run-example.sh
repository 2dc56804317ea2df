#!/usr/bin/env bash
# The main job: install what is missing, build the tools, build the example firmware (bare-metal
# ESP32-C3, Debian's clang), make its image, flash it to a virtual ESP32-C3 whose flash is a file in
# the build tree, verify it, read it back, and run it.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
"$root/scripts/install-deps.sh"

tools="$root/build"
cmake -S . -B "$tools" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$tools" --target esp-imagegen esp-loader esp-vchip

example="$tools/example-hello"
cmake -S examples/hello-esp32c3 -B "$example" -G Ninja \
  -DCMAKE_TOOLCHAIN_FILE="$root/cmake/toolchains/riscv32-esp-clang.cmake" \
  -DESPTOOLS_TOOLS_DIR="$tools" -DESPTOOLS_PORT="vchip:esp32c3?flash=$example/flash.bin" >/dev/null
echo "== build the firmware and its images"
cmake --build "$example"
"$tools/tools/imagegen/esp-imagegen" --chip esp32c3 image-info "$example/hello.bin"
for target in flash verify dump run; do
  echo "== cmake --build $example --target $target"
  cmake --build "$example" --target "$target"
done
cmp "$example/hello.dump.bin" "$example/hello.bin" && echo "read back: identical to the image"
