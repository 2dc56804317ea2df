#!/usr/bin/env bash
# Boards exported the way board farms export them: ser2net (Debian's) serving RFC 2217 in front of
# two esp-vchip --pty boards, flashed at once by one esp-loader with two --port rfc2217:// options.
# A pty has no DTR/RTS, so the chips start (and stay) in download mode: --before/--after no-reset.
# Exit 77 (skipped) without ser2net.
set -euo pipefail
vchip=$1 loader=$2
command -v ser2net >/dev/null 2>&1 || { echo "SKIPPED: ser2net is not installed"; exit 77; }
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT

# A free TCP port on the loopback interface.
free_port() { /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

config="$work/ser2net.yaml"
: > "$config"
ports=()
for chip in esp32c3 esp32c6; do
  "$vchip" --chip "$chip" --pty --flash-file "$work/$chip.bin" > "$work/$chip.out" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do grep -q '^/dev/' "$work/$chip.out" && break; sleep 0.05; done
  pty=$(grep -m1 '^/dev/' "$work/$chip.out") || { echo "esp-vchip --pty did not start"; cat "$work/$chip.out"; exit 1; }
  port=$(free_port)
  cat >> "$config" <<YAML
connection: &$chip
  accepter: telnet(rfc2217),tcp,127.0.0.1,$port
  connector: serialdev,$pty,115200n81,local
  options:
    kickolduser: true
YAML
  ports+=(--port "rfc2217://127.0.0.1:$port")
done
ser2net -d -c "$config" > "$work/ser2net.out" 2>&1 &
pids+=($!)
# ser2net listens once it has read its configuration.
for _ in $(seq 100); do
  (exec 3<> "/dev/tcp/127.0.0.1/${ports[-1]##*:}") 2>/dev/null && break
  sleep 0.05
done

head -c $((96 * 1024)) /dev/urandom > "$work/data.bin"
head -c 4096 /dev/zero | tr '\0' '\377' >> "$work/data.bin" # 0xFF survives Telnet's escaping
"$loader" "${ports[@]}" --before no-reset --after no-reset --json "$work/boards.json" \
  write-flash 0x10000 "$work/data.bin" > "$work/loader.out" 2>&1 ||
  { cat "$work/loader.out" "$work/ser2net.out"; exit 1; }
grep -q 'All 2 boards succeeded.' "$work/loader.out" || { cat "$work/loader.out"; exit 1; }
for chip in esp32c3 esp32c6; do
  cmp <(dd if="$work/$chip.bin" bs=4096 skip=16 count=25 2>/dev/null) "$work/data.bin" ||
    { echo "$chip: the flash does not hold the data"; exit 1; }
done
grep -q '"chip":"ESP32-C6"' "$work/boards.json" || { cat "$work/boards.json"; exit 1; }
echo "two boards through ser2net's RFC 2217 server: ok"
