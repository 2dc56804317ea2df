#!/usr/bin/env bash
# esp-loader over rfc2217:// to pyserial's RFC 2217 server in front of esp-vchip. The chip is put
# out of download mode first, so the loader's DTR/RTS reset, carried by RFC 2217, must bring it back.
set -euo pipefail
vchip=$1 loader=$2
source "$(dirname "$0")/rfc2217_setup.sh"
start_bridge esp32c3 -- boot
head -c $((64 * 1024)) /dev/urandom > "$work/data.bin"
# 0xFF bytes in the data must survive Telnet's escaping in both directions.
head -c 4096 /dev/zero | tr '\0' '\377' >> "$work/data.bin"
"$loader" --port "rfc2217://127.0.0.1:$port" --chip esp32c3 --no-stub write-flash 0x10000 "$work/data.bin" \
  > "$work/loader.out" 2>&1 || { cat "$work/loader.out"; exit 1; }
grep -q 'Hash of data verified.' "$work/loader.out" || { cat "$work/loader.out"; exit 1; }
cmp <(dd if="$work/flash.bin" bs=4096 skip=16 count=17 2>/dev/null) "$work/data.bin"
echo "RFC 2217 round trip through pyserial's server: ok"
