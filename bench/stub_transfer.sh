#!/usr/bin/env bash
# Through our flasher stub on the timed virtual ESP32-C3 (timing=1: real-time UART, datasheet flash
# times, the stub running in unicorn): connect + stub upload time, then write-flash and read-flash
# of 1 MB compressible (real firmware bytes) and incompressible (random) data at each baud.
# Transfer time = the command's wall time less that of a run that only connects and starts the stub (read-flash of 16 bytes): what is
# left is the data, the erase/program pipeline and the MD5 check.
# Prints effective kbit/s (file bytes * 8 / transfer time) against the link limit (baud * 8/10),
# and for compressed writes against link limit * compression ratio.
# usage: bench/stub_transfer.sh [BUILD_DIR] [BAUD...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
shift || true
bauds=("$@")
[[ ${#bauds[@]} -gt 0 ]] || bauds=(921600 2000000)
loader="$build/tools/loader/esp-loader"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
head -c 1048576 "$root/../shared/corpus/inputs/esp32-app-template.elf" > "$work/firmware.bin"
head -c 1048576 /dev/urandom > "$work/random.bin"

now() { date +%s%N; }
run() { # baud, log, args...: runs esp-loader, prints its wall time in ns
  local baud=$1 log=$2
  shift 2
  local start end
  start=$(now)
  "$loader" --chip esp32c3 --baud "$baud" --port "vchip:esp32c3?timing=1&flash=$work/flash.bin" \
    "$@" > "$log" 2>&1 || { cat "$log" >&2; exit 1; }
  end=$(now)
  echo $((end - start))
}
# The time from starting the process to the stub's greeting, from esp-loader's --trace stream.
greeting_time() {
  python3 - "$loader" "$1" "$work/flash.bin" <<'EOF'
import subprocess, sys, time
loader, baud, flash = sys.argv[1:4]
start = time.monotonic()
p = subprocess.Popen([loader, "--trace", "--chip", "esp32c3", "--baud", baud, "--port",
                      "vchip:esp32c3?timing=1&flash=" + flash, "read-flash", "0", "16", flash + ".head"],
                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, bufsize=1)
first_sync = greeting = None
for line in p.stderr:
    t = time.monotonic() - start
    if first_sync is None and "write 44 bytes: 0008" in line:
        first_sync = t
    if greeting is None and "bytes: 4f484149" in line:
        greeting = t
p.wait()
print("%.3f %.3f" % (greeting, greeting - first_sync))
EOF
}

for baud in "${bauds[@]}"; do
  limit=$(awk -v b="$baud" 'BEGIN { print b * 0.8 / 1000 }')
  read -r to_greeting sync_to_greeting < <(greeting_time "$baud")
  connect_ns=$(run "$baud" "$work/connect.log" read-flash 0 16 "$work/head.bin")
  printf "baud %7d: process start to stub greeting %.3f s (first SYNC to greeting %.3f s, of which the reset pulse is not part); a connect-only run takes %.3f s\n" \
    "$baud" "$to_greeting" "$sync_to_greeting" "$(awk -v n="$connect_ns" 'BEGIN { print n / 1e9 }')"
  for kind in firmware random; do
    rm -f "$work/flash.bin"*
    write_ns=$(run "$baud" "$work/write.log" write-flash --no-progress 0x0 "$work/$kind.bin")
    grep -q 'Hash of data verified.' "$work/write.log"
    compressed=$(sed -n 's/.*Compressed [0-9]* bytes to \([0-9]*\).*/\1/p' "$work/write.log")
    read_ns=$(run "$baud" "$work/read.log" read-flash --no-progress 0x0 1M "$work/back.bin")
    cmp -s "$work/back.bin" "$work/$kind.bin" || { echo "read back differs" >&2; exit 1; }
    awk -v w="$write_ns" -v r="$read_ns" -v c="$connect_ns" -v limit="$limit" -v baud="$baud" \
      -v kind="$kind" -v compressed="$compressed" 'BEGIN {
        ws = (w - c) / 1e9; rs = (r - c) / 1e9; ratio = 1048576 / compressed
        wk = 1048576 * 8 / 1000 / ws; rk = 1048576 * 8 / 1000 / rs
        printf "  %-8s write %6.2f s %7.1f kbit/s = %5.1f%% of link limit %6.1f", kind, ws, wk, 100 * wk / limit, limit
        if (ratio > 1.05) printf ", %5.1f%% of limit x ratio %.2f", 100 * wk / (limit * ratio), ratio
        printf "\n  %-8s read  %6.2f s %7.1f kbit/s = %5.1f%% of link limit\n", kind, rs, rk, 100 * rk / limit }'
  done
done
