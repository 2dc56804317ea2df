#!/usr/bin/env bash
# esp-vchip served over raw TCP on loopback, driven by esp-loader through socket://: write 256 KiB,
# verify it, and check the flash file the chip keeps; later runs find the stub already running.
set -euo pipefail
vchip=$1 loader=$2
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
"$vchip" --chip esp32c3 --flash-file "$work/flash.bin" --listen 127.0.0.1:0 --keep-running > "$work/vchip.out" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q 'listening on port' "$work/vchip.out" && break; sleep 0.05; done
port=$(sed -n 's/listening on port //p' "$work/vchip.out")
[[ -n "$port" ]] || { echo "esp-vchip did not start"; cat "$work/vchip.out"; exit 1; }
head -c $((256 * 1024)) /dev/urandom > "$work/data.bin"
# (Outputs go to files before grep: grep -q ending a pipeline early would fail it under pipefail.)
"$loader" --port "socket://127.0.0.1:$port" --before no-reset read-flash 0 0x100 "$work/head.bin" > "$work/1.log"
grep -q 'Stub flasher running.' "$work/1.log"
"$loader" --chip esp32c3 --port "socket://127.0.0.1:$port" --before no-reset flash-id > "$work/1b.log"
grep -q 'Detected flash size: 4MB' "$work/1b.log"
# With --keep-running nothing resets the chip between connections (a serial bridge without reset
# lines): the next runs find the first run's stub answering SYNC.
"$loader" --chip esp32c3 --port "socket://127.0.0.1:$port" --before no-reset write-flash 0x8000 "$work/data.bin" > "$work/2.log"
grep -q 'Stub flasher is already running. No upload is necessary.' "$work/2.log"
grep -q 'Hash of data verified.' "$work/2.log"
"$loader" --chip esp32c3 --port "socket://127.0.0.1:$port" --before no-reset verify-flash 0x8000 "$work/data.bin" > "$work/3.log"
grep -q 'digest matched' "$work/3.log"
cmp <(dd if="$work/flash.bin" bs=4096 skip=8 count=64 2>/dev/null) "$work/data.bin"
echo "TCP round trip on port $port: ok"
