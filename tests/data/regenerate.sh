#!/usr/bin/env bash
# Regenerates tests/data/manifest.tsv and tests/data/out/: the project's own small golden corpus.
# Each row is run by the reference esptool (../shared/peer/esptool.sh, v5.3.1) on inputs made from
# this folder's YAML descriptions (yaml2obj); only esptool's exit codes, output SHA-256s and
# image-info text are kept. The project's tests run every row with esp-imagegen in its place
# (tests/corpus). Run by hand when a row is added; needs ../shared/peer set up.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
esptool=${ESPTOOL:-$here/../../../shared/peer/esptool.sh}
yaml2obj=$(command -v yaml2obj-14 || command -v yaml2obj)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/inputs"
for yaml in "$here"/*.yaml; do
  "$yaml2obj" "$yaml" -o "$work/inputs/$(basename "${yaml%.yaml}").elf"
done
# Images that other rows take as input, made by esptool here and by esp-imagegen in the build
# (the elf2image rows below check that the two are the same bytes).
bash "$esptool" --chip esp32 elf2image -o "$work/inputs/esp32_app.bin" "$work/inputs/esp32_app.elf" >/dev/null
bash "$esptool" --chip esp32c6 elf2image -o "$work/inputs/esp32c6_app.bin" "$work/inputs/esp32c6_app.elf" >/dev/null

# No row links for one chip and converts for another: esptool converts such an ELF, esp-imagegen
# refuses it naming the section outside the chip's memory map (tests/unit/elf2image_test.cpp).
cases=(
  "c6-default|--chip esp32c6 elf2image -o out/c6-default/img.bin inputs/esp32c6_app.elf"
  "c6-flashparams|--chip esp32c6 elf2image --flash-mode dio --flash-freq 40m --flash-size 4MB -o out/c6-flashparams/img.bin inputs/esp32c6_app.elf"
  "c6-nodigest|--chip esp32c6 elf2image --dont-append-digest -o out/c6-nodigest/img.bin inputs/esp32c6_app.elf"
  "c6-revisions|--chip esp32c6 elf2image --min-rev-full 1 --max-rev-full 199 -o out/c6-revisions/img.bin inputs/esp32c6_app.elf"
  "c6-ram-only-header|--chip esp32c6 elf2image --ram-only-header -o out/c6-ram-only-header/img.bin inputs/esp32c6_app.elf"
  "c6-pad|--chip esp32c6 elf2image --pad-to-size 128KB -o out/c6-pad/img.bin inputs/esp32c6_app.elf"
  "c6-mmu-16k|--chip esp32c6 elf2image --flash-mmu-page-size 16KB -o out/c6-mmu-16k/img.bin inputs/esp32c6_app.elf"
  "p4-default|--chip esp32p4 elf2image -o out/p4-default/img.bin inputs/esp32p4_app.elf"
  "esp32-default|--chip esp32 elf2image -o out/esp32-default/img.bin inputs/esp32_app.elf"
  "esp32-flashparams|--chip esp32 elf2image -fm dout -ff 80m -fs 2MB -o out/esp32-flashparams/img.bin inputs/esp32_app.elf"
  "esp32-secure-pad-v2|--chip esp32 elf2image --secure-pad-v2 -o out/esp32-secure-pad-v2/img.bin inputs/esp32_app.elf"
  "esp8266-v1|--chip esp8266 elf2image -o out/esp8266-v1/app- inputs/esp8266_app.elf"
  "esp8266-v2|--chip esp8266 elf2image --version 2 -o out/esp8266-v2/app.bin inputs/esp8266_app.elf"
  "esp32-info|--chip esp32 image-info inputs/esp32_app.bin"
  "c6-info|--chip esp32c6 image-info inputs/esp32c6_app.bin"
  "merge-raw|--chip esp32 merge-bin -o out/merge-raw/merged.bin 0x1000 inputs/esp32_app.bin 0x20000 inputs/esp8266_app.elf"
  "merge-patch|--chip esp32 merge-bin --flash-mode dout --flash-size 8MB -o out/merge-patch/merged.bin 0x1000 inputs/esp32_app.bin"
  "merge-hex|--chip esp32c6 merge-bin --format hex -o out/merge-hex/merged.hex 0x0 inputs/esp32c6_app.bin 0x18000 inputs/esp32_app.bin"
  "merge-uf2|--chip esp32c6 merge-bin --format uf2 -o out/merge-uf2/merged.uf2 0x0 inputs/esp32c6_app.bin"
  "merge-fill|--chip esp32c6 merge-bin --fill-flash-size 1MB -o out/merge-fill/merged.bin 0x10000 inputs/esp32c6_app.bin"
  "merge-overlap|--chip esp32 merge-bin -o out/merge-overlap/merged.bin 0x1000 inputs/esp32_app.bin 0x2000 inputs/esp32c6_app.bin"
)
rm -rf "$here/out"
printf 'case\tcommand\texit\toutputs\n' > "$here/manifest.tsv"
for row in "${cases[@]}"; do
  name=${row%%|*} args=${row#*|}
  mkdir -p "$work/out/$name"
  set +e
  (cd "$work" && bash "$esptool" $args > "$work/stdout.txt" 2>/dev/null)
  code=$?
  set -e
  outputs=()
  if [[ $args == *image-info* ]]; then
    mkdir -p "$here/out/$name"
    cp "$work/stdout.txt" "$here/out/$name/stdout.txt"
    outputs+=("stdout.txt=$(sha256sum < "$work/stdout.txt" | cut -d' ' -f1)")
  fi
  for file in $(cd "$work/out/$name" && ls); do
    outputs+=("$file=$(sha256sum < "$work/out/$name/$file" | cut -d' ' -f1)")
  done
  printf '%s\tesptool %s\t%s\t%s\n' "$name" "$args" "$code" "$(IFS=';'; echo "${outputs[*]}")" >> "$here/manifest.tsv"
done
echo "wrote $here/manifest.tsv (${#cases[@]} rows)"
