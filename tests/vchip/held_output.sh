#!/usr/bin/env bash
# esp-vchip over raw TCP behaves like a board between connections: the chip runs on with no client,
# what it prints waits for the next one, and only a client that speaks finds it reset into download
# mode. esptool's test_watchdog_reset: a watchdog reset after the bootloader was erased, then the
# ROM's complaint is read on a new connection.
set -euo pipefail
vchip=$1 loader=$2
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
"$vchip" --chip esp32c3 --flash-file "$work/flash.bin" --listen 127.0.0.1:0 > "$work/vchip.out" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q 'listening on port' "$work/vchip.out" && break; sleep 0.05; done
port=$(sed -n 's/listening on port //p' "$work/vchip.out")
[[ -n "$port" ]] || { echo "esp-vchip did not start"; cat "$work/vchip.out"; exit 1; }
"$loader" --port "socket://127.0.0.1:$port" --after watchdog-reset erase-region 0x0 0x4000 > "$work/erase.log"
grep -q 'Hard resetting with a watchdog...' "$work/erase.log"
sleep 0.5 # the watchdog fires while no one is connected
# A client that only listens hears the ROM, which finds no image and keeps looking (the reset
# banner itself went to the flasher, which held the port when the watchdog fired).
exec 3<>"/dev/tcp/127.0.0.1/$port"
timeout 2 cat <&3 > "$work/heard.txt" || true
exec 3<&-
[[ $(grep -c 'invalid header: 0xffffffff' "$work/heard.txt") -ge 2 ]] || { echo "the ROM was not heard:"; cat -v "$work/heard.txt"; exit 1; }
# A client that speaks finds the ROM loader again.
"$loader" --port "socket://127.0.0.1:$port" flash-id > "$work/id.log"
grep -q 'Detected flash size: 4MB' "$work/id.log"
echo "held output on port $port: ok"
