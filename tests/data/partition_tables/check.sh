#!/usr/bin/env bash
# Runs every row of manifest.tsv with `esp-imagegen partition-table` where ESP-IDF's
# gen_esp32part.py ran (regenerate.sh): a table it made must come out byte for byte, and the CSV it
# wrote back from that table too; a table it refused must be refused, for the same reason and
# naming the same line where it named one.
set -uo pipefail
imagegen=$(realpath "${1:?usage: check.sh ESP-IMAGEGEN}")
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$here"
export NVS_SIZE=0x6000 APP_SIZE=1M
failures=0 rows=0
fail() { echo "FAIL $1: $2"; failures=$((failures + 1)); }
while IFS=$'\037' read -r name input options code line reason; do
  [ "$name" = case ] && continue
  rows=$((rows + 1))
  # shellcheck disable=SC2086
  "$imagegen" partition-table "$input" "$work/$name.bin" $options >"$work/$name.out" 2>"$work/$name.err"
  got=$?
  if [ "$code" = 0 ]; then
    if [ $got -ne 0 ]; then fail "$name" "refused: $(cat "$work/$name.err")"; continue; fi
    cmp -s "$work/$name.bin" "expected/$name.bin" || { fail "$name" "binary differs from gen_esp32part.py's"; continue; }
    "$imagegen" partition-table "expected/$name.bin" "$work/$name.csv" $( [ "$name" = no_md5 ] && echo --disable-md5sum ) 2>"$work/$name.err" ||
      { fail "$name" "binary to CSV refused: $(cat "$work/$name.err")"; continue; }
    cmp -s "$work/$name.csv" "expected/$name.csv" || fail "$name" "CSV from the binary differs: $(diff "$work/$name.csv" "expected/$name.csv" | head -5)"
  else
    if [ $got -eq 0 ]; then fail "$name" "accepted a table gen_esp32part.py refuses ($reason)"; continue; fi
    [ -e "$work/$name.bin" ] && fail "$name" "left an output file behind"
    # Warnings (a name that is also a subtype's) may come first; the refusal is one line.
    message=$(grep -v '^WARNING: ' "$work/$name.err")
    [ "$(grep -vc '^WARNING: ' "$work/$name.err")" -eq 1 ] || fail "$name" "error is not one line: $message"
    [[ $message == *"$reason"* ]] || fail "$name" "reason differs: got '$message', want '$reason'"
    if [ -n "$line" ]; then
      [[ $message == *"$input: line $line:"* ]] || fail "$name" "does not name $input line $line: $message"
    fi
  fi
done < <(tr '\t' '\037' < manifest.tsv) # a tab is blank to read: empty columns would shift
echo "$rows rows, $failures failed"
[ "$failures" -eq 0 ] && [ "$rows" -gt 50 ]
