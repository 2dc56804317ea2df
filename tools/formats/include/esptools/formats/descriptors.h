// ESP-IDF's descriptors inside images: esp_app_desc_t at the start of the first DROM segment of an
// app, esp_bootloader_desc_t at the start of a bootloader's first DRAM segment (image-format.md
// §4.3).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace esptools::formats {

struct AppDescriptor {
    uint32_t secure_version = 0;
    std::string version, project_name, time, date, idf_version;
    std::array<uint8_t, 32> elf_sha256{};
    uint16_t min_efuse_block_revision = 0; // major * 100 + minor
    uint16_t max_efuse_block_revision = 0;
    uint8_t mmu_page_size_log2 = 0; // 0: not set
};

struct BootloaderDescriptor {
    uint32_t version = 0;
    std::string idf_version, date_time;
};

inline constexpr uint32_t kAppDescriptorMagic = 0xABCD5432;
inline constexpr size_t kAppDescriptorSize = 256;
inline constexpr uint8_t kBootloaderDescriptorMagic = 0x50;
inline constexpr size_t kBootloaderDescriptorSize = 80;

// nullopt when the data is too short or the magic does not match.
std::optional<AppDescriptor> parseAppDescriptor(std::span<const uint8_t> data);
std::optional<BootloaderDescriptor> parseBootloaderDescriptor(std::span<const uint8_t> data);

} // namespace esptools::formats
