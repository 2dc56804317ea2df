#!/usr/bin/env bash
# A test jig's use of --all-ports: every USB serial port --port-filter matches, each a board. The
# machine's ports are presented as sysfs shows them (SYSFS_PATH, as libudev reads it) with their
# device nodes in a directory of our own (ESPTOOLS_DEV_PATH): two esp-vchip --pty boards behind a
# CP210x (10c4:ea60) and a third port of another make that the filter leaves out. A pty has no
# DTR/RTS, so the chips stay in download mode: --before/--after no-reset.
set -euo pipefail
vchip=$1 loader=$2
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$work/sys/class/tty" "$work/dev"

# present NAME DEVICE VID PID: a tty NAME whose USB device has VID:PID, its node linked to DEVICE.
present() {
  local usb="$work/sys/devices/pci0000:00/usb1/1-$1"
  mkdir -p "$usb/1-$1:1.0/tty/$1" "$work/sys/class/tty/$1"
  printf '%s\n' "$3" > "$usb/idVendor"
  printf '%s\n' "$4" > "$usb/idProduct"
  ln -s "$usb/1-$1:1.0" "$work/sys/class/tty/$1/device"
  ln -s "$2" "$work/dev/$1"
}

n=0
for chip in esp32c3 esp32c6 esp32h2; do
  "$vchip" --chip "$chip" --pty > "$work/$chip.out" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do grep -q '^/dev/' "$work/$chip.out" && break; sleep 0.05; done
  pty=$(grep -m1 '^/dev/' "$work/$chip.out") || { echo "esp-vchip --pty did not start"; cat "$work/$chip.out"; exit 1; }
  n=$((n + 1))
  if [[ $chip == esp32h2 ]]; then present ttyACM9 "$pty" 1a86 55d4; else present "ttyUSB$n" "$pty" 10c4 ea60; fi
done

SYSFS_PATH="$work/sys" ESPTOOLS_DEV_PATH="$work/dev" "$loader" --all-ports --port-filter vid=0x10c4 \
  --before no-reset --after no-reset --json "$work/boards.json" chip-id > "$work/loader.out" 2>&1 ||
  { cat "$work/loader.out"; exit 1; }
grep -q 'All 2 boards succeeded.' "$work/loader.out" || { cat "$work/loader.out"; exit 1; }
for expected in '"port":"'"$work"'/dev/ttyUSB1"' '"chip":"ESP32-C3"' '"chip":"ESP32-C6"'; do
  grep -qF "$expected" "$work/boards.json" || { echo "no $expected in:"; cat "$work/boards.json"; exit 1; }
done
if grep -q 'ESP32-H2' "$work/boards.json"; then echo "the filter let the 1a86 port through"; cat "$work/boards.json"; exit 1; fi
echo "--all-ports --port-filter: the two matching boards, and only they: ok"
