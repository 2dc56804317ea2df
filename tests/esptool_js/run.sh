#!/usr/bin/env bash
# esptool-js against esp-vchip over TCP, once per chip.
# Usage: run.sh VCHIP_PATH [CHIP...]   or   run.sh --install-only
# Exit 77 (skipped) without Node.js >= 18; node_modules is installed from package-lock.json on first use.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
vchip=${1:?usage: run.sh VCHIP_PATH [CHIP...] | run.sh --install-only}
shift
chips=("$@")
[[ ${#chips[@]} -gt 0 ]] || chips=(esp32c3 esp32 esp32s3 esp32c6 esp32h2 esp8266 esp32s2 esp32c2 esp32c5 esp32c61 esp32p4)

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "SKIPPED: node/npm not installed"
  exit 77
fi
# Global WHATWG streams and util.parseArgs arrived in Node 18.
if (($(node -p 'process.versions.node.split(".")[0]') < 18)); then
  echo "SKIPPED: node $(node --version) is older than 18"
  exit 77
fi
if [[ ! -d $here/node_modules/esptool-js ]]; then
  (cd "$here" && npm ci --no-audit --no-fund) || { echo "FAIL: npm ci in $here"; exit 1; }
fi
if [[ $vchip == --install-only ]]; then
  echo "esptool-js installed in $here/node_modules"
  exit 0
fi

# esptool-js's own stub runs on the chips esp-vchip can execute code for (RISC-V), over UART0 and,
# where the chip has one, over USB-Serial-JTAG.
riscv=" esp32c2 esp32c3 esp32c5 esp32c6 esp32c61 esp32h2 esp32p4 "
usb=" esp32c3 esp32c5 esp32c6 esp32c61 esp32h2 esp32p4 "
failed=()
start=$SECONDS
for chip in "${chips[@]}"; do
  node "$here/esptool_js_test.mjs" --vchip "$vchip" --chip "$chip" --time-limit 60 || failed+=("$chip")
  if [[ $riscv == *" $chip "* ]]; then
    node "$here/esptool_js_test.mjs" --vchip "$vchip" --chip "$chip" --stub --time-limit 60 ||
      failed+=("$chip(stub)")
  fi
  if [[ $usb == *" $chip "* ]]; then
    node "$here/esptool_js_test.mjs" --vchip "$vchip" --chip "$chip" --stub --console usb --time-limit 60 ||
      failed+=("$chip(stub, usb)")
  fi
done
if ((${#failed[@]})); then
  echo "esptool-js over TCP: FAILED for ${failed[*]} ($((SECONDS - start)) s)"
  exit 1
fi
echo "esptool-js over TCP: all ${#chips[@]} chips passed ($((SECONDS - start)) s)"
