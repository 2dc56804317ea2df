#!/usr/bin/env bash
# Regenerates expected/ and manifest.tsv: what ESP-IDF v6.0.2's gen_esp32part.py makes of each
# row's input. Run by hand when a row is added, with that script's path:
#   bash regenerate.sh /path/to/esp-idf-v6.0.2/components/partition_table/gen_esp32part.py
# The partitions_*.csv inputs are the tables ESP-IDF v6.0.2 ships in components/partition_table/
# (copied unchanged); the others are this project's. tests run every row with
# `esp-imagegen partition-table` in gen_esp32part.py's place (check.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
gen=${1:?usage: regenerate.sh PATH/TO/gen_esp32part.py}
python=${PYTHON:-python3}
cd "$here"
rm -rf expected
mkdir -p expected
export NVS_SIZE=0x6000 APP_SIZE=1M
# case|input|options (after the file names: --secure and --extra-partition-subtypes take optional
# and many values, and would take a file name as one)
rows=()
for csv in inputs/partitions_*.csv; do
  name=$(basename "$csv" .csv)
  rows+=("$name|$csv|")
  rows+=("$name-flash4mb-offset9000|$csv|--flash-size 4MB --offset 0x9000")
done
rows+=(
  "auto_offsets|inputs/auto_offsets.csv|"
  "numbers_and_flags|inputs/numbers_and_flags.csv|"
  "end_address|inputs/end_address.csv|"
  "bootloader_rows|inputs/bootloader_rows.csv|--offset 0xa000 --primary-bootloader-offset 0x2000 --recovery-bootloader-offset 0x3d0000"
  "extra_subtypes|inputs/extra_subtypes.csv|--extra-partition-subtypes data,my_data,0x40 app,my_app,0x29"
  "long_names|inputs/long_names.csv|"
  "env_vars|inputs/env_vars.csv|"
  "utf8_bom|inputs/utf8_bom.csv|"
  "utf16|inputs/utf16.csv|"
  "zero_and_max|inputs/zero_and_max.csv|--no-verify"
  "most_rows|inputs/most_rows.csv|"
  "no_md5|inputs/partitions_two_ota.csv|--disable-md5sum"
  "secure_v2|inputs/secure_v1.csv|--secure v2"
  "err_secure_v1|inputs/secure_v1.csv|--secure"
  "err_too_many_rows|inputs/err_too_many_rows.csv|"
  "err_bootloader_above_table|inputs/bootloader_rows.csv|--primary-bootloader-offset 0x9000"
  "err_extra_duplicate|inputs/extra_subtypes.csv|--extra-partition-subtypes data,my_data,0x81"
)
for csv in inputs/err_*.csv; do
  name=$(basename "$csv" .csv)
  case "$name" in err_too_many_rows) continue ;; esac
  options=
  [ "$name" = err_past_flash ] && options="--flash-size 4MB"
  rows+=("$name|$csv|$options")
done

printf 'case\tinput\toptions\texit\tline\treason\n' > manifest.tsv
for row in "${rows[@]}"; do
  IFS='|' read -r name input options <<<"$row"
  # shellcheck disable=SC2086
  set +e
  "$python" "$gen" -q "$input" "expected/$name.bin" $options 2>"expected/$name.err"
  code=$?
  set -e
  line= reason=
  if [ $code -ne 0 ]; then
    rm -f "expected/$name.bin"
    # The reason is the last line that is not ESP-IDF's pointer to extra_partition_subtypes.inc;
    # "Error at line N: " becomes the line column.
    reason=$(grep -v '^Please check extra_partition_subtypes' "expected/$name.err" | tail -n 1)
    reason=${reason#ValueError: } # a refusal the script raises without its own error type
    if [[ $reason =~ ^(CSV\ )?Error\ at\ line\ ([0-9]+):\ (.*)$ ]]; then
      line=${BASH_REMATCH[2]}
      reason=${BASH_REMATCH[3]}
    fi
  else
    "$python" "$gen" -q "expected/$name.bin" "expected/$name.csv" 2>/dev/null
  fi
  rm -f "expected/$name.err"
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$input" "$options" "$code" "$line" "$reason" >> manifest.tsv
done
echo "$(($(wc -l < manifest.tsv) - 1)) rows"
