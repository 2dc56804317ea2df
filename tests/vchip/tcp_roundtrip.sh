#!/usr/bin/env bash
# esp-vchip served over raw TCP on loopback, driven by esp-loader through socket://: write 256 KiB,
# verify it, and check the flash file the chip keeps.
set -euo pipefail
vchip=$1 loader=$2
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
"$vchip" --chip esp32c3 --flash-file "$work/flash.bin" --listen 127.0.0.1:0 > "$work/vchip.out" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q 'listening on port' "$work/vchip.out" && break; sleep 0.05; done
port=$(sed -n 's/listening on port //p' "$work/vchip.out")
[[ -n "$port" ]] || { echo "esp-vchip did not start"; cat "$work/vchip.out"; exit 1; }
head -c $((256 * 1024)) /dev/urandom > "$work/data.bin"
"$loader" --port "socket://127.0.0.1:$port" --before no-reset flash-id | grep -q 'Detected flash size: 4MB'
"$loader" --port "socket://127.0.0.1:$port" --before no-reset write-flash 0x8000 "$work/data.bin" | grep -q 'Hash of data verified.'
"$loader" --port "socket://127.0.0.1:$port" --before no-reset verify-flash 0x8000 "$work/data.bin" | grep -q 'digest matched'
cmp <(dd if="$work/flash.bin" bs=4096 skip=8 count=64 2>/dev/null) "$work/data.bin"
echo "TCP round trip on port $port: ok"
