#!/usr/bin/env bash
# esp-loader over rfc2217:// to pyserial's RFC 2217 server in front of esp-vchip. The chip is put
# out of download mode first, so the loader's DTR/RTS reset, carried by RFC 2217, must bring it back.
set -euo pipefail
vchip=$1 loader=$2
here=$(cd "$(dirname "$0")" && pwd)
if ! /usr/bin/python3 -c 'import serial.rfc2217' 2>/dev/null; then
  echo "SKIPPED: python3-serial (pyserial) is not installed"; exit 77
fi
work=$(mktemp -d)
trap 'kill $vchip_pid $bridge_pid 2>/dev/null || true; rm -rf "$work"' EXIT
"$vchip" --chip esp32c3 --flash-file "$work/flash.bin" --listen 127.0.0.1:0 --control-port 0 \
  > "$work/vchip.out" 2>&1 &
vchip_pid=$!
for _ in $(seq 100); do grep -q 'listening on port' "$work/vchip.out" && break; sleep 0.05; done
data_port=$(sed -n 's/listening on port //p' "$work/vchip.out")
control_port=$(sed -n 's/control on port //p' "$work/vchip.out")
[[ -n "$data_port" && -n "$control_port" ]] || { echo "esp-vchip did not start"; cat "$work/vchip.out"; exit 1; }
/usr/bin/python3 "$here/rfc2217_bridge.py" "$data_port" "$control_port" boot > "$work/bridge.out" 2>&1 &
bridge_pid=$!
for _ in $(seq 100); do grep -q 'listening on port' "$work/bridge.out" && break; sleep 0.05; done
port=$(sed -n 's/listening on port //p' "$work/bridge.out")
[[ -n "$port" ]] || { echo "bridge did not start"; cat "$work/bridge.out"; exit 1; }
head -c $((64 * 1024)) /dev/urandom > "$work/data.bin"
# 0xFF bytes in the data must survive Telnet's escaping in both directions.
head -c 4096 /dev/zero | tr '\0' '\377' >> "$work/data.bin"
"$loader" --port "rfc2217://127.0.0.1:$port" --chip esp32c3 --no-stub write-flash 0x10000 "$work/data.bin" \
  > "$work/loader.out" 2>&1 || { cat "$work/loader.out"; exit 1; }
grep -q 'Hash of data verified.' "$work/loader.out" || { cat "$work/loader.out"; exit 1; }
cmp <(dd if="$work/flash.bin" bs=4096 skip=16 count=17 2>/dev/null) "$work/data.bin"
echo "RFC 2217 round trip through pyserial's server: ok"
