// One description per chip. Values are esptool's (targets/*.py), summarised in
// ../shared/reference/chips.md; a field a chip does not set keeps its parent class's value there.
#include "esptools/chipdb/chip.h"

#include "rom_tables.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <string>

namespace esptools::chipdb {
namespace {

constexpr MemoryRegion kEsp8266Memory[] = {
    {{0x3FF00000, 0x3FF00010}, "DPORT"},
    {{0x3FFE8000, 0x40000000}, "DRAM"},
    {{0x40100000, 0x40108000}, "IRAM"},
    {{0x40201010, 0x402E1010}, "IROM"},
};
constexpr MemoryRegion kEsp32Memory[] = {
    {{0x00000000, 0x00010000}, "PADDING"},
    {{0x3F400000, 0x3F800000}, "DROM"},
    {{0x3F800000, 0x3FC00000}, "EXTRAM_DATA"},
    {{0x3FF80000, 0x3FF82000}, "RTC_DRAM"},
    {{0x3FF90000, 0x40000000}, "BYTE_ACCESSIBLE"},
    {{0x3FFAE000, 0x40000000}, "DRAM"},
    {{0x3FFE0000, 0x3FFFFFFC}, "DIRAM_DRAM"},
    {{0x40000000, 0x40070000}, "IROM"},
    {{0x40070000, 0x40078000}, "CACHE_PRO"},
    {{0x40078000, 0x40080000}, "CACHE_APP"},
    {{0x40080000, 0x400A0000}, "IRAM"},
    {{0x400A0000, 0x400BFFFC}, "DIRAM_IRAM"},
    {{0x400C0000, 0x400C2000}, "RTC_IRAM"},
    {{0x400D0000, 0x40400000}, "IROM"},
    {{0x50000000, 0x50002000}, "RTC_DATA"},
};
constexpr MemoryRegion kEsp32s2Memory[] = {
    {{0x00000000, 0x00010000}, "PADDING"},
    {{0x3F000000, 0x3FF80000}, "DROM"},
    {{0x3F500000, 0x3FF80000}, "EXTRAM_DATA"},
    {{0x3FF9E000, 0x3FFA0000}, "RTC_DRAM"},
    {{0x3FF9E000, 0x40000000}, "BYTE_ACCESSIBLE"},
    {{0x3FF9E000, 0x40072000}, "MEM_INTERNAL"},
    {{0x3FFB0000, 0x40000000}, "DRAM"},
    {{0x40000000, 0x4001A100}, "IROM_MASK"},
    {{0x40020000, 0x40070000}, "IRAM"},
    {{0x40070000, 0x40072000}, "RTC_IRAM"},
    {{0x40080000, 0x40800000}, "IROM"},
    {{0x50000000, 0x50002000}, "RTC_DATA"},
};
constexpr MemoryRegion kEsp32s3Memory[] = {
    {{0x00000000, 0x00010000}, "PADDING"},
    {{0x3C000000, 0x3D000000}, "DROM"},
    {{0x3D000000, 0x3E000000}, "EXTRAM_DATA"},
    {{0x600FE000, 0x60100000}, "RTC_DRAM"},
    {{0x3FC88000, 0x3FD00000}, "BYTE_ACCESSIBLE"},
    {{0x3FC88000, 0x403E2000}, "MEM_INTERNAL"},
    {{0x3FC88000, 0x3FD00000}, "DRAM"},
    {{0x40000000, 0x4001A100}, "IROM_MASK"},
    {{0x40370000, 0x403E0000}, "IRAM"},
    {{0x600FE000, 0x60100000}, "RTC_IRAM"},
    {{0x42000000, 0x42800000}, "IROM"},
    {{0x50000000, 0x50002000}, "RTC_DATA"},
};
constexpr MemoryRegion kEsp32c3Memory[] = {
    {{0x00000000, 0x00010000}, "PADDING"},       {{0x3C000000, 0x3C800000}, "DROM"},
    {{0x3FC80000, 0x3FCE0000}, "DRAM"},          {{0x3FC88000, 0x3FD00000}, "BYTE_ACCESSIBLE"},
    {{0x3FF00000, 0x3FF20000}, "DROM_MASK"},     {{0x40000000, 0x40060000}, "IROM_MASK"},
    {{0x42000000, 0x42800000}, "IROM"},          {{0x4037C000, 0x403E0000}, "IRAM"},
    {{0x50000000, 0x50002000}, "RTC_IRAM"},      {{0x50000000, 0x50002000}, "RTC_DRAM"},
    {{0x600FE000, 0x60100000}, "MEM_INTERNAL2"},
};
constexpr MemoryRegion kEsp32c2Memory[] = {
    {{0x00000000, 0x00010000}, "PADDING"},   {{0x3C000000, 0x3C400000}, "DROM"},
    {{0x3FCA0000, 0x3FCE0000}, "DRAM"},      {{0x3FC88000, 0x3FD00000}, "BYTE_ACCESSIBLE"},
    {{0x3FF00000, 0x3FF50000}, "DROM_MASK"}, {{0x40000000, 0x40090000}, "IROM_MASK"},
    {{0x42000000, 0x42400000}, "IROM"},      {{0x4037C000, 0x403C0000}, "IRAM"},
};
constexpr MemoryRegion kEsp32c6Memory[] = {
    {{0x00000000, 0x00010000}, "PADDING"},       {{0x42000000, 0x43000000}, "DROM"},
    {{0x40800000, 0x40880000}, "DRAM"},          {{0x40800000, 0x40880000}, "BYTE_ACCESSIBLE"},
    {{0x4004AC00, 0x40050000}, "DROM_MASK"},     {{0x40000000, 0x4004AC00}, "IROM_MASK"},
    {{0x42000000, 0x43000000}, "IROM"},          {{0x40800000, 0x40880000}, "IRAM"},
    {{0x50000000, 0x50004000}, "RTC_IRAM"},      {{0x50000000, 0x50004000}, "RTC_DRAM"},
    {{0x600FE000, 0x60100000}, "MEM_INTERNAL2"},
};
constexpr MemoryRegion kEsp32c61Memory[] = {
    {{0x00000000, 0x00010000}, "PADDING"},       {{0x42000000, 0x44000000}, "DROM"},
    {{0x40800000, 0x40860000}, "DRAM"},          {{0x40800000, 0x40860000}, "BYTE_ACCESSIBLE"},
    {{0x4004AC00, 0x40050000}, "DROM_MASK"},     {{0x40000000, 0x4004AC00}, "IROM_MASK"},
    {{0x42000000, 0x44000000}, "IROM"},          {{0x40800000, 0x40860000}, "IRAM"},
    {{0x50000000, 0x50004000}, "RTC_IRAM"},      {{0x50000000, 0x50004000}, "RTC_DRAM"},
    {{0x600FE000, 0x60100000}, "MEM_INTERNAL2"},
};
constexpr MemoryRegion kEsp32c5Memory[] = {
    {{0x00000000, 0x00010000}, "PADDING"},       {{0x42000000, 0x44000000}, "DROM"},
    {{0x40800000, 0x40860000}, "DRAM"},          {{0x40800000, 0x40860000}, "BYTE_ACCESSIBLE"},
    {{0x4003A000, 0x40040000}, "DROM_MASK"},     {{0x40000000, 0x4003A000}, "IROM_MASK"},
    {{0x42000000, 0x44000000}, "IROM"},          {{0x40800000, 0x40860000}, "IRAM"},
    {{0x50000000, 0x50004000}, "RTC_IRAM"},      {{0x50000000, 0x50004000}, "RTC_DRAM"},
    {{0x600FE000, 0x60100000}, "MEM_INTERNAL2"},
};
constexpr MemoryRegion kEsp32p4Memory[] = {
    {{0x00000000, 0x00010000}, "PADDING"},       {{0x40000000, 0x4C000000}, "DROM"},
    {{0x4FF00000, 0x4FFA0000}, "DRAM"},          {{0x4FF00000, 0x4FFA0000}, "BYTE_ACCESSIBLE"},
    {{0x4FC00000, 0x4FC20000}, "DROM_MASK"},     {{0x4FC00000, 0x4FC20000}, "IROM_MASK"},
    {{0x40000000, 0x4C000000}, "IROM"},          {{0x4FF00000, 0x4FFA0000}, "IRAM"},
    {{0x50108000, 0x50110000}, "RTC_IRAM"},      {{0x50108000, 0x50110000}, "RTC_DRAM"},
    {{0x600FE000, 0x60100000}, "MEM_INTERNAL2"},
};
constexpr MemoryRegion kEsp32s31Memory[] = {
    {{0x00000000, 0x00010000}, "PADDING"},   {{0x40000000, 0x54000000}, "DROM"},
    {{0x2F000000, 0x2F080000}, "DRAM"},      {{0x2F000000, 0x2F080000}, "BYTE_ACCESSIBLE"},
    {{0x2F800000, 0x2F850000}, "DROM_MASK"}, {{0x2F800000, 0x2F850000}, "IROM_MASK"},
    {{0x40000000, 0x54000000}, "IROM"},      {{0x2F000000, 0x2F080000}, "IRAM"},
    {{0x2E000000, 0x2E008000}, "RTC_IRAM"},  {{0x2E000000, 0x2E008000}, "RTC_DRAM"},
};
constexpr MemoryRegion kEsp32e22Memory[] = {
    {{0x00000000, 0x00010000}, "PADDING"},   {{0x3C000000, 0x40000000}, "DROM"},
    {{0x31000000, 0x31200000}, "DRAM"},      {{0x31000000, 0x31200000}, "BYTE_ACCESSIBLE"},
    {{0x30000000, 0x30120000}, "DROM_MASK"}, {{0x30000000, 0x30120000}, "IROM_MASK"},
    {{0x3C000000, 0x40000000}, "IROM"},      {{0x30FE0000, 0x31200000}, "IRAM"},
    {{0xC0000000, 0xC0008000}, "RTC_IRAM"},  {{0xC0000000, 0xC0008000}, "RTC_DRAM"},
};
constexpr MemoryRegion kEsp32h4Memory[] = {
    {{0x00000000, 0x00010000}, "PADDING"},       {{0x42000000, 0x44000000}, "DROM"},
    {{0x40810000, 0x40860000}, "DRAM"},          {{0x40810000, 0x40860000}, "BYTE_ACCESSIBLE"},
    {{0x40000000, 0x40050000}, "DROM_MASK"},     {{0x40000000, 0x40050000}, "IROM_MASK"},
    {{0x42000000, 0x44000000}, "IROM"},          {{0x40810000, 0x40860000}, "IRAM"},
    {{0x50000000, 0x50004000}, "RTC_IRAM"},      {{0x50000000, 0x50004000}, "RTC_DRAM"},
    {{0x60000000, 0x60100000}, "MEM_INTERNAL2"},
};

// eFuse key block purposes by number, as get-security-info names them (esptool v5.3.1
// targets/<chip>.py KEY_PURPOSES).
constexpr KeyPurpose kClassicKeyPurposes[] = {
    {0, "USER/EMPTY"},
    {1, "RESERVED"},
    {2, "XTS_AES_256_KEY_1"},
    {3, "XTS_AES_256_KEY_2"},
    {4, "XTS_AES_128_KEY"},
    {5, "HMAC_DOWN_ALL"},
    {6, "HMAC_DOWN_JTAG"},
    {7, "HMAC_DOWN_DIGITAL_SIGNATURE"},
    {8, "HMAC_UP"},
    {9, "SECURE_BOOT_DIGEST0"},
    {10, "SECURE_BOOT_DIGEST1"},
    {11, "SECURE_BOOT_DIGEST2"},
};
constexpr KeyPurpose kEsp32c3KeyPurposes[] = {
    {0, "USER/EMPTY"},
    {1, "RESERVED"},
    {4, "XTS_AES_128_KEY"},
    {5, "HMAC_DOWN_ALL"},
    {6, "HMAC_DOWN_JTAG"},
    {7, "HMAC_DOWN_DIGITAL_SIGNATURE"},
    {8, "HMAC_UP"},
    {9, "SECURE_BOOT_DIGEST0"},
    {10, "SECURE_BOOT_DIGEST1"},
    {11, "SECURE_BOOT_DIGEST2"},
};
constexpr KeyPurpose kEsp32c61KeyPurposes[] = {
    {0, "USER/EMPTY"},           {1, "ECDSA_KEY"},
    {4, "XTS_AES_128_KEY"},      {9, "SECURE_BOOT_DIGEST0"},
    {10, "SECURE_BOOT_DIGEST1"}, {11, "SECURE_BOOT_DIGEST2"},
};
constexpr KeyPurpose kEsp32c5KeyPurposes[] = {
    {0, "USER/EMPTY"},
    {1, "ECDSA_KEY"},
    {4, "XTS_AES_128_KEY"},
    {5, "HMAC_DOWN_ALL"},
    {6, "HMAC_DOWN_JTAG"},
    {7, "HMAC_DOWN_DIGITAL_SIGNATURE"},
    {8, "HMAC_UP"},
    {9, "SECURE_BOOT_DIGEST0"},
    {10, "SECURE_BOOT_DIGEST1"},
    {11, "SECURE_BOOT_DIGEST2"},
    {12, "KM_INIT_KEY"},
    {15, "XTS_AES_128_PSRAM_KEY"},
    {16, "ECDSA_KEY_P192"},
    {17, "ECDSA_KEY_P384_L"},
    {18, "ECDSA_KEY_P384_H"},
};
constexpr KeyPurpose kEsp32e22KeyPurposes[] = {
    {0, "USER/EMPTY"},
    {1, "ECDSA_KEY"},
    {2, "XTS_AES_256_KEY_1"},
    {3, "XTS_AES_256_KEY_2"},
    {4, "XTS_AES_128_KEY"},
    {5, "HMAC_DOWN_ALL"},
    {6, "HMAC_DOWN_JTAG"},
    {7, "HMAC_DOWN_DIGITAL_SIGNATURE"},
    {8, "HMAC_UP"},
    {9, "SECURE_BOOT_DIGEST0"},
    {10, "SECURE_BOOT_DIGEST1"},
    {11, "SECURE_BOOT_DIGEST2"},
    {12, "KM_INIT_KEY"},
};
constexpr KeyPurpose kEsp32h2KeyPurposes[] = {
    {0, "USER/EMPTY"},
    {1, "ECDSA_KEY"},
    {2, "XTS_AES_256_KEY_1"},
    {3, "XTS_AES_256_KEY_2"},
    {4, "XTS_AES_128_KEY"},
    {5, "HMAC_DOWN_ALL"},
    {6, "HMAC_DOWN_JTAG"},
    {7, "HMAC_DOWN_DIGITAL_SIGNATURE"},
    {8, "HMAC_UP"},
    {9, "SECURE_BOOT_DIGEST0"},
    {10, "SECURE_BOOT_DIGEST1"},
    {11, "SECURE_BOOT_DIGEST2"},
};
constexpr KeyPurpose kEsp32h21KeyPurposes[] = {
    {0, "USER/EMPTY"},
    {1, "ECDSA_KEY"},
    {2, "RESERVED"},
    {4, "XTS_AES_128_KEY"},
    {5, "HMAC_DOWN_ALL"},
    {6, "HMAC_DOWN_JTAG"},
    {7, "HMAC_DOWN_DIGITAL_SIGNATURE"},
    {8, "HMAC_UP"},
    {9, "SECURE_BOOT_DIGEST0"},
    {10, "SECURE_BOOT_DIGEST1"},
    {11, "SECURE_BOOT_DIGEST2"},
};
constexpr KeyPurpose kEsp32h4KeyPurposes[] = {
    {0, "USER/EMPTY"},
    {1, "ECDSA_KEY"},
    {2, "XTS_AES_256_KEY_FLASH_1"},
    {3, "XTS_AES_256_KEY_FLASH_2"},
    {4, "XTS_AES_128_KEY"},
    {5, "HMAC_DOWN_ALL"},
    {6, "HMAC_DOWN_JTAG"},
    {7, "HMAC_DOWN_DIGITAL_SIGNATURE"},
    {8, "HMAC_UP"},
    {9, "SECURE_BOOT_DIGEST0"},
    {10, "SECURE_BOOT_DIGEST1"},
    {11, "SECURE_BOOT_DIGEST2"},
    {12, "KM_INIT_KEY"},
    {13, "XTS_AES_256_KEY_PSRAM_1"},
    {14, "XTS_AES_256_KEY_PSRAM_2"},
    {15, "XTS_AES_128_KEY_PSRAM"},
    {16, "ECDSA_KEY_P192"},
    {17, "ECDSA_KEY_P384_L"},
    {18, "ECDSA_KEY_P384_H"},
};
constexpr KeyPurpose kEsp32s31KeyPurposes[] = {
    {0, "USER/EMPTY"},
    {1, "ECDSA_KEY"},
    {2, "XTS_AES_256_KEY_1"},
    {3, "XTS_AES_256_KEY_2"},
    {4, "XTS_AES_128_KEY"},
    {5, "HMAC_DOWN_ALL"},
    {6, "HMAC_DOWN_JTAG"},
    {7, "HMAC_DOWN_DIGITAL_SIGNATURE"},
    {8, "HMAC_UP"},
    {9, "SECURE_BOOT_DIGEST0"},
    {10, "SECURE_BOOT_DIGEST1"},
    {11, "SECURE_BOOT_DIGEST2"},
    {12, "KM_INIT_KEY"},
    {13, "XTS_AES_256_PSRAM_KEY_1"},
    {14, "XTS_AES_256_PSRAM_KEY_2"},
    {15, "XTS_AES_128_PSRAM_KEY"},
    {16, "ECDSA_KEY_P192"},
    {17, "ECDSA_KEY_P384_L"},
    {18, "ECDSA_KEY_P384_H"},
    {19, "SDC_KEY_DIGEST"},
};

// Loadable memory past esptool's MEMORY_MAP, from each chip's ESP-IDF soc.h (esp-stub-lib's
// copies, src/target/<chip>/include/soc/soc.h).
constexpr AddressRange kEsp32BeyondMap[] = {{0x400A0000, 0x400C0000}}; // SOC_DIRAM_IRAM
constexpr AddressRange kEsp32s3BeyondMap[] = {
    {0x3C000000, 0x3E000000}, // SOC_DROM, SOC_EXTRAM_DATA
    {0x42000000, 0x44000000}, // SOC_IROM
};
constexpr AddressRange kEsp32c3BeyondMap[] = {{0x3FC80000, 0x3FD00000}}; // SOC_BYTE_ACCESSIBLE
constexpr AddressRange kEsp32p4BeyondMap[] = {
    {0x30100000, 0x30102000}, // SOC_TCM
    {0x4FF00000, 0x4FFC0000}, // SOC_IRAM, SOC_DRAM (L2MEM; MEMORY_MAP stops at 0x4FFA0000)
};

constexpr FlashCode kEsp8266FlashSizes[] = {
    {"512KB", 0x00},  {"256KB", 0x10},  {"1MB", 0x20}, {"2MB", 0x30},  {"4MB", 0x40},
    {"2MB-c1", 0x50}, {"4MB-c1", 0x60}, {"8MB", 0x80}, {"16MB", 0x90},
};
constexpr FlashCode kEsp32FlashSizes[] = {
    {"1MB", 0x00},  {"2MB", 0x10},  {"4MB", 0x20},  {"8MB", 0x30},
    {"16MB", 0x40}, {"32MB", 0x50}, {"64MB", 0x60}, {"128MB", 0x70},
};

constexpr FlashCode kClassicFrequencies[] = {
    {"80m", 0xF}, {"40m", 0x0}, {"26m", 0x1}, {"20m", 0x2}};
constexpr FlashCode kEsp32c2Frequencies[] = {
    {"60m", 0xF}, {"30m", 0x0}, {"20m", 0x1}, {"15m", 0x2}};
// ESP32-C6's ROM programs a wrong MSPI divider for 80 MHz, so 80m is written as 40m's code.
constexpr FlashCode kEsp32c6Frequencies[] = {{"80m", 0x0}, {"40m", 0x0}, {"20m", 0x2}};
constexpr FlashCode kEsp32c5Frequencies[] = {{"80m", 0xF}, {"40m", 0x0}, {"20m", 0x2}};
constexpr FlashCode kEsp32h2Frequencies[] = {
    {"48m", 0xF}, {"24m", 0x0}, {"16m", 0x1}, {"12m", 0x2}};

constexpr uint32_t kMmu16To64[] = {0x4000, 0x8000, 0x10000};
constexpr uint32_t kMmu8To64[] = {0x2000, 0x4000, 0x8000, 0x10000};
constexpr uint32_t kMmu32To256[] = {0x8000, 0x10000, 0x20000, 0x40000};

// USB-Serial-JTAG's map registers (.usb_serial_jtag_interrupt): ESP-IDF soc headers, through
// esp-stub-lib's copies: INTERRUPT_CORE0_USB_INTR_MAP_REG (C3 0x600C2000 + 0x68, C61 0x60010000 +
// 0xB0), INTMTX_CORE0_USB_INTR_MAP_REG (C6 + 0xC0, H2 + 0x94),
// INTERRUPT_CORE0_USB_SERIAL_JTAG_INTR_MAP_REG (C5 + 0xD8, H4 0x6009A000 + 0xD0),
// INTERRUPT_CORE0_USB_DEVICE_INT_MAP_REG (P4 0x500D6000 + 0x58); the CLIC chips' (C5, C61, H4, P4)
// take the line plus CLIC_EXT_INTR_NUM_OFFSET, 16 (clic_reg.h).

using namespace rom_tables;

// esptool v5.3.1 targets/<chip>.py: RTC_CNTL_WDT* and RTC_CNTL_SWD*, and which chips' own
// watchdog_reset it runs (C5 and C61 take the C3's, C6, H2 and H4 the classic hard reset).
constexpr WatchdogRegisters kEsp32c3Watchdogs{0x60008090, 0x60008094, 0x600080A8,
                                              0x50D83AA1, 0x600080AC, 0x600080B0,
                                              0x8F1D312A, 1u << 31,   true};
constexpr WatchdogRegisters kEsp32s2Watchdogs{0x3F408094, 0x3F408098, 0x3F4080AC, 0x50D83AA1, 0,
                                              0,          0,          0,          true};
constexpr WatchdogRegisters kEsp32s3Watchdogs{0x60008098, 0x6000809C, 0x600080B0,
                                              0x50D83AA1, 0x600080B4, 0x600080B8,
                                              0x8F1D312A, 1u << 31,   true};
// The C5 and C61 inherit these registers from the C6 in esptool, and the C3's watchdog_reset.
constexpr WatchdogRegisters kEsp32c5Watchdogs{0x600B1C00, 0x600B1C04, 0x600B1C18,
                                              0x50D83AA1, 0x600B1C1C, 0x600B1C20,
                                              0x50D83AA1, 1u << 18,   true};
constexpr WatchdogRegisters kEsp32c6Watchdogs{0x600B1C00, 0x600B1C04, 0x600B1C18, 0x50D83AA1,
                                              0x600B1C1C, 0x600B1C20, 0x50D83AA1, 1u << 18};
constexpr WatchdogRegisters kEsp32h2Watchdogs{0x600B1C00, 0x600B1C04, 0x600B1C1C, 0x50D83AA1,
                                              0x600B1C20, 0x600B1C24, 0x50D83AA1, 1u << 18};
constexpr WatchdogRegisters kEsp32p4Watchdogs{0x50116000, 0x50116004, 0x50116018,
                                              0x50D83AA1, 0x5011601C, 0x50116020,
                                              0x50D83AA1, 1u << 18,   true};
// The H4's RTC watchdog is TIMG0's (DR_REG_TIMG_BASE 0x60090000), its super watchdog LP_WDT's.
constexpr WatchdogRegisters kEsp32h4Watchdogs{0x60090048, 0x6009004C, 0x60090064, 0x50D83AA1,
                                              0x600B541C, 0x600B5420, 0x50D83AA1, 1u << 18};

constexpr RomCapabilities kEsp8266Rom{
    .status_bytes = 2,
    .flash_begin_encrypt_word = false,
    .compressed_flash = false,
    .spi_flash_md5 = false,
    .change_baudrate = false,
    .read_flash_slow = false,
    .spi_attach = false,
    .spi_set_params = false,
    .security_info_bytes = 0,
    .erase_size_bug = true,
};
constexpr RomCapabilities kEsp32Rom{.security_info_bytes = 0};
constexpr RomCapabilities kEsp32s2Rom{.flash_begin_encrypt_word = true, .security_info_bytes = 12};
constexpr RomCapabilities kModernRom{.flash_begin_encrypt_word = true, .security_info_bytes = 20};

// No running code drives the Xtensa chips' CMD-register flash operations here: no RD_STATUS.
constexpr SpiRegisters kEsp8266Spi{0x60000200,   0x1C, 0x20, 0x24,        std::nullopt,
                                   std::nullopt, 0x40, true, std::nullopt};
constexpr SpiRegisters kEsp32Spi{0x3FF42000, 0x1C, 0x20, 0x24,        0x28,
                                 0x2C,       0x80, true, std::nullopt};
// ESP-IDF soc/spi_mem_reg.h: USER, USER1, USER2, MOSI_DLEN, MISO_DLEN, W0, RD_STATUS.
constexpr SpiRegisters modernSpi(uint32_t base) {
    return SpiRegisters{base, 0x18, 0x1C, 0x20, 0x24, 0x28, 0x58, false, 0x2C};
}

constexpr RegisterField field(uint32_t address, uint8_t high_bit, uint8_t low_bit) {
    return RegisterField{address, low_bit, static_cast<uint8_t>(high_bit - low_bit + 1)};
}

// The PLL clock esp-stub-lib's stub_target_clock_init selects (src/target/<chip>/src/clock.c,
// CPU_FREQ_MHZ 160), with the fields from its copies of ESP-IDF's soc headers:
// ESP32-C3: SYSTEM_SYSCLK_CONF_REG (0x600C0058) SOC_CLK_SEL[11:10] = 1 (PLL),
// SYSTEM_CPU_PER_CONF_REG (0x600C0008) PLL_FREQ_SEL[2] = 1 (480 MHz), CPUPERIOD_SEL[1:0] = 1.
constexpr FieldSetting kEsp32c3PllCpuClock[] = {
    {field(0x600C0058, 11, 10), 1}, {field(0x600C0008, 2, 2), 1}, {field(0x600C0008, 1, 0), 1}};
// ESP32-C6: PCR_SYSCLK_CONF_REG (0x60096110) PCR_SOC_CLK_SEL[17:16] = 1 (PLL).
constexpr FieldSetting kEsp32c6PllCpuClock[] = {{field(0x60096110, 17, 16), 1}};

// Revision layouts where major = w[a:b] and minor = w[c:d] of one word.
constexpr RevisionFields simpleRevision(uint32_t word, uint8_t major_hi, uint8_t major_lo,
                                        uint8_t minor_hi, uint8_t minor_lo) {
    return RevisionFields{{field(word, major_hi, major_lo)}, {field(word, minor_hi, minor_lo)}};
}

constexpr ChipDescription kChips[] = {
    {
        .name = "esp8266",
        .display_name = "ESP8266",
        .magic_value = 0xFFF0C101,
        .uf2_family_id = 0x7EAB61ED,
        .cpu = Cpu::Xtensa,
        .image_format = ImageFormat::Esp8266,
        .bootloader_flash_offset = 0x0,
        .irom_map = {0x40200000, 0x40300000},
        .memory_map = kEsp8266Memory,
        .flash_sizes = kEsp8266FlashSizes,
        .flash_frequencies = kClassicFrequencies,
        .uart_date_reg = 0x60000078,
        .uart_clkdiv_reg = 0x60000014,
        .spi = kEsp8266Spi,
        .efuse_base = 0x3FF00050,
        .mac_layout = MacLayout::Esp8266Otp,
        .mac_efuse_reg = 0x3FF00050,
        .rom = kEsp8266Rom,
        .xtal_clk_divider = 2,
    },
    {
        .name = "esp32",
        .display_name = "ESP32",
        .magic_value = 0x00F01D83,
        .image_chip_id = 0,
        .uf2_family_id = 0x1C5F21B0,
        .cpu = Cpu::Xtensa,
        .bootloader_flash_offset = 0x1000,
        .irom_map = {0x400D0000, 0x40400000},
        .drom_map = {0x3F400000, 0x3F800000},
        .memory_map = kEsp32Memory,
        .loadable_beyond_map = kEsp32BeyondMap,
        .flash_sizes = kEsp32FlashSizes,
        .flash_frequencies = kClassicFrequencies,
        .flash_segment_min_page_tail = 0x24,
        .supports_secure_pad_v1 = true,
        .uart_date_reg = 0x60000078,
        .uart_clkdiv_reg = 0x3FF40014,
        .spi = kEsp32Spi,
        .efuse_base = 0x3FF5A000,
        .mac_layout = MacLayout::Esp32Words,
        .mac_efuse_reg = 0x3FF5A004,
        .revision = {{field(0x3FF6607C, 31, 31), field(0x3FF5A014, 20, 20),
                      field(0x3FF5A00C, 15, 15)},
                     {field(0x3FF5A014, 25, 24)},
                     true},
        .rom = kEsp32Rom,
        // RTCCALICFG1 (TIMERS_RTC_CALI_VALUE, bits 31:7); EFUSE_RD_CK8M_FREQ, word 4 of
        // EFUSE_RD_REG_BASE 0x3FF5A000 (esptool targets/esp32.py).
        .rom_crystal_calibration = field(0x3FF5F06C, 31, 7),
        .rom_ck8m_frequency = field(0x3FF5A010, 7, 0),
    },
    {
        .name = "esp32s2",
        .display_name = "ESP32-S2",
        .magic_value = 0x000007C6,
        .image_chip_id = 2,
        .uf2_family_id = 0xBFDD4EEE,
        .cpu = Cpu::Xtensa,
        .bootloader_flash_offset = 0x1000,
        .irom_map = {0x40080000, 0x40B80000},
        .drom_map = {0x3F000000, 0x3F3F0000},
        .memory_map = kEsp32s2Memory,
        .flash_sizes = kEsp32FlashSizes,
        .flash_frequencies = kClassicFrequencies,
        .uart_date_reg = 0x60000078,
        .uart_clkdiv_reg = 0x3F400014,
        .spi = modernSpi(0x3F402000),
        // esptool v5.2 targets/esp32s2.py: UARTDEV_BUF_NO, 2 for USB-OTG; GPIO_STRAP_REG,
        // RTC_CNTL_OPTION1_REG; USB_RAM_BLOCK.
        .rom_console = {.word = {0x3FFFFD14, 0, 2}},
        .usb_otg = {0x800, 0x3F404038, 1u << 3, 0x3F408128, 0x1},
        .watchdogs = kEsp32s2Watchdogs,
        .efuse_base = 0x3F41A000,
        .mac_efuse_reg = 0x3F41A044,
        .revision = {{field(0x3F41A050, 19, 18)},
                     {field(0x3F41A050, 20, 20), field(0x3F41A054, 6, 4)}},
        .rom = kEsp32s2Rom,
        .fixed_crystal_mhz = 40,
        .key_purposes = kClassicKeyPurposes,
    },
    {
        .name = "esp32s3",
        .display_name = "ESP32-S3",
        .image_chip_id = 9,
        .uf2_family_id = 0xC47E5767,
        .cpu = Cpu::Xtensa,
        .bootloader_flash_offset = 0x0,
        .irom_map = {0x42000000, 0x44000000},
        .drom_map = {0x3C000000, 0x3E000000},
        .memory_map = kEsp32s3Memory,
        .loadable_beyond_map = kEsp32s3BeyondMap,
        .flash_sizes = kEsp32FlashSizes,
        .flash_frequencies = kClassicFrequencies,
        .uart_date_reg = 0x60000080,
        .uart_clkdiv_reg = 0x60000014,
        .spi = modernSpi(0x60002000),
        .flash_4byte_addresses = true,
        // UARTDEV_BUF_NO: esptool v5.2 targets/esp32s3.py (3 for USB-OTG, 4 USB-Serial-JTAG);
        // GPIO_STRAP_REG, RTC_CNTL_OPTION1_REG and USB_RAM_BLOCK from the same file.
        .usb_serial_jtag_base = 0x60038000,
        .rom_console = {.word = {0x3FCEF14C, 4, 3}},
        .usb_otg = {0x800, 0x60004038, 1u << 3, 0x6000812C, 0x1},
        .watchdogs = kEsp32s3Watchdogs,
        .efuse_base = 0x60007000,
        .mac_efuse_reg = 0x60007044,
        // BLOCK1 at EFUSE_BASE + 0x44, BLOCK2 at + 0x5C (esptool targets/esp32s3.py).
        .revision = {.major = {field(0x60007058, 25, 24)},
                     .minor = {field(0x60007058, 23, 23), field(0x60007050, 20, 18)},
                     .block_version_major = field(0x6000706C, 1, 0),
                     .block_version_minor = field(0x60007050, 26, 24),
                     .v0_block_version = 101},
        .rom = kModernRom,
        .fixed_crystal_mhz = 40,
        .key_purposes = kClassicKeyPurposes,
    },
    {
        .name = "esp32c3",
        .display_name = "ESP32-C3",
        .image_chip_id = 5,
        .uf2_family_id = 0xD42BA06C,
        .bootloader_flash_offset = 0x0,
        .irom_map = {0x42000000, 0x42800000},
        .drom_map = {0x3C000000, 0x3C800000},
        .memory_map = kEsp32c3Memory,
        .loadable_beyond_map = kEsp32c3BeyondMap,
        .flash_sizes = kEsp32FlashSizes,
        .flash_frequencies = kClassicFrequencies,
        .uart_date_reg = 0x6000007C,
        .uart_clkdiv_reg = 0x60000014,
        // SPI1's clock divides the 80 MHz MSPI clock: ESP-IDF hal/esp32c3/include/hal/
        // spimem_flash_ll.h (SPIMEM_FLASH_LL_CLKREG_VAL_20MHZ 0x00030103, the ROM's divider 4;
        // _40MHZ 0x00010001; SPI_MEM_CLOCK_REG at +0x14, soc/spi_mem_reg.h).
        .spi =
            [] {
                SpiRegisters spi = modernSpi(0x60002000);
                spi.clock = 0x14;
                spi.clock_source_mhz = 80;
                spi.ctrl = 0x08; // FREAD_DUAL_S 14, FREAD_QUAD_S 20 (soc/spi_mem_reg.h)
                return spi;
            }(),
        // UARTDEV_BUF_NO: esptool v5.2 targets/esp32c3.py (UartDev at 0x3FCDF064 before v1.1,
        // 0x3FCDF060 from it; buff_uart_no 24 bytes in).
        .usb_serial_jtag_base = 0x60043000,
        .usb_serial_jtag_interrupt = {0x600C2068, 0},
        .rom_console = {.word = {0x3FCDF078, 3},
                        .word_before = {0x3FCDF07C, 3},
                        .changes_at_revision = 101},
        .watchdogs = kEsp32c3Watchdogs,
        .efuse_base = 0x60008800,
        .mac_efuse_reg = 0x60008844,
        .revision = {{field(0x60008858, 25, 24)},
                     {field(0x60008858, 23, 23), field(0x60008850, 20, 18)}},
        .rom = kModernRom,
        .fixed_crystal_mhz = 40,
        .pll_cpu_clock = {kEsp32c3PllCpuClock, 160},
        .rom_functions = kEsp32c3RomFunctions,
        .peripheral_registers = {0x60000000, 0x60100000},
        .rom_flash_record_pointer = 0x3FCDFFF0,
        .image_min_rev_is_minor = true,
        .key_purposes = kEsp32c3KeyPurposes,
    },
    {
        .name = "esp32c2",
        .display_name = "ESP32-C2",
        .image_chip_id = 12,
        .uf2_family_id = 0x2B88D29C,
        .bootloader_flash_offset = 0x0,
        .irom_map = {0x42000000, 0x42400000},
        .drom_map = {0x3C000000, 0x3C400000},
        .memory_map = kEsp32c2Memory,
        .flash_sizes = kEsp32FlashSizes,
        .flash_frequencies = kEsp32c2Frequencies,
        .configurable_mmu_page_sizes = kMmu16To64,
        .uart_date_reg = 0x6000007C,
        .uart_clkdiv_reg = 0x60000014,
        .spi = modernSpi(0x60002000),
        .efuse_base = 0x60008800,
        .mac_efuse_reg = 0x60008840,
        .revision = simpleRevision(0x60008844, 21, 20, 19, 16),
        .rom = kModernRom,
        .rom_functions = kEsp32c2RomFunctions,
        .peripheral_registers = {0x60000000, 0x60100000},
        .rom_flash_record_pointer = 0x3FCDFFF0,
    },
    {
        .name = "esp32c6",
        .display_name = "ESP32-C6",
        .image_chip_id = 13,
        .uf2_family_id = 0x540DDF62,
        .bootloader_flash_offset = 0x0,
        .irom_map = {0x42000000, 0x42800000},
        .drom_map = {0x42800000, 0x43000000},
        .memory_map = kEsp32c6Memory,
        .flash_sizes = kEsp32FlashSizes,
        .flash_frequencies = kEsp32c6Frequencies,
        .configurable_mmu_page_sizes = kMmu8To64,
        .uart_date_reg = 0x6000007C,
        .uart_clkdiv_reg = 0x60000014,
        .uart_fifo_count_mask = 0xFF,
        .spi = modernSpi(0x60003000),
        .uart_reg_update = 0x98,
        .usb_serial_jtag_base = 0x6000F000,
        .usb_serial_jtag_interrupt = {0x600100C0, 0},
        .rom_console = {.word = {0x4087F580, 3}}, // esptool v5.2 targets/esp32c6.py
        .watchdogs = kEsp32c6Watchdogs,
        .efuse_base = 0x600B0800,
        .mac_layout = MacLayout::StandardEui64,
        .mac_efuse_reg = 0x600B0844,
        .revision = simpleRevision(0x600B0850, 23, 22, 21, 18),
        .rom = kModernRom,
        .fixed_crystal_mhz = 40,
        .pll_cpu_clock = {kEsp32c6PllCpuClock, 160},
        .rom_functions = kEsp32c6RomFunctions,
        .peripheral_registers = {0x60000000, 0x60100000},
        .rom_flash_record_pointer = 0x4087FFEC,
        .key_purposes = kEsp32c3KeyPurposes,
    },
    {
        .name = "esp32c61",
        .display_name = "ESP32-C61",
        .image_chip_id = 20,
        .uf2_family_id = 0x77D850C4,
        .bootloader_flash_offset = 0x0,
        .irom_map = {0x42000000, 0x42800000},
        .drom_map = {0x42800000, 0x43000000},
        .memory_map = kEsp32c61Memory,
        .flash_sizes = kEsp32FlashSizes,
        .flash_frequencies = kEsp32c5Frequencies,
        .configurable_mmu_page_sizes = kMmu8To64,
        .uart_date_reg = 0x6000007C,
        .uart_clkdiv_reg = 0x60000014,
        .uart_fifo_count_mask = 0xFF,
        .spi = modernSpi(0x60003000),
        .flash_4byte_addresses = true,
        .uart_reg_update = 0x98,
        // esptool v5.2 targets/esp32c61.py: the word and its value changed after v0.2.
        .usb_serial_jtag_base = 0x6000F000,
        .usb_serial_jtag_interrupt = {0x600100B0, 16},
        .rom_console = {.word = {0x4084F5E4, 4},
                        .word_before = {0x4084F5EC, 3},
                        .changes_at_revision = 3},
        .watchdogs = kEsp32c5Watchdogs,
        .efuse_base = 0x600B4800,
        .mac_efuse_reg = 0x600B4844,
        .revision = simpleRevision(0x600B484C, 5, 4, 3, 0),
        .rom = kModernRom,
        .fixed_crystal_mhz = 40,
        .rom_functions = kEsp32c61RomFunctions,
        .peripheral_registers = {0x60000000, 0x60100000},
        .rom_flash_record_pointer = 0x4084FFEC,
        .key_purposes = kEsp32c61KeyPurposes,
    },
    {
        .name = "esp32c5",
        .display_name = "ESP32-C5",
        .image_chip_id = 23,
        .uf2_family_id = 0xF71C0343,
        .bootloader_flash_offset = 0x2000,
        .irom_map = {0x42000000, 0x44000000},
        .drom_map = {0x42000000, 0x44000000},
        .memory_map = kEsp32c5Memory,
        .flash_sizes = kEsp32FlashSizes,
        .flash_frequencies = kEsp32c5Frequencies,
        .uart_date_reg = 0x6000007C,
        .uart_clkdiv_reg = 0x60000014,
        .uart_fifo_count_mask = 0xFF,
        .spi = modernSpi(0x60003000),
        .flash_4byte_addresses = true,
        .uart_reg_update = 0x98,
        .usb_serial_jtag_base = 0x6000F000,
        .usb_serial_jtag_leaves_bus_in_reset = true,
        .usb_serial_jtag_interrupt = {0x600100D8, 16},
        .rom_console = {.word = {0x4085F514, 3}}, // esptool v5.2 targets/esp32c5.py
        .watchdogs = kEsp32c5Watchdogs,
        .efuse_base = 0x600B4800,
        .mac_layout = MacLayout::StandardEui64,
        .mac_efuse_reg = 0x600B4844,
        .revision = simpleRevision(0x600B484C, 5, 4, 3, 0),
        .rom = kModernRom,
        .rom_functions = kEsp32c5RomFunctions,
        .peripheral_registers = {0x60000000, 0x60100000},
        .rom_flash_record_pointer = 0x4085FFEC,
        .key_purposes = kEsp32c5KeyPurposes,
    },
    {
        .name = "esp32e22",
        .display_name = "ESP32-E22",
        .image_chip_id = 31,
        .uf2_family_id = 0x1C5F21B0,
        // No public source names its CPU yet: either ELF machine is accepted.
        .cpu = Cpu::Unknown,
        .bootloader_flash_offset = 0x0,
        .irom_map = {0x3C000000, 0x40000000},
        .drom_map = {0x3C000000, 0x40000000},
        .memory_map = kEsp32e22Memory,
        .flash_sizes = kEsp32FlashSizes,
        .flash_frequencies = kClassicFrequencies,
        .uart_date_reg = 0xC310208C,
        .uart_clkdiv_reg = 0xC3102014,
        .spi = modernSpi(0xC3003000),
        .efuse_base = 0xC4008000,
        .mac_efuse_reg = 0xC4008044,
        .rom = kModernRom,
        .stub_supported = false,
        .key_purposes = kEsp32e22KeyPurposes,
    },
    {
        .name = "esp32h2",
        .display_name = "ESP32-H2",
        .image_chip_id = 16,
        .uf2_family_id = 0x332726F6,
        .bootloader_flash_offset = 0x0,
        .irom_map = {0x42000000, 0x42800000},
        .drom_map = {0x42800000, 0x43000000},
        .memory_map = kEsp32c6Memory,
        .flash_sizes = kEsp32FlashSizes,
        .flash_frequencies = kEsp32h2Frequencies,
        .configurable_mmu_page_sizes = kMmu8To64,
        .uart_date_reg = 0x6000007C,
        .uart_clkdiv_reg = 0x60000014,
        .uart_fifo_count_mask = 0xFF,
        .spi = modernSpi(0x60003000),
        .uart_reg_update = 0x98,
        .usb_serial_jtag_base = 0x6000F000,
        .usb_serial_jtag_interrupt = {0x60010094, 0},
        .rom_console = {.word = {0x4084FEFC, 3}}, // esptool v5.2 targets/esp32h2.py
        .watchdogs = kEsp32h2Watchdogs,
        .efuse_base = 0x600B0800,
        .mac_layout = MacLayout::StandardEui64,
        .mac_efuse_reg = 0x600B0844,
        .revision = simpleRevision(0x600B0850, 22, 21, 20, 18),
        .rom = kModernRom,
        .fixed_crystal_mhz = 32,
        .rom_functions = kEsp32h2RomFunctions,
        .peripheral_registers = {0x60000000, 0x60100000},
        .rom_flash_record_pointer = 0x4084FFEC,
        .key_purposes = kEsp32h2KeyPurposes,
    },
    {
        .name = "esp32h21",
        .display_name = "ESP32-H21",
        .image_chip_id = 25,
        .uf2_family_id = 0xB6DD00AF,
        .bootloader_flash_offset = 0x0,
        .irom_map = {0x42000000, 0x42800000},
        .drom_map = {0x42800000, 0x43000000},
        .memory_map = kEsp32c6Memory,
        .flash_sizes = kEsp32FlashSizes,
        .flash_frequencies = kEsp32h2Frequencies,
        .configurable_mmu_page_sizes = kMmu8To64,
        .uart_date_reg = 0x6000007C,
        .uart_clkdiv_reg = 0x60000014,
        .uart_fifo_count_mask = 0xFF,
        .spi = modernSpi(0x60003000),
        .uart_reg_update = 0x98,
        .efuse_base = 0x600B4000,
        .mac_layout = MacLayout::StandardEui64,
        .mac_efuse_reg = 0x600B4044,
        .revision = simpleRevision(0x600B4058, 9, 8, 7, 4),
        .rom = kModernRom,
        .fixed_crystal_mhz = 32,
        .stub_supported = false,
        .rom_functions = kEsp32h21RomFunctions,
        .peripheral_registers = {0x60000000, 0x60100000},
        .rom_flash_record_pointer = 0x4084FFEC,
        .key_purposes = kEsp32h21KeyPurposes,
    },
    {
        .name = "esp32p4",
        .display_name = "ESP32-P4",
        .image_chip_id = 18,
        .uf2_family_id = 0x3D308E94,
        .bootloader_flash_offset = 0x2000,
        .irom_map = {0x40000000, 0x4C000000},
        .drom_map = {0x40000000, 0x4C000000},
        .memory_map = kEsp32p4Memory,
        // ESP-IDF soc/esp32p4/include/soc/soc.h: SOC_DRAM_HIGH 0x4FFC0000 (the ROM's .bss from
        // v3.0 lies up there).
        .more_internal_ram = {0x4FFA0000, 0x4FFC0000},
        .loadable_beyond_map = kEsp32p4BeyondMap,
        .flash_sizes = kEsp32FlashSizes,
        .flash_frequencies = kClassicFrequencies,
        .uart_date_reg = 0x500CA08C,
        // UART_CLKDIV_SYNC_REG, +0x14 from DR_REG_UART0_BASE 0x500CA000 (ESP-IDF uart_reg.h,
        // reg_base.h); esptool keeps an inherited address.
        .uart_clkdiv_reg = 0x500CA014,
        .uart_base = 0x500CA000,
        .uart_fifo_count_mask = 0xFF,
        .spi = modernSpi(0x5008D000),
        .flash_4byte_addresses = true,
        .uart_reg_update = 0x98,
        // DR_REG_HPPERIPH1_BASE + 0x12000. UARTDEV_BUF_NO: esptool v5.2 targets/esp32p4.py
        // (UartDev at 0x4FF3FEB0 before v3.0, 0x4FFBFEB0 from it; 5 for USB-OTG, after which
        // its hard_reset is always the watchdog).
        .usb_serial_jtag_base = 0x500D2000,
        .usb_serial_jtag_interrupt = {0x500D6058, 16},
        .rom_console = {.word = {0x4FFBFEC8, 6, 5},
                        .word_before = {0x4FF3FEC8, 6, 5},
                        .changes_at_revision = 300},
        .usb_otg = {.max_block = 0x800},
        .watchdogs = kEsp32p4Watchdogs,
        .efuse_base = 0x5012D000,
        .mac_efuse_reg = 0x5012D044,
        .revision = {{field(0x5012D04C, 23, 23), field(0x5012D04C, 5, 4)},
                     {field(0x5012D04C, 3, 0)}},
        .rom = kModernRom,
        .fixed_crystal_mhz = 40,
        .rom_functions = kEsp32p4RomFunctions,
        .peripheral_registers = {0x50000000, 0x50100000},
        .rom_flash_record_pointer = 0x4FFBFFE8,
        .older_stub_name = "esp32p4-rev1",
        .older_stub_below_revision = 300,
        .key_purposes = kEsp32e22KeyPurposes,
    },
    {
        .name = "esp32h4",
        .display_name = "ESP32-H4",
        .image_chip_id = 28,
        .uf2_family_id = 0x9E0BAA8A,
        .bootloader_flash_offset = 0x2000,
        .irom_map = {0x42000000, 0x42800000},
        .drom_map = {0x42800000, 0x43000000},
        .memory_map = kEsp32h4Memory,
        .flash_sizes = kEsp32FlashSizes,
        .flash_frequencies = kEsp32h2Frequencies,
        .configurable_mmu_page_sizes = kMmu8To64,
        .uart_date_reg = 0x6001207C,
        // UART_CLKDIV_SYNC_REG, +0x14 from DR_REG_UART0_BASE 0x60012000 (ESP-IDF uart_reg.h,
        // reg_base.h); esptool keeps an inherited address.
        .uart_clkdiv_reg = 0x60012014,
        .uart_base = 0x60012000,
        .uart_fifo_count_mask = 0xFF,
        .spi = modernSpi(0x60099000),
        .uart_reg_update = 0x98,
        // esptool v5.2 gives the C6's UARTDEV_BUF_NO (0x4087F580), which lies past the H4's RAM
        // (ESP-IDF soc.h: SOC_DRAM_HIGH 0x40860000): where its ROM keeps the word is not known.
        .usb_serial_jtag_base = 0x6001D000,
        .usb_serial_jtag_interrupt = {0x6009A0D0, 16},
        .watchdogs = kEsp32h4Watchdogs,
        .efuse_base = 0x600B1800,
        .mac_layout = MacLayout::StandardEui64,
        .mac_efuse_reg = 0x600B1844,
        .revision = simpleRevision(0x600B1850, 23, 22, 21, 18),
        .rom = kModernRom,
        .fixed_crystal_mhz = 32,
        .rom_functions = kEsp32h4RomFunctions,
        .peripheral_registers = {0x60000000, 0x60100000},
        .rom_flash_record_pointer = 0x4085FFE8,
        .key_purposes = kEsp32h4KeyPurposes,
    },
    {
        .name = "esp32s31",
        .display_name = "ESP32-S31",
        .image_chip_id = 32,
        .uf2_family_id = 0x3101F7C1,
        .bootloader_flash_offset = 0x2000,
        .irom_map = {0x40000000, 0x54000000},
        .drom_map = {0x40000000, 0x54000000},
        .memory_map = kEsp32s31Memory,
        .flash_sizes = kEsp32FlashSizes,
        .flash_frequencies = kEsp32c5Frequencies,
        .configurable_mmu_page_sizes = kMmu32To256,
        .uart_date_reg = 0x2038A08C,
        // UART_CLKDIV_SYNC_REG, +0x14 from DR_REG_UART0_BASE 0x2038A000 (ESP-IDF uart_reg.h,
        // reg_base.h); esptool keeps an inherited address.
        .uart_clkdiv_reg = 0x2038A014,
        .uart_base = 0x2038A000,
        .uart_fifo_count_mask = 0xFF,
        .spi = modernSpi(0x20501000),
        .flash_4byte_addresses = true,
        .uart_reg_update = 0x98,
        // No esptool release names the S31's console word; the stub asks the ROM for it.
        .usb_serial_jtag_base = 0x20391000,
        .efuse_base = 0x20715000,
        .mac_efuse_reg = 0x20715050,
        .revision = simpleRevision(0x2071505C, 23, 22, 21, 18),
        .rom = kModernRom,
        .fixed_crystal_mhz = 40,
        .rom_functions = kEsp32s31RomFunctions,
        .peripheral_registers = {0x50000000, 0x50100000},
        .rom_flash_record_pointer = 0x2F07FFE0,
        .key_purposes = kEsp32s31KeyPurposes,
        .efuse_max_key = 4,
    },
};

constexpr FlashCode kFlashModes[] = {{"qio", 0}, {"qout", 1}, {"dio", 2}, {"dout", 3}};

std::string normalizeChipName(std::string_view name) {
    std::string out;
    for (char c : name) {
        if (c == '-' || c == '_' || c == '(' || c == ')') continue;
        out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    }
    return out;
}

std::optional<uint8_t> lookupCode(std::span<const FlashCode> table, std::string_view name) {
    for (const auto &entry : table)
        if (entry.name == name) return entry.code;
    return std::nullopt;
}

std::optional<std::string_view> lookupName(std::span<const FlashCode> table, uint8_t code) {
    for (const auto &entry : table)
        if (entry.code == code) return entry.name;
    return std::nullopt;
}

} // namespace

std::span<const ChipDescription> allChips() {
    return kChips;
}

const ChipDescription *findChip(std::string_view name) {
    std::string wanted = normalizeChipName(name);
    for (const auto &chip : kChips)
        if (chip.name == wanted) return &chip;
    return nullptr;
}

const ChipDescription *findChipByImageId(uint16_t image_chip_id) {
    for (const auto &chip : kChips)
        if (!chip.magic_value && chip.image_chip_id == image_chip_id) return &chip;
    return nullptr;
}

const ChipDescription *findChipByMagic(uint32_t magic) {
    for (const auto &chip : kChips)
        if (chip.magic_value == magic) return &chip;
    return nullptr;
}

std::string_view chipNameList() {
    static const std::string list = [] {
        std::string out;
        for (const auto &chip : kChips) {
            if (!out.empty()) out += ", ";
            out += chip.name;
        }
        return out;
    }();
    return list;
}

std::optional<uint8_t> flashSizeCode(const ChipDescription &chip, std::string_view name) {
    return lookupCode(chip.flash_sizes, name);
}
std::optional<uint8_t> flashFrequencyCode(const ChipDescription &chip, std::string_view name) {
    return lookupCode(chip.flash_frequencies, name);
}
std::optional<uint8_t> flashModeCode(std::string_view name) {
    return lookupCode(kFlashModes, name);
}
std::optional<std::string_view> flashSizeName(const ChipDescription &chip, uint8_t code) {
    return lookupName(chip.flash_sizes, code);
}
std::optional<std::string_view> flashFrequencyName(const ChipDescription &chip, uint8_t code) {
    return lookupName(chip.flash_frequencies, code);
}
std::optional<std::string_view> flashModeName(uint8_t code) {
    return lookupName(kFlashModes, code);
}

std::optional<uint32_t> flashSizeBytes(std::string_view name) {
    static constexpr std::pair<std::string_view, uint32_t> kSizes[] = {
        {"256KB", 256u << 10}, {"512KB", 512u << 10}, {"1MB", 1u << 20},    {"2MB", 2u << 20},
        {"2MB-c1", 2u << 20},  {"4MB", 4u << 20},     {"4MB-c1", 4u << 20}, {"8MB", 8u << 20},
        {"16MB", 16u << 20},   {"32MB", 32u << 20},   {"64MB", 64u << 20},  {"128MB", 128u << 20},
    };
    for (const auto &[size_name, bytes] : kSizes)
        if (size_name == name) return bytes;
    return std::nullopt;
}

RomConsoleWord romConsoleWord(const ChipDescription &chip, uint32_t revision) {
    const RomConsole &console = chip.rom_console;
    return revision < console.changes_at_revision ? console.word_before : console.word;
}

bool isFlashAddress(const ChipDescription &chip, uint32_t address) {
    return chip.irom_map.contains(address) || chip.drom_map.contains(address);
}

size_t memoryTypes(const ChipDescription &chip, uint32_t address, std::span<std::string_view> out) {
    size_t count = 0;
    for (const auto &region : chip.memory_map)
        if (region.range.contains(address) && count < out.size()) out[count++] = region.name;
    return count;
}

} // namespace esptools::chipdb
