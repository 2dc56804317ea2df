#!/usr/bin/env bash
# Fast reflash: write-flash of a 1 MB image on the timed virtual ESP32-C3 (esp-vchip --timing: real
# UART time, datasheet flash times, the stub's instructions and flash reads charged), at one baud,
# each figure the whole process (connect, stub, the write, verification), side by side in one run:
#   full       esp-loader --write-all (every sector written)
#   unchanged  esp-loader, the same image again (the chip's sector digests: nothing written)
#   1 sector   esp-loader, 8 bytes changed in the middle (one 4 KB sector written)
# and, with ../shared/peer/esptool.sh, esptool v5.3.1 --diff-with OLD for the same two cases, with
# and without --trust-flash-content, and both tools in ROM mode (--no-stub).
# usage: bench/reflash.sh [BUILD_DIR] [BAUD]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
baud=${2:-921600}
loader="$build/tools/loader/esp-loader"
vchip="$build/tools/vchip/esp-vchip"
esptool="$root/../shared/peer/esptool.sh"
[[ -x $loader && -x $vchip ]] || { echo "build first: $loader, $vchip" >&2; exit 1; }
work=$(mktemp -d)
server=
trap '[[ -n $server ]] && kill $server 2>/dev/null; rm -rf "$work"' EXIT

source "$root/bench/common.sh"
firmware_bytes "$work/app.bin"
echo "image: $(gzip -9 < "$work/app.bin" | wc -c) bytes gzipped of 1048576"
cp "$work/app.bin" "$work/app2.bin"
printf 'CHANGED!' | dd of="$work/app2.bin" bs=1 seek=524300 conv=notrunc status=none

read -r server port < <(start_timed_vchip board)
[[ -n $port ]] || exit 1

seconds() { # tool command...: wall time of one run, in seconds
  local start end
  start=$(date +%s%N)
  "$@" > "$work/log" 2>&1 || { echo "FAILED: $*" >&2; tail -20 "$work/log" >&2; exit 1; }
  end=$(date +%s%N)
  awk -v ns=$((end - start)) 'BEGIN { printf "%.2f", ns / 1e9 }'
}
ours() { "$loader" --port "socket://127.0.0.1:$port" --baud "$baud" "$@"; }
theirs() { "$esptool" --port "socket://127.0.0.1:$port" --baud "$baud" "$@"; }
row() { printf '%-44s %8s s %7s\n' "$1" "$2" "$(awk -v a="$2" -v b="$full" 'BEGIN { printf "%.1f%%", 100 * a / b }')"; }

echo "1 MB image at 0x10000, timed ESP32-C3 at $baud baud; ratio to esp-loader's full write"
ours write-flash --write-all 0x10000 "$work/app2.bin" > /dev/null 2>&1 # the flash holds something else
full=$(seconds ours write-flash --write-all 0x10000 "$work/app.bin")
row "esp-loader full write (--write-all)" "$full"
row "esp-loader unchanged" "$(seconds ours write-flash 0x10000 "$work/app.bin")"
grep -h "unchanged" "$work/log" | sed 's/^/    /'
row "esp-loader 1 sector changed" "$(seconds ours write-flash 0x10000 "$work/app2.bin")"
grep -h "unchanged" "$work/log" | sed 's/^/    /'
ours write-flash 0x10000 "$work/app.bin" > /dev/null 2>&1
row "esp-loader --no-stub unchanged" "$(seconds ours --no-stub write-flash 0x10000 "$work/app.bin")"
row "esp-loader --no-stub 1 sector changed" "$(seconds ours --no-stub write-flash 0x10000 "$work/app2.bin")"
ours write-flash 0x10000 "$work/app.bin" > /dev/null 2>&1
if [[ -x $esptool ]]; then
  row "esptool --diff-with, unchanged" \
    "$(seconds theirs write-flash --diff-with "$work/app.bin" -- 0x10000 "$work/app.bin")"
  row "esptool --diff-with, 1 sector changed" \
    "$(seconds theirs write-flash --diff-with "$work/app.bin" -- 0x10000 "$work/app2.bin")"
  row "esptool --diff-with --trust-flash-content, unch." \
    "$(seconds theirs write-flash --diff-with "$work/app2.bin" --trust-flash-content -- 0x10000 "$work/app2.bin")"
  row "esptool --diff-with --trust-flash-content, 1 sec." \
    "$(seconds theirs write-flash --diff-with "$work/app2.bin" --trust-flash-content -- 0x10000 "$work/app.bin")"
  row "esptool --no-stub --diff-with, 1 sector changed" \
    "$(seconds theirs --no-stub write-flash --diff-with "$work/app.bin" -- 0x10000 "$work/app2.bin")"
  row "esptool full write" "$(seconds theirs write-flash 0x10000 "$work/app.bin")"
else
  echo "(no ../shared/peer/esptool.sh: esptool's --diff-with not measured)"
fi
