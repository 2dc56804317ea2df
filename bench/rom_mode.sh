#!/usr/bin/env bash
# What commands cost without a flasher stub, on the timed virtual chip (timing=1: real-time UART and
# flash times): read-flash and verify-flash of 64 KB, erase-region of 64 KB and erase-flash of 4 MB,
# on the ESP32 (READ_FLASH_SLOW, ROM MD5) and the ESP8266 (reads through the SPI registers, verify
# by read-back, no baud change), at each baud. Whole process, connect included.
# usage: bench/rom_mode.sh [BUILD_DIR] [BAUD...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
shift || true
bauds=("$@")
[[ ${#bauds[@]} -gt 0 ]] || bauds=(115200 921600)
loader="$build/tools/loader/esp-loader"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
head -c 65536 /dev/urandom > "$work/data.bin"

run() { # label, chip, baud, command...
  local label=$1 chip=$2 baud=$3
  shift 3
  local start end
  start=$(date +%s%N)
  "$loader" --no-stub --chip "$chip" --baud "$baud" --port "vchip:$chip?timing=1&flash=$work/$chip.bin" \
    "$@" > "$work/log" 2>&1 || { cat "$work/log"; exit 1; }
  end=$(date +%s%N)
  awk -v ns=$((end - start)) -v label="$label" -v chip="$chip" -v baud="$baud" 'BEGIN {
    s = ns / 1e9; printf "%-8s baud %7d  %-22s %7.2f s  (%6.1f kbit/s for 64 KB)\n",
      chip, baud, label, s, 65536 * 8 / 1000 / s }'
}

for baud in "${bauds[@]}"; do
  for chip in esp32 esp8266; do
    rm -f "$work/$chip.bin"*
    run "write-flash 64 KB" "$chip" "$baud" write-flash --no-progress 0x10000 "$work/data.bin"
    run "read-flash 64 KB" "$chip" "$baud" read-flash --no-progress 0x10000 0x10000 "$work/back.bin"
    cmp -s "$work/back.bin" "$work/data.bin" || { echo "read-back differs"; exit 1; }
    run "verify-flash 64 KB" "$chip" "$baud" verify-flash 0x10000 "$work/data.bin"
    run "erase-region 64 KB" "$chip" "$baud" erase-region 0x10000 0x10000
    run "erase-flash (4 MB)" "$chip" "$baud" erase-flash
  done
done
