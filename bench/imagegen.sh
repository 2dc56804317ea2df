#!/usr/bin/env bash
# Whole-process wall time and peak memory of esp-imagegen:
#   elf2image on the largest corpus ELF, merge-bin of a 4 MB flash set (raw).
# usage: bench/imagegen.sh [BUILD_DIR] [RUNS]   (build with -DCMAKE_BUILD_TYPE=Release for figures)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build-bench}
runs=${2:-20}
tool="$build/tools/imagegen/esp-imagegen"
inputs="$root/../shared/corpus/inputs"
[[ -x "$tool" ]] || { echo "no $tool: cmake -S $root -B $build -DCMAKE_BUILD_TYPE=Release && cmake --build $build"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Runs a command RUNS times; prints the median wall time (ms) and the largest peak RSS (KiB).
measure() {
  local label=$1; shift
  local times=() peak=0
  for ((i = 0; i < runs; i++)); do
    local start end rss
    start=$(date +%s%N)
    rss=$( { /usr/bin/time -f '%M' "$@" >/dev/null 2>/dev/null; } 2>&1 | tail -1)
    end=$(date +%s%N)
    times+=($(( (end - start) / 1000 )))
    (( rss > peak )) && peak=$rss
  done
  local median
  median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  printf '%-28s median %6.2f ms   peak RSS %6d KiB\n' "$label" "$(echo "$median / 1000" | bc -l)" "$peak"
}

elf=$(ls -S "$inputs"/*.elf | head -1)
case "$elf" in *8266*) chip=esp8266 ;; *c6*) chip=esp32c6 ;; *) chip=esp32 ;; esac
"$tool" --chip "$chip" elf2image -o "$work/app.bin" "$elf" >/dev/null
echo "elf2image input: $(basename "$elf") ($(stat -c %s "$elf") bytes) -> $(stat -c %s "$work/app.bin") bytes"
measure "elf2image ($chip)" "$tool" --chip "$chip" elf2image -o "$work/app.bin" "$elf"

head -c $((0x3F0000)) /dev/urandom > "$work/app4m.bin"
"$tool" --chip esp32 merge-bin -o "$work/flash.bin" 0x1000 "$inputs/bootloader_esp32.bin" \
  0x8000 "$inputs/partitions_singleapp.bin" 0x10000 "$work/app4m.bin" >/dev/null
echo "merge-bin output: $(stat -c %s "$work/flash.bin") bytes"
measure "merge-bin raw 4 MB" "$tool" --chip esp32 merge-bin -o "$work/flash.bin" \
  0x1000 "$inputs/bootloader_esp32.bin" 0x8000 "$inputs/partitions_singleapp.bin" 0x10000 "$work/app4m.bin"
