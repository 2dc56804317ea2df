#!/usr/bin/env bash
# write-flash of 1 MB through the ROM loader to the timed virtual chip (timing=1: real-time UART and
# flash times), compressible (real firmware bytes) and incompressible (random), at each baud.
# Prints effective kbit/s (file bytes * 8 / wall time) and its ratio to the link limit (baud * 8/10).
# usage: bench/loader_write.sh [BUILD_DIR] [BAUD...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
shift || true
bauds=("$@")
[[ ${#bauds[@]} -gt 0 ]] || bauds=(115200 921600)
loader="$build/tools/loader/esp-loader"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
head -c 1048576 "$root/../shared/corpus/inputs/esp32-app-template.elf" > "$work/firmware.bin"
head -c 1048576 /dev/urandom > "$work/random.bin"
for baud in "${bauds[@]}"; do
  for kind in firmware random; do
    rm -f "$work/flash.bin"*
    start=$(date +%s%N)
    "$loader" --no-stub --chip esp32c3 --baud "$baud" --port "vchip:esp32c3?timing=1&flash=$work/flash.bin" \
      write-flash --no-progress 0x0 "$work/$kind.bin" > "$work/log" 2>&1 || { cat "$work/log"; exit 1; }
    end=$(date +%s%N)
    compressed=$(sed -n 's/.*Compressed [0-9]* bytes to \([0-9]*\).*/\1/p' "$work/log")
    awk -v ns=$((end - start)) -v baud="$baud" -v kind="$kind" -v c="$compressed" 'BEGIN {
      s = ns / 1e9; kbit = 1048576 * 8 / 1000 / s; limit = baud * 0.8 / 1000;
      printf "%-8s baud %7d: %6.2f s, %8.1f kbit/s effective, %5.1f%% of the %6.1f kbit/s link limit (compressed to %d bytes, ratio %.2f)\n",
        kind, baud, s, kbit, 100 * kbit / limit, limit, c, 1048576 / c }'
  done
done
