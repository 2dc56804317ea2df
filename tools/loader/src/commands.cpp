// Commands about the chip itself: its identity, revision, MAC, security facts, memory, RAM
// loading, and starting the flash app.
#include "command_support.h"

#include <chrono>
#include <thread>

namespace esptools::loader {

using namespace support;

llvm::Expected<uint32_t> chipRevision(Device &device) {
    const auto &revision = device.chip()->revision;
    auto join = [&](std::span<const chipdb::RegisterField> fields) -> llvm::Expected<uint32_t> {
        uint32_t value = 0;
        for (const auto &field : fields) {
            if (!field.present()) continue;
            auto word = device.readRegister(field.address);
            if (!word) return word.takeError();
            value = value << field.width | field.extract(*word);
        }
        return value;
    };
    auto major = join(revision.major);
    if (!major) return major.takeError();
    auto minor = join(revision.minor);
    if (!minor) return minor.takeError();
    if (revision.block_version_major.present() && (*minor & 0x7) == 0) {
        auto block_major = join({&revision.block_version_major, 1});
        if (!block_major) return block_major.takeError();
        auto block_minor = join({&revision.block_version_minor, 1});
        if (!block_minor) return block_minor.takeError();
        if (*block_major * 100 + *block_minor == revision.v0_block_version) return 0;
    }
    uint32_t major_value = *major;
    if (revision.major_is_esp32_code)
        major_value = *major == 1 ? 1 : *major == 3 ? 2 : *major == 7 ? 3 : 0;
    return major_value * 100 + *minor;
}

llvm::Expected<MacAddress> readMacAddress(Device &device) {
    const auto &chip = *device.chip();
    MacAddress address;
    auto &mac = address.base;
    auto &extension = address.extension;
    if (chip.mac_layout == chipdb::MacLayout::Esp8266Otp) {
        auto mac0 = device.readRegister(0x3FF00050), mac1 = device.readRegister(0x3FF00054),
             mac3 = device.readRegister(0x3FF0005C);
        if (!mac0) return mac0.takeError();
        if (!mac1) return mac1.takeError();
        if (!mac3) return mac3.takeError();
        if (*mac3) {
            mac[0] = uint8_t(*mac3 >> 16), mac[1] = uint8_t(*mac3 >> 8), mac[2] = uint8_t(*mac3);
        } else if (((*mac1 >> 16) & 0xFF) == 0) {
            mac[0] = 0x18, mac[1] = 0xFE, mac[2] = 0x34;
        } else if (((*mac1 >> 16) & 0xFF) == 1) {
            mac[0] = 0xAC, mac[1] = 0xD0, mac[2] = 0x74;
        } else {
            return error("Unknown OUI");
        }
        mac[3] = uint8_t(*mac1 >> 8), mac[4] = uint8_t(*mac1), mac[5] = uint8_t(*mac0 >> 24);
    } else {
        auto lo = device.readRegister(chip.mac_efuse_reg),
             hi = device.readRegister(chip.mac_efuse_reg + 4);
        if (!lo) return lo.takeError();
        if (!hi) return hi.takeError();
        mac[0] = uint8_t(*hi >> 8), mac[1] = uint8_t(*hi);
        mac[2] = uint8_t(*lo >> 24), mac[3] = uint8_t(*lo >> 16), mac[4] = uint8_t(*lo >> 8),
        mac[5] = uint8_t(*lo);
        if (chip.mac_layout == chipdb::MacLayout::StandardEui64)
            extension = {uint8_t(*hi >> 24), uint8_t(*hi >> 16)};
    }
    return address;
}

std::string macText(std::span<const uint8_t> bytes) {
    std::string text;
    for (uint8_t byte : bytes) {
        if (!text.empty()) text += ':';
        text += llvm::utohexstr(byte, true, 2);
    }
    return text;
}

llvm::Expected<std::string> readMacText(Device &device) {
    auto address = readMacAddress(device);
    if (!address) return address.takeError();
    const auto &mac = address->base;
    const auto &extension = address->extension;
    if (!extension) return "MAC:                " + macText(mac);
    uint8_t eui64[8] = {mac[0], mac[1], mac[2], extension->first, extension->second,
                        mac[3], mac[4], mac[5]};
    uint8_t ext[2] = {extension->first, extension->second};
    return "MAC:                " + macText(eui64) + "\nBASE MAC:           " + macText(mac) +
           "\nMAC_EXT:            " + macText(ext);
}

llvm::Expected<Console> romConsole(Device &device) {
    const auto &chip = *device.chip();
    const auto otg_value = chipdb::romConsoleWord(chip, 0).usb_otg_value;
    // Espressif's CDC-ACM devices on a USB port (esptool v5.3's test): USB-Serial-JTAG's PID, or
    // the chip's image id for USB-OTG.
    if (auto usb = device.port().usbId()) {
        if (!usb->espressif()) return Console::Uart;
        if (usb->pid == UsbId::kUsbSerialJtagPid) return Console::UsbSerialJtag;
        if (otg_value && chip.image_chip_id && usb->pid == *chip.image_chip_id)
            return Console::UsbOtg;
        return Console::Uart;
    }
    // Behind a network bridge the host cannot see the device: ask the ROM which port it talks
    // on, as esptool did before v5.3.
    if (!chip.rom_console.word.address) return Console::Uart;
    uint32_t revision = 0;
    if (chip.rom_console.changes_at_revision) {
        auto read = chipRevision(device);
        if (!read) return read.takeError();
        revision = *read;
    }
    auto word = chipdb::romConsoleWord(chip, revision);
    auto value = device.readRegister(word.address & ~3u);
    if (!value) return value.takeError();
    const uint8_t console = uint8_t(*value >> (8 * (word.address & 3)));
    if (chip.usb_serial_jtag_base && console == word.usb_serial_jtag_value)
        return Console::UsbSerialJtag;
    if (word.usb_otg_value && console == word.usb_otg_value) return Console::UsbOtg;
    return Console::Uart;
}

llvm::Error printChipInfo(Device &device) {
    const auto &chip = *device.chip();
    std::string type(chip.display_name);
    if (chip.revision.major[0].present()) {
        auto revision = chipRevision(device);
        if (!revision) return revision.takeError();
        type += " (revision v" + std::to_string(*revision / 100) + "." +
                std::to_string(*revision % 100) + ")";
    }
    llvm::outs() << "Connected to " << chip.display_name << " on " << device.port().name() << ":\n";
    llvm::outs() << "Chip type:          " << type << "\n";
    if (device.console() == Console::UsbSerialJtag)
        llvm::outs() << "USB mode:           USB-Serial/JTAG\n";
    if (device.console() == Console::UsbOtg) llvm::outs() << "USB mode:           USB-OTG\n";
    auto mac = readMacText(device);
    if (!mac) return mac.takeError();
    llvm::outs() << *mac << "\n";
    return llvm::Error::success();
}

llvm::Error readMac(Device &device) {
    auto mac = readMacText(device);
    if (!mac) return mac.takeError();
    llvm::outs() << *mac << "\n";
    return llvm::Error::success();
}

llvm::Error chipId(Device &device) {
    if (device.chip()->mac_layout == chipdb::MacLayout::Esp8266Otp) {
        auto mac0 = device.readRegister(0x3FF00050), mac1 = device.readRegister(0x3FF00054);
        if (!mac0) return mac0.takeError();
        if (!mac1) return mac1.takeError();
        llvm::outs() << "Chip ID: " << hex((*mac0 >> 24) | (*mac1 & 0xFFFFFF) << 8) << "\n";
        return llvm::Error::success();
    }
    llvm::outs() << "WARNING: " << device.chip()->display_name
                 << " has no chip ID. Reading MAC address instead.\n";
    return readMac(device);
}

llvm::Error flashId(Device &device) {
    if (auto failure = device.attachFlash()) return failure;
    auto id = device.flashId();
    if (!id) return id.takeError();
    uint32_t size = flashSizeFromId(*id);
    char device_text[8];
    std::snprintf(device_text, sizeof device_text, "%02x%02x", (*id >> 8) & 0xFF,
                  (*id >> 16) & 0xFF);
    llvm::outs() << "Flash Memory Information:\n=========================\n"
                 << "Manufacturer: " << llvm::utohexstr(*id & 0xFF, true, 2)
                 << "\nDevice: " << device_text
                 << "\nDetected flash size: " << (size ? sizeName(size) : "Unknown") << "\n";
    return llvm::Error::success();
}

llvm::Error readFlashSfdp(Device &device, uint32_t address, uint32_t length) {
    if (length < 1 || length > 4) return error("Invalid number of bytes to read from SFDP (1-4).");
    if (auto failure = flashId(device)) return failure;
    constexpr uint8_t kReadSfdp = 0x5A; // JESD216: 24-bit address, 8 dummy clocks
    auto value = device.spiCommand(kReadSfdp, {}, length * 8, address, 24, 8);
    if (!value) return value.takeError();
    llvm::outs() << "Flash memory SFDP[" << address << ".." << address + length - 1 << "]: ";
    for (uint32_t i = 0; i < length; ++i)
        llvm::outs() << llvm::format("0x%02x ", (*value >> (8 * i)) & 0xFF);
    llvm::outs() << "\n";
    return llvm::Error::success();
}

llvm::Error securityInfo(Device &device) {
    auto info = device.securityInfo();
    if (!info) return info.takeError();
    const auto &bytes = *info;
    uint32_t flags = bytes.size() >= 4
                         ? uint32_t(bytes[0] | bytes[1] << 8 | bytes[2] << 16 | bytes[3] << 24)
                         : 0;
    llvm::outs() << "Security Information:\n=====================\n";
    std::string binary; // as Python's bin()
    for (uint32_t rest = flags; rest; rest >>= 1)
        binary.insert(binary.begin(), char('0' + (rest & 1)));
    llvm::outs() << "Flags: " << hex(flags) << " (0b" << (binary.empty() ? "0" : binary) << ")\n";
    const auto &chip = *device.chip();
    if (!chip.key_purposes.empty() && bytes.size() >= 12) {
        std::string numbers, names;
        for (int block = 0; block < 7; ++block) {
            const uint8_t purpose = bytes[5 + block];
            numbers += (block ? ", " : "") + std::to_string(purpose);
            if (block > chip.efuse_max_key) continue;
            auto known =
                std::find_if(chip.key_purposes.begin(), chip.key_purposes.end(),
                             [&](const chipdb::KeyPurpose &k) { return k.number == purpose; });
            names += std::string(block ? "\n  " : "") + "BLOCK_KEY" + std::to_string(block) +
                     " - " + (known != chip.key_purposes.end() ? known->name : "UNKNOWN");
        }
        llvm::outs() << "Key Purposes: [" << numbers << "]\n  " << names << "\n";
    }
    if (bytes.size() >= 20) {
        llvm::outs() << "Chip ID: "
                     << (bytes[12] | bytes[13] << 8 | bytes[14] << 16 | bytes[15] << 24) << "\n";
        llvm::outs() << "API Version: "
                     << (bytes[16] | bytes[17] << 8 | bytes[18] << 16 | bytes[19] << 24) << "\n";
    }
    llvm::outs() << "Secure Boot: " << ((flags & 1) ? "Enabled" : "Disabled") << "\n";
    int crypt_bits = bytes.size() > 4 ? __builtin_popcount(bytes[4]) : 0;
    llvm::outs() << "Flash Encryption: " << ((crypt_bits & 1) ? "Enabled" : "Disabled") << "\n";
    llvm::outs() << "SPI Boot Crypt Count (SPI_BOOT_CRYPT_CNT): "
                 << hex(bytes.size() > 4 ? bytes[4] : 0, 0) << "\n";
    return llvm::Error::success();
}

llvm::Error readMem(Device &device, uint32_t address) {
    auto value = device.readRegister(address);
    if (!value) return value.takeError();
    llvm::outs() << hex(address) << " = " << hex(*value) << "\n";
    return llvm::Error::success();
}

llvm::Error writeMem(Device &device, uint32_t address, uint32_t value, uint32_t mask) {
    if (auto failure = device.writeRegister(address, value, mask)) return failure;
    llvm::outs() << "Wrote " << hex(value) << " with mask " << hex(mask) << " to " << hex(address)
                 << ".\n";
    return llvm::Error::success();
}

llvm::Error dumpMem(Device &device, uint32_t address, uint32_t size, const std::string &output) {
    size &= ~3u;
    llvm::outs() << "Dumping " << size << " bytes from " << hex(address) << " to file '" << output
                 << "'...\n";
    std::vector<uint8_t> bytes;
    Progress progress("Dumping", address, size, true);
    for (uint32_t offset = 0; offset < size; offset += 4) {
        auto word = device.readRegister(address + offset);
        if (!word)
            return error("Dumping stopped at " + hex(address + offset) + ": " +
                         llvm::toString(word.takeError()));
        put32(bytes, *word);
        if (offset % 1024 == 0) progress.update(offset);
    }
    progress.update(size);
    if (auto failure = cli::writeFileAtomically(output, bytes)) return failure;
    llvm::outs() << "Dumped " << size << " bytes from " << hex(address) << " to '" << output
                 << "'.\n";
    return llvm::Error::success();
}

llvm::Error loadRam(Device &device, const std::string &file) {
    const auto &chip = *device.chip();
    auto bytes = cli::readFile(file);
    if (!bytes) return bytes.takeError();
    if (formats::looksLikeIntelHex(*bytes)) {
        auto regions = formats::parseIntelHex(*bytes, file);
        if (!regions) return regions.takeError();
        if (regions->size() != 1)
            return error("Merged binary image detected. Only one file can be specified for the "
                         "load-ram command.");
        *bytes = std::move((*regions)[0].data);
    }
    auto image = formats::parseImage(*bytes, chip, file);
    if (!image) return image.takeError();
    // Code built for another chip would run wild in this one's RAM.
    if (chip.image_format == chipdb::ImageFormat::Esp32 && chip.image_chip_id &&
        image->extended.chip_id != *chip.image_chip_id) {
        const auto *other = chipdb::findChipByImageId(image->extended.chip_id);
        return error("'" + file + "' is an image for " +
                     (other ? std::string(other->display_name)
                            : "chip id " + std::to_string(image->extended.chip_id)) +
                     ", not for the " + std::string(chip.display_name) + ": nothing was loaded");
    }
    std::string flash_mapped;
    for (const auto &segment : image->segments)
        if (chipdb::isFlashAddress(chip, segment.address))
            flash_mapped += "\n  segment at " + hex(segment.address) + " (" +
                            std::to_string(segment.data.size()) + " bytes)";
    if (!flash_mapped.empty())
        return error(
            "'" + file +
            "' has flash-mapped segments, which load-ram cannot place in RAM:" + flash_mapped);
    llvm::outs() << "Loading '" << file << "' to RAM...\n";
    for (const auto &segment : image->segments)
        if (auto failure = device.loadRam(segment.address, segment.data)) return failure;
    if (auto failure = device.startRam(image->header.entry)) return failure;
    llvm::outs() << "Loaded " << image->segments.size() << " segments from '" << file
                 << "' to RAM, executing at " << hex(image->header.entry)
                 << ".\nExiting immediately.\n";
    return llvm::Error::success();
}

llvm::Error run(Device &device) {
    // The ROM leaves download mode when FLASH_END asks it to run the user code.
    std::vector<uint8_t> begin = beginPayload(*device.chip(), 0, 0, device.flashBlockSize(), 0);
    auto started = device.command(kFlashBegin, begin, 0, device.timeouts().normal);
    if (!started) return started.takeError();
    std::vector<uint8_t> end;
    put32(end, 1);
    return device.sendOnly(kFlashEnd, end);
}

} // namespace esptools::loader
