#!/usr/bin/env bash
# Reflash after a one-line source change, on the timed virtual ESP32-C3 at 921600 with our stub:
# two real builds (Debian's clang, rv32imc, -O2) of one generated firmware of about 1 MB
# (1500 functions, each logging its own message and mixing a lookup table; code in flash at IROM
# 0x42000020, text and tables at DROM 0x3C000020), the second with one log message two characters
# longer (function 700: everything after it in .rodata moves, and the code that addresses it
# changes). Prints the image size, how many 4 KB sectors differ between the two images, and the
# reflash time against a full write of the second image, both whole esp-loader runs.
# usage: bench/rebuild_reflash.sh [BUILD_DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
loader="$build/tools/loader/esp-loader"
vchip="$build/tools/vchip/esp-vchip"
imagegen="$build/tools/imagegen/esp-imagegen"
[[ -x $loader && -x $vchip && -x $imagegen ]] || { echo "build first" >&2; exit 1; }
clang=$(command -v clang-14 || command -v clang) || { echo "no clang" >&2; exit 1; }
work=$(mktemp -d)
server=
trap '[[ -n $server ]] && kill $server 2>/dev/null; rm -rf "$work"' EXIT
source "$root/bench/common.sh"

generate() { # FILE LONGER: the firmware's source; LONGER=1 makes function 700's message longer
  python3 - "$1" "$2" <<'PY'
import random, sys
out, longer = sys.argv[1], sys.argv[2] == "1"
rng = random.Random(7)
lines = ["typedef unsigned u32;", "void log_line(const char *);", "extern volatile u32 sink;"]
for i in range(1500):
    table = ", ".join(str(rng.randrange(1 << 32)) + "u" for _ in range(64))
    text = "function %d reporting state %08x" % (i, rng.randrange(1 << 32))
    if longer and i == 700:
        text += "!!"
    lines.append("static const u32 table_%d[64] = {%s};" % (i, table))
    lines.append("u32 step_%d(u32 x) { log_line(\"%s\");"
                 " for (int k = 0; k < 8; ++k) x = (x * %du) ^ table_%d[(x >> %d) & 63] ^ (x >> %d);"
                 " return x + %du; }" % (i, text, rng.randrange(3, 1 << 31) | 1, i,
                                          rng.randrange(1, 20), rng.randrange(1, 31),
                                          rng.randrange(1 << 31)))
lines.append("volatile u32 sink;")
lines.append("void log_line(const char *s) { while (*s) sink = *s++; }")
lines.append("void app_main(void) { u32 x = 1;")
lines += ["  x = step_%d(x);" % i for i in range(1500)]
lines.append("  sink = x; }")
open(out, "w").write("\n".join(lines) + "\n")
PY
}
cat > "$work/app.ld" <<'LD'
ENTRY(app_main)
MEMORY { irom (rx) : ORIGIN = 0x42000020, LENGTH = 0x400000
         drom (r)  : ORIGIN = 0x3C000020, LENGTH = 0x400000
         dram (rw) : ORIGIN = 0x3FC90000, LENGTH = 0x10000 }
SECTIONS {
  .flash.text : { *(.text .text.*) } > irom
  .flash.rodata : { *(.rodata .rodata.* .srodata .srodata.*) } > drom
  .dram0.bss (NOLOAD) : { *(.bss .bss.* .sbss .sbss.* COMMON) } > dram
  /DISCARD/ : { *(.comment) *(.riscv.attributes) *(.note*) }
}
LD
for version in 1 2; do
  generate "$work/app$version.c" $((version - 1))
  "$clang" --target=riscv32-unknown-none-elf -march=rv32imc -mabi=ilp32 -O2 -ffreestanding \
    -ffunction-sections -fdata-sections -nostdlib -fuse-ld=lld -Wl,--gc-sections \
    -Wl,-T,"$work/app.ld" -o "$work/app$version.elf" "$work/app$version.c"
  "$imagegen" --chip esp32c3 elf2image -o "$work/app$version.bin" "$work/app$version.elf" > /dev/null
done
size=$(stat -c %s "$work/app2.bin")
sectors=$(((size + 4095) / 4096))
changed=$(python3 - "$work/app1.bin" "$work/app2.bin" <<'PY'
import sys
a, b = (open(p, "rb").read() for p in sys.argv[1:3])
n = (max(len(a), len(b)) + 4095) // 4096
pad = lambda d: d.ljust(n * 4096, b"\xff")
a, b = pad(a), pad(b)
print(sum(a[i * 4096:(i + 1) * 4096] != b[i * 4096:(i + 1) * 4096] for i in range(n)))
PY
)
echo "image: $size bytes, $sectors sectors; $changed of them differ between the two builds"

read -r server port < <(start_timed_vchip rebuild)
seconds() {
  local start end
  start=$(date +%s%N)
  "$@" > "$work/log" 2>&1 || { echo "FAILED: $*" >&2; tail -20 "$work/log" >&2; exit 1; }
  end=$(date +%s%N)
  awk -v ns=$((end - start)) 'BEGIN { printf "%.2f", ns / 1e9 }'
}
ours() { "$loader" --port "socket://127.0.0.1:$port" --baud 921600 "$@"; }
ours write-flash --write-all 0x10000 "$work/app1.bin" > /dev/null 2>&1
full=$(seconds ours write-flash --write-all 0x10000 "$work/app2.bin")
ours write-flash --write-all 0x10000 "$work/app1.bin" > /dev/null 2>&1
rebuild=$(seconds ours write-flash 0x10000 "$work/app2.bin")
grep -h "unchanged" "$work/log" | sed 's/^.*: /  esp-loader: /'
awk -v f="$full" -v r="$rebuild" 'BEGIN { printf "full write %.2f s; reflash of the rebuild %.2f s (%.1f%% of the full write)\n", f, r, 100 * r / f }'
