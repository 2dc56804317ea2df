#!/usr/bin/env bash
# Many boards at once: esp-loader --port A --port B ... write-flash of 1 MB to N timed virtual
# ESP32-C3s (each its own esp-vchip --timing process, over TCP, at 921600 baud with our stub),
# against the same write to one of them; wall time of each, and where the host's CPU went
# (user+system seconds of esp-loader's processes and of the esp-vchip servers).
# usage: bench/many_boards.sh [BUILD_DIR] [N]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
boards=${2:-8}
loader="$build/tools/loader/esp-loader"
vchip="$build/tools/vchip/esp-vchip"
[[ -x $loader && -x $vchip ]] || { echo "build first: $loader, $vchip" >&2; exit 1; }
work=$(mktemp -d)
servers=()
trap 'for pid in "${servers[@]}"; do kill "$pid" 2>/dev/null; done; rm -rf "$work"' EXIT

source "$root/bench/common.sh"
firmware_bytes "$work/app.bin"

# One more board for the single run: every board starts blank, as each run's flash is (a written
# flash would have to be erased first, which a blank one skips).
ports=()
for i in $(seq "$((boards + 1))"); do
  read -r pid port < <(start_timed_vchip "board$i")
  servers+=("$pid")
  ports+=(--port "socket://127.0.0.1:$port")
done
cpu_of_servers() { # user+system seconds the servers have used so far
  local total=0 pid ticks
  for pid in "${servers[@]}"; do
    ticks=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
    total=$((total + ticks))
  done
  awk -v t=$total -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.1f", t / hz }'
}
timed() { # label, esp-loader arguments...: wall and CPU seconds
  local label=$1 start end before after
  shift
  before=$(cpu_of_servers)
  start=$(date +%s%N)
  /usr/bin/time -f "%U %S" -o "$work/time" "$loader" "$@" > "$work/log" 2>&1 ||
    { echo "FAILED: $label" >&2; tail -20 "$work/log" >&2; exit 1; }
  end=$(date +%s%N)
  after=$(cpu_of_servers)
  awk -v ns=$((end - start)) -v label="$label" -v loader_cpu="$(awk '{ print $1 + $2 }' "$work/time")" \
    -v servers="$(awk -v a="$after" -v b="$before" 'BEGIN { print a - b }')" \
    'BEGIN { printf "%-30s %7.2f s wall  esp-loader CPU %5.1f s  esp-vchip CPU %5.1f s\n", label, ns / 1e9, loader_cpu, servers }'
}
echo "1 MB (firmware-like) to timed virtual ESP32-C3s at 921600 baud, $(nproc) host cores"
timed "one board" "${ports[@]:$((2 * boards)):2}" --baud 921600 write-flash --write-all 0x10000 "$work/app.bin"
timed "$boards boards at once" "${ports[@]:0:$((2 * boards))}" --baud 921600 write-flash --write-all 0x10000 "$work/app.bin"
grep -E "boards (succeeded|failed)" "$work/log"
