# Sourced by the benchmarks (after root, loader, vchip and work are set).

# firmware_bytes FILE: 1 MB of firmware-like bytes: the start of ../shared/corpus's ESP32 app ELF
# where it exists, else of esp-loader's own executable (machine code and tables: it compresses
# about as firmware does).
firmware_bytes() {
  local corpus_elf="$root/../shared/corpus/inputs/esp32-app-template.elf"
  if [[ -f $corpus_elf && $(stat -c %s "$corpus_elf") -ge 1048576 ]]; then
    head -c 1048576 "$corpus_elf" > "$1"
  else
    head -c 1048576 "$loader" > "$1"
  fi
}

# start_timed_vchip NAME: an esp-vchip --timing ESP32-C3 on a free TCP port, its flash in
# $work/NAME.flash; prints "PID PORT".
start_timed_vchip() {
  local name=$1 port=
  "$vchip" --chip esp32c3 --timing --flash-file "$work/$name.flash" --listen 127.0.0.1:0 > "$work/$name.log" 2>&1 &
  local pid=$!
  for _ in $(seq 50); do
    port=$(sed -n 's/.*listening on port \([0-9]*\).*/\1/p' "$work/$name.log")
    [[ -n $port ]] && break
    sleep 0.1
  done
  [[ -n $port ]] || { echo "esp-vchip $name did not start" >&2; cat "$work/$name.log" >&2; return 1; }
  echo "$pid $port"
}
