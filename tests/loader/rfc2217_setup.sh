# Sourced by the RFC 2217 tests (after `vchip=... loader=...`): skips the test without pyserial,
# makes $work (removed at exit) and provides start_bridge.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if ! /usr/bin/python3 -c 'import serial.rfc2217' 2>/dev/null; then
  echo "SKIPPED: python3-serial (pyserial) is not installed"; exit 77
fi
work=$(mktemp -d)
vchip_pid='' bridge_pid=''
trap 'kill $vchip_pid $bridge_pid 2>/dev/null || true; rm -rf "$work"' EXIT

# start_bridge CHIP VCHIP_OPTION... -- BRIDGE_ARGUMENT...: esp-vchip for CHIP with its flash in
# $work/flash.bin, and pyserial's RFC 2217 server (rfc2217_bridge.py) in front of it; sets $port.
start_bridge() {
  local chip=$1
  shift
  local vchip_options=()
  while [[ $# -gt 0 && $1 != -- ]]; do vchip_options+=("$1"); shift; done
  [[ $# -gt 0 ]] && shift
  "$vchip" --chip "$chip" --flash-file "$work/flash.bin" --listen 127.0.0.1:0 --control-port 0 \
    "${vchip_options[@]}" > "$work/vchip.out" 2>&1 &
  vchip_pid=$!
  for _ in $(seq 100); do
    grep -q 'listening on port' "$work/vchip.out" && grep -q 'control on port' "$work/vchip.out" && break
    sleep 0.05
  done
  local data_port control_port
  data_port=$(sed -n 's/listening on port //p' "$work/vchip.out")
  control_port=$(sed -n 's/control on port //p' "$work/vchip.out")
  [[ -n "$data_port" && -n "$control_port" ]] || { echo "esp-vchip did not start"; cat "$work/vchip.out"; exit 1; }
  /usr/bin/python3 "$here/rfc2217_bridge.py" "$data_port" "$control_port" "$@" > "$work/bridge.out" 2>&1 &
  bridge_pid=$!
  for _ in $(seq 100); do grep -q 'listening on port' "$work/bridge.out" && break; sleep 0.05; done
  port=$(sed -n 's/listening on port //p' "$work/bridge.out")
  [[ -n "$port" ]] || { echo "bridge did not start"; cat "$work/bridge.out"; exit 1; }
}
