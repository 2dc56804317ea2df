#include "command_support.h"

#include <thread>

namespace esptools::loader::support {

uint8_t dataChecksum(std::span<const uint8_t> data) {
    uint8_t sum = 0xEF;
    for (uint8_t byte : data) sum ^= byte;
    return sum;
}

std::array<uint8_t, 16> md5Of(std::span<const uint8_t> data) {
    llvm::MD5 md5;
    md5.update(llvm::ArrayRef<uint8_t>(data.data(), data.size()));
    llvm::MD5::MD5Result result;
    md5.final(result);
    return result;
}

uint32_t esp8266EraseSize(uint32_t offset, uint32_t size) {
    const uint32_t sectors_per_block = 16;
    uint32_t num_sectors = (size + kSectorSize - 1) / kSectorSize;
    uint32_t start_sector = offset / kSectorSize;
    uint32_t head = std::min(sectors_per_block - (start_sector % sectors_per_block), num_sectors);
    if (num_sectors < 2 * head) return (num_sectors + 1) / 2 * kSectorSize;
    return (num_sectors - head) * kSectorSize;
}

std::vector<uint8_t> beginPayload(const chipdb::ChipDescription &chip, uint32_t size,
                                  uint32_t blocks, uint32_t block_size, uint32_t offset) {
    std::vector<uint8_t> data;
    for (uint32_t word : {size, blocks, block_size, offset}) put32(data, word);
    if (chip.rom.flash_begin_encrypt_word) put32(data, 0);
    return data;
}

uint32_t flashSizeFromId(uint32_t id) {
    uint32_t code = (id >> 16) & 0xFF;
    if ((id & 0xFF) == 0x1F) { // Adesto encodes the size elsewhere
        uint32_t adesto = (id >> 8) & 0x1F;
        return adesto >= 4 && adesto <= 9 ? (512u << 10) << (adesto - 4) : 0;
    }
    if (code >= 0x12 && code <= 0x1C) return 1u << code;
    if (code >= 0x20 && code <= 0x22) return (64u << 20) << (code - 0x20);
    if (code >= 0x32 && code <= 0x3A) return (256u << 10) << (code - 0x32);
    return 0;
}

llvm::Error checkAddressWidth(Device &device, uint64_t end, const std::string &what) {
    if (end <= kThreeByteLimit) return llvm::Error::success();
    const auto &chip = *device.chip();
    if (!chip.flash_4byte_addresses)
        return error(what + " ends at " + hex(uint32_t(end - 1)) + ", past 16 MB: the " +
                     std::string(chip.display_name) +
                     " cannot send 4-byte flash addresses (ESP-IDF: no "
                     "SOC_SPI_FLASH_4B_ADDR_SUPPORTED). Nothing was written.");
    if (!device.stub())
        return error(what + " ends at " + hex(uint32_t(end - 1)) +
                     ", past 16 MB, which the ROM loader cannot reach (its 3-byte addresses "
                     "wrap to the start of the flash); use the flasher stub (drop --no-stub). "
                     "Nothing was written.");
    return llvm::Error::success();
}

std::string sizeName(uint32_t bytes) {
    return bytes >= (1u << 20) ? std::to_string(bytes >> 20) + "MB"
                               : std::to_string(bytes >> 10) + "KB";
}

llvm::Expected<uint32_t> configureFlashSize(Device &device, const std::string &size_name) {
    llvm::outs() << "Configuring flash size...\n";
    uint32_t bytes = 0;
    if (size_name == "keep" || size_name == "detect") {
        auto id = device.flashId();
        if (!id) return id.takeError();
        bytes = flashSizeFromId(*id);
        if (!bytes) {
            llvm::outs() << "WARNING: Could not auto-detect Flash size, defaulting to 4MB\n";
            bytes = 4u << 20;
        } else if (size_name == "detect") {
            llvm::outs() << "Auto-detected flash size: " << sizeName(bytes) << "\n";
        }
    } else {
        auto named = chipdb::flashSizeBytes(size_name);
        if (!named) return error("Flash size '" + size_name + "' is not known");
        bytes = *named;
    }
    if (auto failure = device.setFlashSize(bytes)) return failure;
    return bytes;
}

llvm::Expected<uint32_t> sizeToEnd(Device &device, uint32_t address,
                                   std::optional<uint32_t> requested, uint32_t flash_size) {
    if (requested) return *requested;
    auto id = device.flashId();
    if (!id) return id.takeError();
    if (!flashSizeFromId(*id))
        return error("Detecting flash size failed. Set an exact size value.");
    llvm::outs() << "Detected flash size: " << sizeName(flash_size) << "\n";
    if (address >= flash_size)
        return error("Address " + hex(address) + " is past the end of the " + sizeName(flash_size) +
                     " flash.");
    return flash_size - address;
}

formats::FlashParams resolvedParams(formats::FlashParams params, uint32_t flash_size) {
    if (params.size == "detect") params.size = sizeName(flash_size);
    return params;
}

} // namespace esptools::loader::support
