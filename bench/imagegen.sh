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

# Runs a command RUNS times: mean wall time (hyperfine, whole process) and peak RSS (GNU time).
measure() {
  local label=$1; shift
  local mean peak
  if command -v hyperfine >/dev/null; then
    hyperfine -N --warmup 3 -r "$runs" --export-json "$work/h.json" "$(printf '%q ' "$@")" >/dev/null 2>&1
    mean=$(python3 -c "import json;r=json.load(open('$work/h.json'))['results'][0];print('%.2f ms (min %.2f)'%(r['mean']*1e3,r['min']*1e3))" 2>/dev/null ||
           sed -n 's/.*"mean": *\([0-9.e-]*\).*/\1/p' "$work/h.json" | head -1)
  else
    local start end
    start=$(date +%s%N); for ((i = 0; i < runs; i++)); do "$@" >/dev/null; done; end=$(date +%s%N)
    mean=$(awk -v ns=$((end - start)) -v n="$runs" 'BEGIN { printf "%.2f ms", ns / n / 1e6 }')
  fi
  /usr/bin/time -o "$work/rss" -f '%M' "$@" >/dev/null 2>&1
  peak=$(tail -1 "$work/rss")
  printf '%-24s mean %s   peak RSS %d KiB\n' "$label" "$mean" "$peak"
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
