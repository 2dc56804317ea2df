// The other flash commands: read, verify, erase, and the status register.
#include "command_support.h"

#include <chrono>
#include <thread>

namespace esptools::loader {

using namespace support;

llvm::Error readFlash(Device &device, uint32_t address, std::optional<uint32_t> requested_size,
                      const std::string &output, bool progress_enabled) {
    if (auto failure = device.attachFlash()) return failure;
    auto flash_size = configureFlashSize(device, "keep");
    if (!flash_size) return flash_size.takeError();
    auto size = sizeToEnd(device, address, requested_size, *flash_size);
    if (!size) return size.takeError();
    if (uint64_t(address) + *size > *flash_size)
        return error("Can't access flash regions larger than detected flash size (set size " +
                     hex(*size, 0) + " from address " + hex(address, 0) + " goes past " +
                     sizeName(*flash_size) + ").");
    if (auto failure = checkAddressWidth(device, uint64_t(address) + *size, "The region read"))
        return failure;
    Progress progress("Reading", address, *size, progress_enabled);
    auto data = device.readFlash(address, *size, [&](uint32_t done) { progress.update(done); });
    if (!data) return data.takeError();
    if (auto failure = cli::writeFileAtomically(output, *data)) return failure;
    char summary[200];
    double seconds = progress.seconds();
    std::snprintf(summary, sizeof summary,
                  "Read %u bytes from %s in %.1f seconds (%.1f kbit/s) to '%s'.", *size,
                  hex(address).c_str(), seconds, seconds > 0 ? *size * 8 / 1000.0 / seconds : 0.0,
                  output.c_str());
    llvm::outs() << summary << "\n";
    return llvm::Error::success();
}

llvm::Error verifyFlash(Device &device, std::vector<FlashFile> files,
                        const formats::FlashParams &params, bool diff) {
    const auto &chip = *device.chip();
    // Our stubs and every ROM but the ESP8266's hash flash; there, what is read back is compared.
    const bool has_md5 = device.stub() || chip.rom.spi_flash_md5;
    if (auto failure = device.attachFlash()) return failure;
    auto flash_size = configureFlashSize(device, params.size == "keep" ? "keep" : params.size);
    if (!flash_size) return flash_size.takeError();
    for (const auto &file : files)
        if (auto failure = checkAddressWidth(device, uint64_t(file.address) + file.data.size(),
                                             "File '" + file.name + "'"))
            return failure;
    bool all_match = true;
    for (auto &file : files) {
        auto patched = formats::patchFlashParams(file.data, file.address, chip,
                                                 resolvedParams(params, *flash_size));
        if (!patched) return patched.takeError();
        uint32_t size = uint32_t(file.data.size());
        llvm::outs() << "Verifying " << hex(size, 0) << " (" << size << ") bytes at "
                     << hex(file.address) << " in flash against '" << file.name << "'...\n";
        bool match = false;
        if (has_md5) {
            auto expected = md5Of(file.data);
            auto flash_md5 = device.flashMd5Checked(file.address, size, expected);
            if (!flash_md5) return flash_md5.takeError();
            match = *flash_md5 == expected;
        }
        if (match) {
            llvm::outs() << "Verification successful (digest matched).\n";
            continue;
        }
        all_match = false;
        if (has_md5) llvm::outs() << "Verification failed (digest mismatch).\n";
        if (!diff && has_md5) continue;
        auto flash = device.readFlash(file.address, size, nullptr);
        if (!flash) return flash.takeError();
        std::vector<uint32_t> differences;
        for (uint32_t i = 0; i < size; ++i)
            if ((*flash)[i] != file.data[i]) differences.push_back(i);
        if (differences.empty()) {
            all_match = has_md5 ? all_match : true;
            if (!has_md5) llvm::outs() << "Verification successful (contents matched).\n";
            continue;
        }
        llvm::outs() << "Verification failed: " << differences.size() << " differences, first at "
                     << hex(file.address + differences[0]) << ":\n";
        if (diff)
            for (uint32_t offset : differences) {
                char line[64];
                std::snprintf(line, sizeof line, "   %s %02x %02x",
                              hex(file.address + offset).c_str(), (*flash)[offset],
                              file.data[offset]);
                llvm::outs() << line << "\n";
            }
    }
    if (!all_match) return error("Verification failed.");
    return llvm::Error::success();
}

namespace {

// The ROMs have no chip erase: the SPI controller's user commands do it, as the flash's datasheet
// asks (WREN 06h, then CE C7h, then RDSR 05h until WIP clears).
llvm::Error eraseFlashThroughSpiRegisters(Device &device) {
    constexpr uint8_t kWriteEnable = 0x06, kChipErase = 0xC7, kReadStatus = 0x05;
    constexpr uint32_t kBusy = 0x01, kWriteEnabled = 0x02;
    if (auto failure = device.spiCommand(kWriteEnable); !failure) return failure.takeError();
    auto status = device.spiCommand(kReadStatus, {}, 8);
    if (!status) return status.takeError();
    if (!(*status & kWriteEnabled))
        return error("The flash did not enable writing (status " + hex(*status & 0xFF, 2) +
                     "): nothing was erased.");
    if (auto failure = device.spiCommand(kChipErase); !failure) return failure.takeError();
    const auto deadline = std::chrono::steady_clock::now() + device.timeouts().max;
    for (;;) {
        status = device.spiCommand(kReadStatus, {}, 8);
        if (!status) return status.takeError();
        if (!(*status & kBusy)) return llvm::Error::success();
        if (std::chrono::steady_clock::now() > deadline)
            return error("The flash was still erasing after " +
                         std::to_string(device.timeouts().max.count() / 1000) + " s.");
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
}

} // namespace

namespace {

// esptool's closing line of an erase, which scripts wait for.
llvm::Error reportErased(const char *what, std::chrono::steady_clock::time_point start) {
    std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    char text[96];
    std::snprintf(text, sizeof text, "%s erased successfully in %.1f seconds.", what, took.count());
    llvm::outs() << text << "\n";
    return llvm::Error::success();
}

} // namespace

llvm::Error eraseFlash(Device &device) {
    // The flash answers only once attached (a stub's erase would otherwise wait on a WIP bit that
    // reads as set).
    if (auto failure = device.attachFlash()) return failure;
    llvm::outs() << "Erasing flash memory (this may take a while)...\n";
    auto start = std::chrono::steady_clock::now();
    if (auto failure = device.stub() ? device.eraseFlash() : eraseFlashThroughSpiRegisters(device))
        return failure;
    return reportErased("Flash memory", start);
}

llvm::Error eraseRegion(Device &device, uint32_t address, std::optional<uint32_t> requested_size) {
    if (address % kSectorSize) return error("Offset to erase from must be a multiple of 4096.");
    if (requested_size && *requested_size % kSectorSize)
        return error("Size of data to erase must be a multiple of 4096.");
    if (auto failure = device.attachFlash()) return failure;
    auto flash_size = configureFlashSize(device, "keep");
    if (!flash_size) return flash_size.takeError();
    auto whole = sizeToEnd(device, address, requested_size, *flash_size);
    if (!whole) return whole.takeError();
    const uint32_t size = *whole;
    if (uint64_t(address) + size > *flash_size)
        return error("Can't access flash regions larger than detected flash size (set size " +
                     hex(size, 0) + " from address " + hex(address, 0) + " goes past " +
                     sizeName(*flash_size) + ").");
    if (auto failure = checkAddressWidth(device, uint64_t(address) + size, "The region erased"))
        return failure;
    llvm::outs() << "Erasing flash memory region (this may take a while depending on size)...\n";
    const auto start = std::chrono::steady_clock::now();
    auto erased = [&] { return reportErased("Flash memory region", start); };
    if (device.stub()) {
        if (auto failure = device.eraseRegion(address, size)) return failure;
        return erased();
    }
    const auto &chip = *device.chip();
    // The ROM erases the region FLASH_BEGIN announces; no data follows.
    uint32_t erase_size = chip.rom.erase_size_bug ? esp8266EraseSize(address, size) : size;
    auto begin = device.command(
        kFlashBegin, beginPayload(chip, erase_size, 0, device.flashBlockSize(), address), 0,
        device.timeouts().scaled(device.timeouts().erase_per_mb_ms, size));
    if (!begin) return begin.takeError();
    return erased();
}

namespace {

// Up to three status register bytes: RDSR 05h, RDSR2 35h, RDSR3 15h.
llvm::Expected<uint32_t> readStatusRegister(Device &device, unsigned bytes) {
    static constexpr uint8_t kRead[] = {0x05, 0x35, 0x15};
    uint32_t status = 0;
    for (unsigned i = 0; i < bytes; ++i) {
        auto byte = device.spiCommand(kRead[i], {}, 8);
        if (!byte) return byte.takeError();
        status |= (*byte & 0xFF) << (8 * i);
    }
    return status;
}

} // namespace

llvm::Error readFlashStatus(Device &device, unsigned bytes) {
    if (auto failure = device.attachFlash()) return failure;
    auto status = readStatusRegister(device, bytes);
    if (!status) return status.takeError();
    char text[48];
    std::snprintf(text, sizeof text, "Flash memory status: 0x%04x", *status);
    llvm::outs() << text << "\n";
    return llvm::Error::success();
}

llvm::Error writeFlashStatus(Device &device, unsigned bytes, uint32_t value, bool non_volatile) {
    if (auto failure = device.attachFlash()) return failure;
    auto read = [&] { return readStatusRegister(device, bytes); };
    auto format = [&](uint32_t status) {
        char text[16];
        std::snprintf(text, sizeof text, "0x%0*x", int(bytes * 2), status);
        return std::string(text);
    };
    value &= bytes == 3 ? 0xFFFFFF : bytes == 2 ? 0xFFFF : 0xFF;
    auto before = read();
    if (!before) return before.takeError();
    llvm::outs() << "Initial flash memory status: " << format(*before) << "\n";
    llvm::outs() << "Setting flash memory status: " << format(value) << "\n";
    // WREN (06h) makes the write non-volatile; WEVSR (50h) makes it volatile (lost at power-off).
    const uint8_t enable = non_volatile ? 0x06 : 0x50;
    auto step = [&](uint8_t command, std::span<const uint8_t> data) -> llvm::Error {
        auto result = device.spiCommand(command, data);
        return result ? llvm::Error::success() : result.takeError();
    };
    if (bytes == 2) {
        uint8_t both[2] = {uint8_t(value), uint8_t(value >> 8)};
        if (auto failure = step(enable, {})) return failure;
        if (auto failure = step(0x01, both)) return failure;
    }
    static constexpr uint8_t kWrite[] = {0x01, 0x31, 0x11};
    for (unsigned i = 0; i < bytes; ++i) {
        uint8_t byte[1] = {uint8_t(value >> (8 * i))};
        if (auto failure = step(enable, {})) return failure;
        if (auto failure = step(kWrite[i], byte)) return failure;
    }
    if (auto failure = step(0x04, {})) return failure;
    auto after = read();
    if (!after) return after.takeError();
    llvm::outs() << "After flash memory status:   " << format(*after) << "\n";
    return llvm::Error::success();
}

} // namespace esptools::loader
