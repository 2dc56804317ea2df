// The chip database: every fact that differs between Espressif chips, as data.
// Code asks a ChipDescription; it never branches on a chip's name.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace esptools::chipdb {

struct AddressRange {
    uint32_t start = 0;
    uint32_t end = 0; // exclusive
    constexpr bool contains(uint32_t address) const { return address >= start && address < end; }
};

// One MEMORY_MAP row: image_info names a segment's memory types from these, and elf2image only
// merges neighbouring sections whose set of names is equal.
struct KeyPurpose {
    uint8_t number;
    const char *name;
};

struct MemoryRegion {
    AddressRange range;
    std::string_view name;
};

struct FlashCode {
    std::string_view name; // "80m", "4MB", ...
    uint8_t code;
};

// A bit field of a 32-bit register read with READ_REG: (word(address) >> shift) & mask.
struct RegisterField {
    uint32_t address = 0;
    uint8_t shift = 0;
    uint8_t width = 0;
    constexpr bool present() const { return width != 0; }
    constexpr uint32_t extract(uint32_t word) const {
        uint32_t mask = width >= 32 ? 0xFFFFFFFFu : ((1u << width) - 1u);
        return (word >> shift) & mask;
    }
};

// A value code writes into a register field.
struct FieldSetting {
    RegisterField field;
    uint32_t value = 0;
};

// The faster CPU clock code may select in place of the crystal the ROM runs it from: the CPU runs
// at mhz while every one of the fields holds its value.
struct CpuClockSwitch {
    std::span<const FieldSetting> selects;
    uint32_t mhz = 0;
};

// Chip revision = major * 100 + minor. Each part is a concatenation of fields, most significant
// first (e.g. ESP32-C3 minor = w5[23] << 3 | w3[20:18]).
struct RevisionFields {
    RegisterField major[3];
    RegisterField minor[3];
    // ESP32 encodes its major revision as a 3-bit code that must be mapped: {0:0,1:1,3:2,7:3}.
    bool major_is_esp32_code = false;
    // ESP32-S3 v0.0 parts, with eFuse block version 1.1, use the major field for something else:
    // a chip whose block version is that and whose minor field's low 3 bits are 0 is v0.0
    // (esptool targets/esp32s3.py, is_eco0). Absent fields: no such rule.
    RegisterField block_version_major{};
    RegisterField block_version_minor{};
    uint32_t v0_block_version = 0; // block major * 100 + minor
};

enum class ImageFormat : uint8_t {
    Esp8266, // v1 / v2 / v3 images; no extended header in v1/v2
    Esp32,   // common header + 16-byte extended header
};

enum class Cpu : uint8_t {
    Xtensa, // ELF e_machine 0x5E
    RiscV,  // ELF e_machine 0xF3
    Unknown,
};

enum class MacLayout : uint8_t {
    Esp8266Otp,    // OUI from OTP words, see chips.md §3
    Esp32Words,    // hi = lo + 4, two CRC bytes dropped
    Standard,      // lo = mac_efuse_reg, hi = lo + 4
    StandardEui64, // Standard, plus MAC_EXT bytes hi[31:16] form an EUI-64
};

struct SpiRegisters {
    uint32_t base = 0;
    uint8_t usr = 0, usr1 = 0, usr2 = 0;
    std::optional<uint8_t> mosi_dlen, miso_dlen; // absent on ESP8266
    uint8_t w0 = 0;
    bool address_msb_aligned = false; // address shifted to the top of the ADDR register
    // SPI_MEM_RD_STATUS_REG, where the CMD register's own flash operations (SPI_MEM_FLASH_RDSR
    // and the rest, bits 31..22) leave the status; absent where this model does not run them.
    std::optional<uint8_t> rd_status;
    // SPI_MEM_CLOCK_REG (CLK_EQU_SYSCLK bit 31: the source clock itself; else CLKCNT_N, bits
    // 23:16, divides it by N + 1) and the clock it divides, in MHz. 0: the bus runs at the ROM's
    // 20 MHz whatever code writes.
    uint8_t clock = 0;
    uint32_t clock_source_mhz = 0;
    // SPI_MEM_CTRL_REG, whose FREAD_DUAL (bit 14) and FREAD_QUAD (bit 20) take a user command's
    // read data on 2 or 4 lines; 0: this model reads one line whatever code writes.
    uint8_t ctrl = 0;
};

// What the chip's ROM loader implements (protocol.md §4/§6).
struct RomCapabilities {
    uint8_t status_bytes = 4;              // 2 on ESP8266, 4 on ESP32+
    bool flash_begin_encrypt_word = false; // 5th word in FLASH_BEGIN / FLASH_DEFL_BEGIN
    bool compressed_flash = true;          // FLASH_DEFL_*
    bool spi_flash_md5 = true;             // answers 32 ASCII hex characters
    bool change_baudrate = true;
    bool read_flash_slow = true;
    bool spi_attach = true; // ESP8266 attaches through FLASH_BEGIN(0, 0)
    bool spi_set_params = true;
    uint8_t security_info_bytes = 20; // 0 = command unsupported, 12 on ESP32-S2
    bool erase_size_bug = false;      // ESP8266 FLASH_BEGIN erase-size quirk
};

// A ROM routine code may call, at its fixed address (ESP-IDF
// components/esp_rom/<chip>/ld/<chip>.rom.ld).
enum class RomRoutine : uint8_t {
    // the console
    UartTxOneChar,
    UartRxOneChar,
    UartTxFlush,
    UartTxWaitIdle,
    UartDivModify,
    GetUartDevice, // returns the ROM's UartDevice (its console number at kConsoleNumberOffset)
    Printf,
    InstallPutc1,
    // the system
    DelayMicroseconds,
    SoftwareReset,
    SetUserStart,
    UpdateCpuFrequency,
    GetXtalFrequency,
    GpioPadSelect,
    EfuseGetSpiConfig,
    GetSecurityInfo,
    SdioDownloadBegin, // whether the ROM is in SDIO download mode
    InterruptSetPriority,
    InterruptAttach,
    InterruptMask,
    InterruptUnmask,
    InterruptLock,
    InterruptUnlock,
    // SPI flash (esp_rom_spiflash.h)
    SpiFlashAttach,
    SpiFlashRead,
    SpiFlashWrite,
    SpiFlashEraseSector,
    SpiFlashEraseBlock,
    SpiFlashEraseChip,
    SpiFlashUnlock,
    SpiFlashConfigParam,
    SpiFlashReadStatusHigh,
    SpiFlashWriteStatus,
    SpiFlashWriteEnable,
    SpiFlashWaitIdle,
    SpiFlashUpdateId,
    SpiFlashExecCommand, // esp_rom_opiflash_exec_cmd: one command, any address and data length
    SpiFlashWriteEncrypted,
    SpiFlashWriteEncryptedEnable,
    SpiFlashWriteEncryptedDisable,
    // libraries in ROM
    Inflate, // miniz tinfl_decompress
    Md5Init,
    Md5Update,
    Md5Final,
    MbedtlsMd5Starts,
    MbedtlsMd5Update,
    MbedtlsMd5Finish,
    Memset,
    Memcpy,
    Memmove,
};
struct RomFunction {
    RomRoutine routine;
    uint32_t address;
};

// Which console the ROM loader talks on: the byte UartDevice.buff_uart_no in the ROM's .bss
// (esptool before v5.3, targets/<chip>.py UARTDEV_BUF_NO; esp-stub-lib usb_serial_jtag.c reads it
// through the ROM's GetUartDevice).
struct RomConsoleWord {
    uint32_t address = 0;              // 0: unknown, or the ROM has no USB console
    uint8_t usb_serial_jtag_value = 0; // the byte's value when the ROM talks over USB-Serial-JTAG
    uint8_t usb_otg_value = 0;         // ... over USB-OTG's CDC (0: the chip has no such console)
};

// Download mode over USB-OTG's CDC-ACM (ESP32-S2, S3, P4; esptool targets/<chip>.py): RAM blocks
// of USB_RAM_BLOCK at most, and a hard reset through the RTC watchdog, where the S2 and S3 first
// clear the forced-download bit and check that GPIO0 was low (GPIO_STRAP_REG,
// RTC_CNTL_OPTION1_REG).
struct UsbOtgConsole {
    uint32_t max_block = 0;                                   // 0: no USB-OTG console
    uint32_t strap_register = 0, strap_spi_boot = 0;          // 0: the watchdog reset always
    uint32_t force_download_register = 0, force_download = 0; // 0: nothing to clear
};
inline constexpr uint32_t kConsoleNumberOffset = 24; // buff_uart_no in struct UartDevice

// Where the ROM console word moved between chip revisions.
struct RomConsole {
    RomConsoleWord word{};
    RomConsoleWord word_before{}; // for revisions below changes_at_revision
    uint32_t changes_at_revision = 0;
};

// The RTC watchdog and super watchdog a reset over USB-Serial-JTAG leaves running (esptool
// targets/<chip>.py disable_watchdogs and watchdog_reset: RTC_CNTL_WDT*, RTC_CNTL_SWD*).
struct WatchdogRegisters {
    uint32_t rwdt_config0 = 0; // 0: not described
    uint32_t rwdt_config1 = 0;
    uint32_t rwdt_write_protect = 0;
    uint32_t rwdt_key = 0;
    uint32_t swd_config = 0;
    uint32_t swd_write_protect = 0;
    uint32_t swd_key = 0;
    uint32_t swd_auto_feed = 0; // the bit in swd_config
    // esptool resets this chip with the RTC watchdog (--after watchdog-reset); elsewhere it
    // falls back to the classic hard reset (ESPLoader.watchdog_reset).
    bool reset_supported = false;
};

struct ChipDescription {
    std::string_view name;         // "esp32c3": the --chip spelling
    std::string_view display_name; // "ESP32-C3"

    // Identification
    std::optional<uint32_t>
        magic_value; // at kChipDetectMagicRegister; chips without one use the chip id
    std::optional<uint16_t> image_chip_id; // extended-header chip id = GET_SECURITY_INFO chip id
    uint32_t uf2_family_id = 0;

    Cpu cpu = Cpu::RiscV;

    // Image facts
    ImageFormat image_format = ImageFormat::Esp32;
    uint32_t bootloader_flash_offset = 0;
    AddressRange irom_map;
    AddressRange drom_map;
    std::span<const MemoryRegion> memory_map;
    // Internal RAM the chip has past esptool's MEMORY_MAP (which image-info names must follow):
    // where the ROM keeps data code on the chip may reach.
    AddressRange more_internal_ram{};
    // Memory an application may be linked into that esptool's MEMORY_MAP leaves out (ESP-IDF
    // soc.h): elf2image takes sections there, image-info names no type for them.
    std::span<const AddressRange> loadable_beyond_map;
    std::span<const FlashCode> flash_sizes;
    std::span<const FlashCode> flash_frequencies;
    uint32_t default_mmu_page_size = 0x10000;
    std::span<const uint32_t> configurable_mmu_page_sizes; // empty = fixed
    // ESP32 only: a flash segment whose end lands less than this past a page start is extended
    // with zeros (an old bootloader's MMU bug). 0 = no such rule.
    uint32_t flash_segment_min_page_tail = 0;
    bool supports_secure_pad_v1 = false;

    // Registers and ROM
    uint32_t uart_date_reg = 0x60000078;
    uint32_t uart_clkdiv_reg = 0x60000014;
    // UART0's register block as code on the chip sees it (C3 onwards: FIFO +0x00, CLKDIV +0x14,
    // STATUS +0x1C with the RX count in bits 9:0 and the TX count in bits 25:16).
    uint32_t uart_base = 0x60000000;
    // UART_STATUS's RX and TX FIFO counts (bits from 0 and from 16) are 10 bits wide on the C2/C3
    // and 8 on later chips (ESP-IDF uart_reg.h, UART_RXFIFO_CNT_V and UART_TXFIFO_CNT_V).
    uint32_t uart_fifo_count_mask = 0x3FF;
    SpiRegisters spi;
    // The SPI flash controller can send 32-bit addresses, reaching flash past 16 MB (ESP-IDF
    // soc_caps.h SOC_SPI_FLASH_4B_ADDR_SUPPORTED, as esp-stub-lib copies it).
    bool flash_4byte_addresses = false;
    // Offset in UART0's block of the register whose bit 0 commits a new divider (UART_REG_UPDATE,
    // C5/C6/H2/P4 onwards); 0: the divider applies as written (C2/C3, UART_HIGH_SPEED set).
    uint32_t uart_reg_update = 0;
    // USB-Serial-JTAG's register block (ESP-IDF soc/<chip>/register/soc/usb_serial_jtag_reg.h):
    // EP1 +0x00 (FIFO byte), EP1_CONF +0x04 (WR_DONE bit 0, IN data free bit 1, OUT data
    // available bit 2), INT_RAW/ST/ENA/CLR +0x08/0x0C/0x10/0x14. 0: the chip has none.
    uint32_t usb_serial_jtag_base = 0;
    // The chip's USB-Serial-JTAG leaves the bus while the chip is held in reset, so a hard reset
    // over it waits as one over USB-OTG does (esptool targets/esp32c5.py hard_reset passes
    // uses_usb_jtag_serial(); the C3, C6, C61, H2 and P4 do not).
    bool usb_serial_jtag_leaves_bus_in_reset = false;
    // Where code routes USB-Serial-JTAG's interrupt to a CPU line: the interrupt matrix's map
    // register for it (ESP-IDF interrupt_core0_reg.h / interrupt_matrix_reg.h), which takes the
    // line plus line_offset (CLIC_EXT_INTR_NUM_OFFSET on the CLIC chips). 0: not modelled.
    struct InterruptRoute {
        uint32_t map_register = 0;
        uint8_t line_offset = 0;
    } usb_serial_jtag_interrupt{};
    RomConsole rom_console{};
    UsbOtgConsole usb_otg{};
    WatchdogRegisters watchdogs{};
    uint32_t efuse_base = 0;
    MacLayout mac_layout = MacLayout::Standard;
    uint32_t mac_efuse_reg = 0; // "lo" word
    RevisionFields revision;
    RomCapabilities rom;
    uint32_t xtal_clk_divider = 1;
    // The ESP32's ROM sets a new baud's divider from its own estimate of the crystal: the RTC
    // calibration value x 15625 x the CK8M eFuse byte / 40 (esptool targets/esp32.py,
    // get_rom_cal_crystal_freq). Absent: the ROM's divider is right.
    RegisterField rom_crystal_calibration{};
    RegisterField rom_ck8m_frequency{};
    std::optional<uint32_t> fixed_crystal_mhz; // absent: estimated from the UART divider
    CpuClockSwitch pll_cpu_clock{};            // empty: the CPU stays on the crystal
    bool stub_supported = true;
    // ROM routines the virtual chip serves to code it runs; empty: it cannot run code yet.
    std::span<const RomFunction> rom_functions;
    // The peripheral register window (ESP-IDF soc.h SOC_PERIPHERAL_LOW..HIGH): running code that
    // reaches a register there this model does not hold reads 0, and its writes do nothing.
    AddressRange peripheral_registers{0, 0};
    // Where the ROM keeps the pointer to its flash record (rom_spiflash_legacy_data in
    // <chip>.rom.ld): esp_rom_spiflash_chip_t (device_id, chip_size, block, sector and page size,
    // status mask), which the ROM's flash routines fill and stubs read. 0: unknown.
    uint32_t rom_flash_record_pointer = 0;
    // Chips whose early revisions need another stub build (esptool's esp32p4-rev1.json).
    const char *older_stub_name = nullptr;
    uint32_t older_stub_below_revision = 0; // major * 100 + minor
    // The image header's legacy min_rev byte holds the chip's minor revision here, its major
    // revision elsewhere (ESP-IDF's choice for the ESP32-C3; esptool v5.3.1 cmds.py write_flash).
    bool image_min_rev_is_minor = false;
    // Names of the eFuse key purposes, and the last key block (esptool EFUSE_MAX_KEY); empty
    // where GET_SECURITY_INFO reports none (ESP32-C2) or the ROM has no such command.
    std::span<const KeyPurpose> key_purposes;
    uint8_t efuse_max_key = 5;
};

inline constexpr uint32_t kChipDetectMagicRegister = 0x40001000;

// Every chip, in esptool's CHIP_DEFS order (which is also the detection order).
std::span<const ChipDescription> allChips();

// Accepts "esp32c3", "ESP32-C3", "esp32_c3": lowercase, '-', '_', '(' and ')' ignored.
const ChipDescription *findChip(std::string_view name);
const ChipDescription *findChipByImageId(uint16_t image_chip_id);
const ChipDescription *findChipByMagic(uint32_t magic);

// The routine a ROM linker-script symbol names (ESP-IDF <chip>.rom*.ld), for the routines the
// virtual chip serves; several symbols may name one routine (uart_tx_one_char2).
std::optional<RomRoutine> romRoutineForSymbol(std::string_view symbol);

// "esp8266, esp32, ..." for error messages.
std::string_view chipNameList();

// Flash parameter codes. Return nullopt for a name the chip does not accept.
std::optional<uint8_t> flashSizeCode(const ChipDescription &chip, std::string_view name);
std::optional<uint8_t> flashFrequencyCode(const ChipDescription &chip, std::string_view name);
std::optional<uint8_t> flashModeCode(std::string_view name);
// Reverse lookups return the first name with that code (so ESP32-C6's 0 prints "80m").
std::optional<std::string_view> flashSizeName(const ChipDescription &chip, uint8_t code);
std::optional<std::string_view> flashFrequencyName(const ChipDescription &chip, uint8_t code);
std::optional<std::string_view> flashModeName(uint8_t code);
// Bytes of a flash size name ("4MB" -> 4 MiB, "2MB-c1" -> 2 MiB).
std::optional<uint32_t> flashSizeBytes(std::string_view name);

// The ROM console word for a chip revision (major * 100 + minor).
RomConsoleWord romConsoleWord(const ChipDescription &chip, uint32_t revision);

bool isFlashAddress(const ChipDescription &chip, uint32_t address);
// Names of the memory regions containing address, in memory-map order.
// Fills out and returns how many names were written (at most out.size()).
size_t memoryTypes(const ChipDescription &chip, uint32_t address, std::span<std::string_view> out);

} // namespace esptools::chipdb
