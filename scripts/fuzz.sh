#!/usr/bin/env bash
# Runs every libFuzzer target for a bounded time, seeded with the project's test inputs and, where
# it exists, esptool's golden corpus.
# usage: scripts/fuzz.sh BUILD_DIR SECONDS_PER_TARGET
set -euo pipefail
build=${1:?build directory}
seconds=${2:-30}
root=$(cd "$(dirname "$0")/.." && pwd)
seed_dirs=("$build/tests/data/inputs" "$root/../shared/corpus/inputs")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

declare -A seeds=([image_parser]="*.bin" [elf_reader]="*.elf" [intel_hex]="")
for target in image_parser elf_reader intel_hex; do
  mkdir -p "$work/$target"
  for dir in "${seed_dirs[@]}"; do
    if [[ -n "${seeds[$target]}" && -d "$dir" ]]; then
      # Small seeds only: libFuzzer's default max_len would truncate large ones anyway.
      find "$dir" -name "${seeds[$target]}" -size -64k -exec cp {} "$work/$target/" \;
    fi
  done
  printf ':020000040000FA\n:10100000E90402106C810040EE0000000000000077\n:00000001FF\n' > "$work/$target/seed.hex"
  echo "== fuzz_$target for ${seconds}s"
  mkdir -p "$work/artifacts"
  status=0
  "$build/fuzz/fuzz_$target" -max_total_time="$seconds" -max_len=65536 -timeout=10 \
    -artifact_prefix="$work/artifacts/" -print_final_stats=1 "$work/$target" \
    >"$work/$target.log" 2>&1 || status=$?
  grep -E 'stat::number_of_executed_units|ERROR|SUMMARY' "$work/$target.log" || true
  if [[ $status -ne 0 ]]; then
    echo "fuzz_$target failed (exit $status):"; tail -40 "$work/$target.log"; exit 1
  fi
done
