#!/usr/bin/env bash
# regenerate.sh LD_ROOT — rewrites tools/chipdb/rom/<chip>.ld from Espressif's ROM linker scripts:
# the lines naming a routine the virtual chip serves, and the ROM's flash-record pointer, verbatim.
# LD_ROOT holds <chip>/ld/<chip>.rom*.ld: ESP-IDF's components/esp_rom, or esp-stub-lib's src/target.
# tests/unit/rom_routines_test.cpp then checks tools/chipdb/src/chips.cpp against the result.
set -euo pipefail
root=${1:?usage: regenerate.sh LD_ROOT (ESP-IDF components/esp_rom or esp-stub-lib src/target)}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# The symbols, one per routine (tests/unit/rom_routines_test.cpp maps them to chipdb::RomRoutine).
symbols=(uart_tx_one_char uart_tx_one_char2 uart_rx_one_char uart_tx_flush uart_tx_wait_idle
  uart_div_modify ets_delay_us esp_rom_spiflash_attach spi_flash_attach GetUartDevice software_reset
  ets_set_user_start ets_printf ets_install_putc1 tinfl_decompress esp_rom_spiflash_read
  esp_rom_spiflash_write esp_rom_spiflash_erase_sector esp_rom_spiflash_erase_block
  esp_rom_spiflash_erase_chip esp_rom_spiflash_unlock esp_rom_spiflash_config_param
  esp_rom_spiflash_read_statushigh esp_rom_spiflash_write_status SPI_write_enable
  esp_rom_spiflash_wait_idle esp_rom_spi_flash_update_id esp_rom_spiflash_write_encrypted
  esp_rom_spiflash_write_encrypted_enable esp_rom_spiflash_write_encrypted_disable
  ets_efuse_get_spiconfig memset memcpy memmove ets_update_cpu_frequency ets_get_xtal_freq
  ets_clk_get_xtal_freq gpio_pad_select_gpio rom_gpio_pad_select_gpio esprv_intc_int_set_priority
  ets_isr_attach ets_isr_mask ets_isr_unmask ets_intr_lock ets_intr_unlock MD5Init MD5Update
  MD5Final mbedtls_md5_starts_ret mbedtls_md5_update_ret mbedtls_md5_finish_ret sip_download_begin
  GetSecurityInfoProc GetSecurityInfoProcEco1 GetSecurityInfoProcEco7 rom_spiflash_legacy_data
  esp_rom_opiflash_exec_cmd esp_rom_opiflash_exec_cmd_eco1 esp_rom_opiflash_exec_cmd_eco2
  esp_rom_opiflash_exec_cmd_eco3 esp_rom_opiflash_exec_cmd_eco5 esp_rom_opiflash_exec_cmd_eco6
  esp_rom_opiflash_exec_cmd_eco7)
pattern="^[[:space:]]*(PROVIDE[[:space:]]*\([[:space:]]*)?($(IFS='|'; echo "${symbols[*]}"))[[:space:]]*="
for chip in esp32c2 esp32c3 esp32c5 esp32c6 esp32c61 esp32h2 esp32h21 esp32h4 esp32p4 esp32s31; do
  dir=$root/$chip/ld
  [[ -d $dir ]] || { echo "regenerate.sh: no $dir" >&2; exit 1; }
  files=()
  for f in "$dir/$chip".rom*.ld; do
    name=$(basename "$f")
    # The ESP32-P4's served ROM is revision 3.0's (rom.eco5*); the others have one ROM.
    if [[ $chip == esp32p4 ]]; then
      [[ $name == *.eco5* || $name == *.api.ld || $name == *.extra.ld ]] || continue
    else
      [[ $name != *.eco* ]] || continue
    fi
    files+=("$f")
  done
  {
    echo "/* $chip: the ROM routines the virtual chip serves, verbatim from ESP-IDF"
    echo " * components/esp_rom/$chip/ld/ (through esp-stub-lib's copies; regenerate.sh). */"
    for f in "${files[@]}"; do
      lines=$(grep -E "$pattern" "$f" | sed -E 's/[[:space:]]+$//' || true)
      [[ -n $lines ]] || continue
      echo "/* $(basename "$f") */"
      echo "$lines"
    done
  } > "$here/$chip.ld.tmp"
  mv "$here/$chip.ld.tmp" "$here/$chip.ld"
done
