#!/usr/bin/env bash
# A stub found running (no reset between two sessions, through pyserial's RFC 2217 server in front
# of esp-vchip --keep-running) is asked to change the baud rate: the ESP32-C6's UART takes a new
# divider only once UART_REG_UPDATE commits it, and the virtual chip garbles every byte while the
# two sides' rates differ, so the second session's reads only succeed if the stub got it right.
set -euo pipefail
vchip=$1 loader=$2
source "$(dirname "$0")/rfc2217_setup.sh"
start_bridge esp32c6 --keep-running -- --clients 2
head -c $((32 * 1024)) /dev/urandom > "$work/data.bin"
run() { # log, args...
  local log=$1
  shift
  "$loader" --port "rfc2217://127.0.0.1:$port" --chip esp32c6 "$@" > "$work/$log" 2>&1 ||
    { echo "esp-loader $*:"; cat "$work/$log"; exit 1; }
}
run first.out --after no-reset-stub write-flash 0x10000 "$work/data.bin"
grep -q 'Hash of data verified.' "$work/first.out" || { cat "$work/first.out"; exit 1; }
run second.out --before no-reset --baud 460800 read-flash 0x10000 0x8000 "$work/back.bin"
grep -q 'Stub flasher is already running' "$work/second.out" || { cat "$work/second.out"; exit 1; }
grep -q 'Changing baud rate to 460800' "$work/second.out" || { cat "$work/second.out"; exit 1; }
cmp "$work/back.bin" "$work/data.bin"
echo "a running stub changed its baud rate through RFC 2217: ok"
