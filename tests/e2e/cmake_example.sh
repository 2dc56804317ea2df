#!/usr/bin/env bash
# The CMake module end to end, as a user runs it: configure and build the example firmware in a
# fresh build tree with GENERATOR, then flash, verify, dump and run it on a virtual ESP32-C3 held in
# a flash file of the build tree; check that a second build does nothing and that touching the
# source rebuilds the ELF and the image only; check that the negative example fails its build.
# usage: cmake_example.sh SOURCE_DIR TOOLS_BUILD_DIR GENERATOR
set -euo pipefail
src=$1 tools=$2 generator=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
build="$work/build"
# The example is built from a copy (with the module it includes by relative path): the test
# touches its source and must leave the tree as it found it.
example="$work/src/examples/hello-esp32c3"
mkdir -p "$work/src/examples"
cp -r "$src/examples/hello-esp32c3" "$work/src/examples/"
cp -r "$src/cmake" "$work/src/cmake"
cmake -S "$example" -B "$build" -G "$generator" \
  -DCMAKE_TOOLCHAIN_FILE="$src/cmake/toolchains/riscv32-esp-clang.cmake" \
  -DESPTOOLS_TOOLS_DIR="$tools" -DESPTOOLS_PORT="vchip:esp32c3?flash=$build/flash.bin" >/dev/null
cmake --build "$build" >/dev/null
test -f "$build/hello.bin" -a -f "$build/hello_ram.bin"

# (Outputs go to files before grep: grep -q ending a pipeline early would fail it under pipefail.)
cmake --build "$build" --target flash >"$work/flash.log"
grep -q 'Hash of data verified.' "$work/flash.log"
# Flashing again with nothing changed writes nothing: the chip's digests show every sector holds it.
cmake --build "$build" --target flash >"$work/reflash.log"
grep -q 'sectors unchanged, skipped.' "$work/reflash.log"
grep -q 'Wrote ' "$work/reflash.log" && { echo "an unchanged reflash wrote data"; exit 1; }
cmake --build "$build" --target verify >"$work/verify.log"
grep -q 'Verification successful (digest matched).' "$work/verify.log"
cmake --build "$build" --target dump >/dev/null
cmp "$build/hello.dump.bin" "$build/hello.bin"
cmp "$build/hello_app.dump.bin" "$build/hello_app.bin"
cmp "$build/partition-table.dump.bin" "$build/partition_table/partition-table.bin"
# flasher_args.json in ESP-IDF's schema, read as JSON the way the VS Code extension reads it.
python3 - "$build" <<'PY'
import json, sys
build = sys.argv[1]
doc = json.load(open(f"{build}/flasher_args.json"))
assert doc["flash_settings"] == {"flash_mode": "dio", "flash_freq": "40m", "flash_size": "4MB"}, doc
assert doc["write_flash_args"] == ["--flash-mode", "dio", "--flash-freq", "40m", "--flash-size", "4MB"]
assert doc["flash_files"] == {"0x0": "hello.bin", "0x10000": "hello_app.bin",
                              "0x8000": "partition_table/partition-table.bin"}, doc["flash_files"]
assert doc["app"] == {"offset": "0x10000", "file": "hello_app.bin", "encrypted": "false"}
assert doc["partition-table"]["offset"] == "0x8000"
assert doc["extra_esptool_args"]["chip"] == "esp32c3" and doc["extra_esptool_args"]["stub"] is True
PY
printf '%s\n' "--flash-mode dio --flash-freq 40m --flash-size 4MB" "0x0 hello.bin" "0x10000 hello_app.bin" \
  "0x8000 partition_table/partition-table.bin" | cmp - "$build/flash_args"
# The virtual chip boots the image from flash and runs it: the greeting comes out of its UART.
cmake --build "$build" --target run >"$work/run.log"
grep -q 'SPI_FAST_FLASH_BOOT' "$work/run.log"
grep -q 'Hello from EspTools on ESP32-C3!' "$work/run.log"
# The monitor resets the chip into its app and ends (0) at the --until line.
"$tools/tools/loader/esp-loader" --port "vchip:esp32c3?flash=$build/flash.bin" monitor \
  --until 'Hello from EspTools' --timeout 10 >"$work/monitor.log"
grep -q 'SPI_FAST_FLASH_BOOT' "$work/monitor.log"
# ... and fails on --fail-on, and on --timeout without its --until line.
if "$tools/tools/loader/esp-loader" --port "vchip:esp32c3?flash=$build/flash.bin" monitor \
  --fail-on 'Hello' --timeout 10 >/dev/null 2>"$work/fail-on.err"; then echo "--fail-on matched and exited 0"; exit 1; fi
grep -q "printed a line matching --fail-on 'Hello'" "$work/fail-on.err"
if "$tools/tools/loader/esp-loader" --port "vchip:esp32c3?flash=$build/flash.bin" monitor \
  --until 'never printed' --timeout 1 >/dev/null 2>"$work/timeout.err"; then echo "a timeout exited 0"; exit 1; fi
grep -q "timeout 1 s passed without a line matching --until 'never printed'" "$work/timeout.err"
# The crash example: the monitor names the panic's addresses from crash.elf, the faulting line
# (MEPC) and the call it came from (RA), and exits non-zero on the panic.
trap_line=$(grep -n '__builtin_trap' "$example/crash.c" | cut -d: -f1)
call_line=$(grep -n '^    crash_here();' "$example/crash.c" | cut -d: -f1)
if "$tools/tools/loader/esp-loader" --chip esp32c3 --port vchip:esp32c3 load-ram "$build/crash.bin" \
  --monitor --elf "$build/crash.elf" --timeout 10 >"$work/crash.log" 2>"$work/crash.err"; then
  echo "a panic exited 0"; exit 1
fi
grep -q "the chip panicked" "$work/crash.err"
grep -q "Guru Meditation Error: Core  0 panic'ed (Illegal instruction)" "$work/crash.log"
grep -Eq "^--- 0x[0-9a-f]{8}: crash_here at .*crash.c:$trap_line\$" "$work/crash.log"
grep -Eq "^--- 0x[0-9a-f]{8}: app_main at .*crash.c:$call_line\$" "$work/crash.log"
# Assembly has line tables but no DWARF functions: a return address into start.S is named by the
# label it follows (_start), not by an assembler-local one (.Lpcrel_hi2).
call_app_line=$(grep -n 'call app_main' "$example/start.S" | cut -d: -f1)
grep -Eq "^--- 0x[0-9a-f]{8}: _start at .*start.S:$call_app_line\$" "$work/crash.log"
# The example's firmware tests: ctest runs each image on a fresh virtual chip.
ctest --test-dir "$build" --output-on-failure >"$work/ctest.log"
grep -q '100% tests passed, 0 tests failed out of 3' "$work/ctest.log"
# ESPPORT overrides the cached port when the target runs, without reconfiguring.
ESPPORT="vchip:esp32c3?flash=$work/other.bin" cmake --build "$build" --target flash >/dev/null
cmp <(head -c "$(stat -c %s "$build/hello.bin")" "$work/other.bin") "$build/hello.bin"
cmake --build "$build" --target load_ram >"$work/load.log"
grep -q "Loaded 2 segments from '$build/hello_ram.bin' to RAM" "$work/load.log"
grep -q 'Hello from EspTools on ESP32-C3!' "$work/load.log"
cmake --build "$build" --target merged >/dev/null
test -f "$build/merged-flash.bin"
# esptool reads the same flash_args (its own @file support) and merges the same bytes.
peer="$src/../shared/peer/esptool.sh"
if [ -x "$peer" ] || [ -f "$peer" ]; then
  (cd "$build" && bash "$peer" --chip esp32c3 merge-bin -o "$work/esptool-merged.bin" @flash_args >/dev/null)
  cmp "$work/esptool-merged.bin" "$build/merged-flash.bin"
else
  echo "note: $peer not found; esptool's reading of flash_args not compared"
fi

# An app bigger than its partition fails the build, naming both sizes.
big="$work/big"
mkdir -p "$big"
printf 'nvs, data, nvs, , 0x6000,\nfactory, app, factory, , 64K,\n' > "$big/partitions.csv"
head -c 70000 /dev/zero > "$big/app.bin"
cat > "$big/CMakeLists.txt" <<CM
cmake_minimum_required(VERSION 3.22)
project(big NONE)
include("$src/cmake/EspTools.cmake")
esptools_add_partition_table(CSV partitions.csv)
esptools_add_flash_targets(CHIP esp32c3 IMAGES APP app.bin)
CM
cmake -S "$big" -B "$big/build" -G "$generator" -DESPTOOLS_TOOLS_DIR="$tools" >/dev/null
if cmake --build "$big/build" >"$work/big.log" 2>&1; then echo "an app bigger than its partition built"; exit 1; fi
# (CMake folds a long message over lines.)
tr -s ' \n' '  ' <"$work/big.log" >"$work/big.flat"
grep -q "app.bin is 70000 bytes, but partition 'factory' at 0x10000 holds 65536 bytes" "$work/big.flat"

# An exact graph: a second build changes nothing; touching the source rebuilds the ELF and image.
before=$(stat -c %.9Y "$build/hello.bin")
sleep 1
cmake --build "$build" >"$work/again.log"
if [[ "$generator" == Ninja ]]; then grep -q 'no work to do' "$work/again.log"; fi
grep -q 'Creating esp32c3 image' "$work/again.log" && { echo "a build with nothing changed remade an image"; exit 1; }
test "$(stat -c %.9Y "$build/hello.bin")" = "$before" || { echo "a build with nothing changed rewrote hello.bin"; exit 1; }
touch "$example/hello.c"
cmake --build "$build" >"$work/touched.log"
grep -q 'Creating esp32c3 image' "$work/touched.log"
after=$(stat -c %.9Y "$build/hello.bin")
[[ "${after%%.*}" -gt "${before%%.*}" ]] || { echo "touching hello.c did not remake hello.bin"; exit 1; }

# A load_ram image with a flash-mapped section fails its build with the section named.
bad="$work/bad"
cmake -S "$src/examples/bad-load-ram" -B "$bad" -G "$generator" \
  -DCMAKE_TOOLCHAIN_FILE="$src/cmake/toolchains/riscv32-esp-clang.cmake" -DESPTOOLS_TOOLS_DIR="$tools" >/dev/null
if cmake --build "$bad" >"$work/bad.log" 2>&1; then
  echo "the negative example built"; exit 1
fi
grep -q 'flash-mapped' "$work/bad.log"
grep -q '.flash.rodata at 0x3c000020' "$work/bad.log"
test ! -f "$bad/bad.bin"
# The Debian package (cpack -G DEB), unpacked into a scratch root: find_package(EspTools 0.1)
# finds it there, with no ESPTOOLS_TOOLS_DIR, and the example builds and flashes against it.
if [[ "$generator" == Ninja ]]; then
  cpack --config "$tools/CPackConfig.cmake" -B "$work/pkg" >"$work/cpack.log" 2>&1
  deb=$(ls "$work/pkg"/esptools_*.deb)
  dpkg-deb -f "$deb" Package | grep -qx esptools
  dpkg-deb -x "$deb" "$work/root"
  test -x "$work/root/usr/bin/esp-loader" -a -f "$work/root/usr/lib/cmake/EspTools/EspToolsConfigVersion.cmake"
  cmake -S "$src/examples/hello-esp32c3" -B "$work/installed" -G "$generator" \
    -DCMAKE_TOOLCHAIN_FILE="$work/root/usr/lib/cmake/EspTools/toolchains/riscv32-esp-clang.cmake" \
    -DCMAKE_PREFIX_PATH="$work/root/usr" -DESPTOOLS_PORT="vchip:esp32c3?flash=$work/installed/flash.bin" >/dev/null
  grep -q "^EspTools_DIR:PATH=$work/root/usr/lib/cmake/EspTools\$" "$work/installed/CMakeCache.txt"
  cmake --build "$work/installed" --target flash >"$work/installed.log"
  grep -q 'Hash of data verified.' "$work/installed.log"
  # The version file: 0.1 matches, a later minor version does not.
  mkdir -p "$work/wants-0.2"
  printf 'cmake_minimum_required(VERSION 3.22)\nproject(w NONE)\nfind_package(EspTools 0.2 REQUIRED)\n' \
    >"$work/wants-0.2/CMakeLists.txt"
  if cmake -S "$work/wants-0.2" -B "$work/wants-0.2/build" -DCMAKE_PREFIX_PATH="$work/root/usr" \
    >"$work/wants.log" 2>&1; then echo "find_package(EspTools 0.2) took 0.1"; exit 1; fi
  grep -q 'version: 0.1.0' "$work/wants.log"

  # The example's presets: no toolchain or tools path typed (the tools are the repository's build/).
  ln -s "$tools" "$work/src/build"
  (cd "$example" && cmake --preset vchip >/dev/null && cmake --build --preset vchip >/dev/null && cmake --build --preset vchip --target flash \
    >"$work/preset.log" && ctest --preset vchip >"$work/preset-ctest.log") || { cat "$work/preset-ctest.log"; exit 1; }
  grep -q 'Hash of data verified.' "$work/preset.log"
  grep -q '100% tests passed' "$work/preset-ctest.log"
fi
echo "CMake example with $generator: ok"
