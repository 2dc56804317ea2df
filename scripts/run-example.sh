#!/usr/bin/env bash
# The main job, as far as the project goes today: install what is missing, build the tools, make an
# image of an example ELF, inspect it, and merge it with a bootloader and partition table into one
# flash file. (Flashing the virtual chip joins when esp-loader and esp-vchip land.)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
"$root/scripts/install-deps.sh"

build="$root/build"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DESPTOOLS_TESTS=OFF >/dev/null
cmake --build "$build" --target esp-imagegen
imagegen="$build/tools/imagegen/esp-imagegen"
inputs="$root/../shared/corpus/inputs"
out="$build/example"
mkdir -p "$out"

echo "== elf2image"
"$imagegen" --chip esp32c6 elf2image --flash-mode dio --flash-size 4MB -o "$out/app.bin" "$inputs/esp32c6-appdesc.elf"
echo "== image-info"
"$imagegen" --chip esp32c6 image-info "$out/app.bin"
echo "== merge-bin"
"$imagegen" --chip esp32c6 merge-bin -o "$out/flash.bin" --pad-to-size 4MB \
  0x8000 "$inputs/partitions_singleapp.bin" 0x10000 "$out/app.bin"
ls -l "$out"
