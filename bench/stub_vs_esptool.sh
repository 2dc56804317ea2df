#!/usr/bin/env bash
# Our flasher stub against esptool's own (esp-flasher-stub, as esptool v5.3.1 ships it), side by
# side in one run, on the same timed virtual ESP32-C3 (esp-vchip --timing: real-time UART, datasheet
# flash times, each stub running in the emulated CPU), over raw TCP, at each baud:
# write-flash of 1 MB firmware bytes (compressed) and of 1 MB random bytes, read-flash of 1 MB.
# Each figure is the whole process (connect, stub upload, baud change, the command, verification);
# "connect" is a run that only starts the stub (read-flash of 16 bytes), to see what the transfer
# itself costs.
# Needs ../shared/peer/esptool.sh (the reference esptool); firmware bytes come from
# ../shared/corpus when it exists, else from the project's own test ELF, repeated.
# usage: bench/stub_vs_esptool.sh [BUILD_DIR] [BAUD...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
shift || true
bauds=("$@")
[[ ${#bauds[@]} -gt 0 ]] || bauds=(921600 2000000)
loader="$build/tools/loader/esp-loader"
vchip="$build/tools/vchip/esp-vchip"
esptool="$root/../shared/peer/esptool.sh"
[[ -x $loader && -x $vchip ]] || { echo "build first: $loader, $vchip" >&2; exit 1; }
[[ -x $esptool ]] || { echo "no $esptool: this benchmark compares against the reference esptool" >&2; exit 1; }
work=$(mktemp -d)
server=
trap '[[ -n $server ]] && kill $server 2>/dev/null; rm -rf "$work"' EXIT

corpus_elf="$root/../shared/corpus/inputs/esp32-app-template.elf"
if [[ -f $corpus_elf ]]; then
  head -c 1048576 "$corpus_elf" > "$work/firmware.bin"
  echo "firmware bytes: the first 1 MB of $(basename "$corpus_elf")"
else
  own="$build/tests/data/inputs/esp32c6_app.elf"
  while [[ ! -s $work/firmware.bin || $(stat -c %s "$work/firmware.bin") -lt 1048576 ]]; do
    cat "$own" >> "$work/firmware.bin"
  done
  truncate -s 1048576 "$work/firmware.bin"
  echo "firmware bytes: the project's esp32c6_app.elf repeated to 1 MB (no ../shared/corpus here)"
fi
head -c 1048576 /dev/urandom > "$work/random.bin"

# One timed virtual chip for the whole run; each client connection finds it reset into download mode.
"$vchip" --chip esp32c3 --timing --flash-file "$work/flash.bin" --listen 127.0.0.1:0 > "$work/vchip.log" 2>&1 &
server=$!
for _ in $(seq 50); do
  port=$(sed -n 's/.*listening on port \([0-9]*\).*/\1/p' "$work/vchip.log")
  [[ -n $port ]] && break
  sleep 0.1
done
[[ -n $port ]] || { echo "esp-vchip did not start" >&2; cat "$work/vchip.log" >&2; exit 1; }

seconds() { # label, tool command...: wall time of one run, in seconds
  local start end
  start=$(date +%s%N)
  "$@" > "$work/log" 2>&1 || { echo "FAILED: $*" >&2; tail -20 "$work/log" >&2; exit 1; }
  end=$(date +%s%N)
  awk -v ns=$((end - start)) 'BEGIN { printf "%.2f", ns / 1e9 }'
}
esptool_run() { local baud=$1; shift; "$esptool" --port "socket://127.0.0.1:$port" --baud "$baud" "$@"; }
ours_run() { local baud=$1; shift; "$loader" --port "socket://127.0.0.1:$port" --baud "$baud" "$@"; }

printf '%-9s %-26s %12s %12s\n' baud operation "esptool+stub" "esp-loader"
for baud in "${bauds[@]}"; do
  for tool in esptool ours; do
    declare -A t
    t[$tool,connect]=$(seconds ${tool}_run "$baud" read-flash 0 16 "$work/head.bin")
    t[$tool,firmware]=$(seconds ${tool}_run "$baud" write-flash 0x10000 "$work/firmware.bin")
    t[$tool,random]=$(seconds ${tool}_run "$baud" write-flash 0x10000 "$work/random.bin")
    t[$tool,read]=$(seconds ${tool}_run "$baud" read-flash 0x10000 1048576 "$work/back-$tool.bin")
    cmp -s "$work/back-$tool.bin" "$work/random.bin" || { echo "$tool read back other bytes" >&2; exit 1; }
  done
  for op in connect firmware random read; do
    label=$op
    case $op in
      connect) label="connect + stub (read 16 B)" ;;
      firmware) label="write 1 MB firmware (-z)" ;;
      random) label="write 1 MB random" ;;
      read) label="read 1 MB" ;;
    esac
    printf '%-9s %-26s %10s s %10s s\n' "$baud" "$label" "${t[esptool,$op]}" "${t[ours,$op]}"
  done
done
