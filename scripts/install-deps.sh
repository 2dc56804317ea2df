#!/usr/bin/env bash
# Installs EspTools' build and test dependencies from Debian's packages. Idempotent: when every
# package is present it only runs dpkg-query and returns in well under a second.
set -euo pipefail

packages=(
  cmake ninja-build g++ clang lld llvm-dev
  libboost-program-options-dev libboost-dev libgtest-dev zlib1g-dev libdeflate-dev libssl-dev
  libunicorn-dev pkg-config
  dpkg-dev file  # cpack -G DEB: dpkg-shlibdeps names the libraries the tools link
  python3-serial # pyserial's RFC 2217 server, the independent peer of the rfc2217:// test
  ser2net        # RFC 2217 as board farms serve it, in front of esp-vchip --pty (many boards)
  # The ESP8266 stub's cross compiler, and QEMU's lx106 core for its smoke test (tests/stub_esp8266).
  gcc-xtensa-lx106 binutils-xtensa-lx106 qemu-system-misc
)
# Node.js runs esptool-js against the virtual chip; a machine that already has node keeps its own.
if ! command -v npm >/dev/null 2>&1; then packages+=(nodejs npm); fi

missing=()
for package in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$package")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
echo "Installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
