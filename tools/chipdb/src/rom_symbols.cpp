// The ROM linker-script symbols (ESP-IDF <chip>.rom*.ld) that name the routines the virtual chip
// serves.
#include "esptools/chipdb/chip.h"

namespace esptools::chipdb {

std::optional<RomRoutine> romRoutineForSymbol(std::string_view symbol) {
    struct Named {
        std::string_view symbol;
        RomRoutine routine;
    };
    static constexpr Named kSymbols[] = {
        {"uart_tx_one_char", RomRoutine::UartTxOneChar},
        {"uart_tx_one_char2", RomRoutine::UartTxOneChar},
        {"uart_rx_one_char", RomRoutine::UartRxOneChar},
        {"uart_tx_flush", RomRoutine::UartTxFlush},
        {"uart_tx_wait_idle", RomRoutine::UartTxWaitIdle},
        {"uart_div_modify", RomRoutine::UartDivModify},
        {"GetUartDevice", RomRoutine::GetUartDevice},
        {"ets_printf", RomRoutine::Printf},
        {"ets_install_putc1", RomRoutine::InstallPutc1},
        {"ets_delay_us", RomRoutine::DelayMicroseconds},
        {"software_reset", RomRoutine::SoftwareReset},
        {"ets_set_user_start", RomRoutine::SetUserStart},
        {"ets_update_cpu_frequency", RomRoutine::UpdateCpuFrequency},
        {"ets_get_xtal_freq", RomRoutine::GetXtalFrequency},
        {"ets_clk_get_xtal_freq", RomRoutine::GetXtalFrequency},
        {"gpio_pad_select_gpio", RomRoutine::GpioPadSelect},
        {"rom_gpio_pad_select_gpio", RomRoutine::GpioPadSelect},
        {"ets_efuse_get_spiconfig", RomRoutine::EfuseGetSpiConfig},
        {"GetSecurityInfoProc", RomRoutine::GetSecurityInfo},
        {"GetSecurityInfoProcEco1", RomRoutine::GetSecurityInfo},
        {"GetSecurityInfoProcEco7", RomRoutine::GetSecurityInfo},
        {"sip_download_begin", RomRoutine::SdioDownloadBegin},
        {"esp_rom_opiflash_exec_cmd", RomRoutine::SpiFlashExecCommand},
        {"esp_rom_opiflash_exec_cmd_eco1", RomRoutine::SpiFlashExecCommand},
        {"esp_rom_opiflash_exec_cmd_eco2", RomRoutine::SpiFlashExecCommand},
        {"esp_rom_opiflash_exec_cmd_eco3", RomRoutine::SpiFlashExecCommand},
        {"esp_rom_opiflash_exec_cmd_eco5", RomRoutine::SpiFlashExecCommand},
        {"esp_rom_opiflash_exec_cmd_eco6", RomRoutine::SpiFlashExecCommand},
        {"esp_rom_opiflash_exec_cmd_eco7", RomRoutine::SpiFlashExecCommand},
        {"esprv_intc_int_set_priority", RomRoutine::InterruptSetPriority},
        {"ets_isr_attach", RomRoutine::InterruptAttach},
        {"ets_isr_mask", RomRoutine::InterruptMask},
        {"ets_isr_unmask", RomRoutine::InterruptUnmask},
        {"ets_intr_lock", RomRoutine::InterruptLock},
        {"ets_intr_unlock", RomRoutine::InterruptUnlock},
        {"esp_rom_spiflash_attach", RomRoutine::SpiFlashAttach},
        {"spi_flash_attach", RomRoutine::SpiFlashAttach},
        {"esp_rom_spiflash_read", RomRoutine::SpiFlashRead},
        {"esp_rom_spiflash_write", RomRoutine::SpiFlashWrite},
        {"esp_rom_spiflash_erase_sector", RomRoutine::SpiFlashEraseSector},
        {"esp_rom_spiflash_erase_block", RomRoutine::SpiFlashEraseBlock},
        {"esp_rom_spiflash_erase_chip", RomRoutine::SpiFlashEraseChip},
        {"esp_rom_spiflash_unlock", RomRoutine::SpiFlashUnlock},
        {"esp_rom_spiflash_config_param", RomRoutine::SpiFlashConfigParam},
        {"esp_rom_spiflash_read_statushigh", RomRoutine::SpiFlashReadStatusHigh},
        {"esp_rom_spiflash_write_status", RomRoutine::SpiFlashWriteStatus},
        {"SPI_write_enable", RomRoutine::SpiFlashWriteEnable},
        {"esp_rom_spiflash_wait_idle", RomRoutine::SpiFlashWaitIdle},
        {"esp_rom_spi_flash_update_id", RomRoutine::SpiFlashUpdateId},
        {"esp_rom_spiflash_write_encrypted", RomRoutine::SpiFlashWriteEncrypted},
        {"esp_rom_spiflash_write_encrypted_enable", RomRoutine::SpiFlashWriteEncryptedEnable},
        {"esp_rom_spiflash_write_encrypted_disable", RomRoutine::SpiFlashWriteEncryptedDisable},
        {"tinfl_decompress", RomRoutine::Inflate},
        {"MD5Init", RomRoutine::Md5Init},
        {"MD5Update", RomRoutine::Md5Update},
        {"MD5Final", RomRoutine::Md5Final},
        {"mbedtls_md5_starts_ret", RomRoutine::MbedtlsMd5Starts},
        {"mbedtls_md5_update_ret", RomRoutine::MbedtlsMd5Update},
        {"mbedtls_md5_finish_ret", RomRoutine::MbedtlsMd5Finish},
        {"memset", RomRoutine::Memset},
        {"memcpy", RomRoutine::Memcpy},
        {"memmove", RomRoutine::Memmove},
    };
    for (const auto &named : kSymbols)
        if (named.symbol == symbol) return named.routine;
    return std::nullopt;
}

} // namespace esptools::chipdb
