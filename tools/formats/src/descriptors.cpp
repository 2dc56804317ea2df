#include "esptools/formats/descriptors.h"

#include "esptools/formats/image.h"

namespace esptools::formats {
namespace {

// esptool decodes these fixed-size fields as UTF-8 and drops every NUL byte, not just the tail.
std::string fixedString(std::span<const uint8_t> field) {
    std::string text;
    for (uint8_t byte : field)
        if (byte != 0) text.push_back(static_cast<char>(byte));
    return text;
}

} // namespace

std::optional<AppDescriptor> parseAppDescriptor(std::span<const uint8_t> data) {
    if (data.size() < kAppDescriptorSize || readLE32(data.data()) != kAppDescriptorMagic)
        return std::nullopt;
    AppDescriptor desc;
    desc.secure_version = readLE32(data.data() + 4);
    desc.version = fixedString(data.subspan(0x10, 32));
    desc.project_name = fixedString(data.subspan(0x30, 32));
    desc.time = fixedString(data.subspan(0x50, 16));
    desc.date = fixedString(data.subspan(0x60, 16));
    desc.idf_version = fixedString(data.subspan(0x70, 32));
    std::copy_n(data.begin() + 0x90, 32, desc.elf_sha256.begin());
    desc.min_efuse_block_revision = readLE16(data.data() + 0xB0);
    desc.max_efuse_block_revision = readLE16(data.data() + 0xB2);
    desc.mmu_page_size_log2 = data[0xB4];
    return desc;
}

std::optional<BootloaderDescriptor> parseBootloaderDescriptor(std::span<const uint8_t> data) {
    if (data.size() < kBootloaderDescriptorSize || data[0] != kBootloaderDescriptorMagic)
        return std::nullopt;
    BootloaderDescriptor desc;
    desc.version = readLE32(data.data() + 4);
    desc.idf_version = fixedString(data.subspan(8, 32));
    desc.date_time = fixedString(data.subspan(0x28, 24));
    return desc;
}

} // namespace esptools::formats
