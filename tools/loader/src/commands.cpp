#include "esptools/loader/commands.h"

#include "esptools/cli/cli.h"
#include "esptools/formats/ihex.h"
#include "esptools/formats/image.h"

#include <llvm/ADT/StringExtras.h>
#include <llvm/Support/Format.h>
#include <llvm/Support/MD5.h>
#include <llvm/Support/raw_ostream.h>

#include <libdeflate.h>

#include <chrono>
#include <thread>
#include <unistd.h>

namespace esptools::loader {
namespace {

using Clock = std::chrono::steady_clock;

enum : uint8_t {
    kFlashBegin = 0x02,
    kFlashData = 0x03,
    kFlashEnd = 0x04,
    kFlashDeflBegin = 0x10,
    kFlashDeflData = 0x11,
    kFlashDeflEnd = 0x12,
};

constexpr uint32_t kSectorSize = 0x1000;

llvm::Error error(const std::string &message) {
    return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

std::string hex(uint64_t value, int width = 8) {
    char text[24];
    std::snprintf(text, sizeof text, "0x%0*llx", width, static_cast<unsigned long long>(value));
    return text;
}

void put32(std::vector<uint8_t> &out, uint32_t value) {
    for (int i = 0; i < 4; ++i) out.push_back(uint8_t(value >> (8 * i)));
}

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

// Progress: a bar with percent, rate and ETA on a terminal, a line per 10% otherwise.
class Progress {
public:
    Progress(const char *verb, uint32_t address, uint64_t total, bool enabled)
        : verb_(verb), address_(address), total_(total), enabled_(enabled), tty_(isatty(1)),
          start_(Clock::now()) {}
    void update(uint64_t done) {
        if (!enabled_ || total_ == 0) return;
        int percent = int(done * 100 / total_);
        if (tty_) {
            double seconds = std::chrono::duration<double>(Clock::now() - start_).count();
            double rate = seconds > 0 ? double(done) * 8 / 1000 / seconds : 0;
            double eta = rate > 0 ? double(total_ - done) * 8 / 1000 / rate : 0;
            std::string bar(size_t(percent / 4), '=');
            bar.resize(25, ' ');
            char line[160];
            std::snprintf(line, sizeof line, "\r%s at %s [%s] %3d%% %.1f kbit/s ETA %.0fs ", verb_,
                          hex(address_ + done).c_str(), bar.c_str(), percent, rate, eta);
            llvm::outs() << line;
            if (done >= total_) llvm::outs() << "\n";
            llvm::outs().flush();
        } else if (percent >= next_percent_) {
            llvm::outs() << verb_ << " at " << hex(address_ + done) << " (" << percent << " %)\n";
            next_percent_ = percent / 10 * 10 + 10;
        }
    }
    double seconds() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }

private:
    const char *verb_;
    uint32_t address_;
    uint64_t total_;
    bool enabled_, tty_;
    Clock::time_point start_;
    int next_percent_ = 0;
};

// The ESP8266 ROM erases more than FLASH_BEGIN asks for; esptool asks for less to compensate.
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

constexpr uint64_t kThreeByteLimit = 1u << 24; // what 24 flash address bits reach

// Flash past 16 MB takes 32-bit addresses: the stubs send them where the chip's controller can,
// while the ROMs' flash routines send 24 bits, which would wrap to the start of the flash (over
// the bootloader) and read back through the same wrap, so nothing would notice.
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

// A size given as ALL: from the address to the end of the flash the chip reports (esptool's
// parse_size_arg).
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

// An image is written only to the chip and revisions it was built for, as esptool checks them:
// data that does not parse as an image of this chip's format is not an image and is written as
// it is.
llvm::Error checkImageSuitsChip(Device &device, const FlashFile &file) {
    const auto &chip = *device.chip();
    if (chip.image_format != chipdb::ImageFormat::Esp32 || file.data.empty() ||
        file.data[0] != formats::kImageMagic)
        return llvm::Error::success();
    auto image = formats::parseImage(file.data, chip, file.name);
    if (!image) {
        llvm::consumeError(image.takeError());
        return llvm::Error::success();
    }
    const std::string display(chip.display_name);
    if (chip.image_chip_id && image->extended.chip_id != *chip.image_chip_id) {
        for (const auto &warning : image->warnings) llvm::outs() << "WARNING: " << warning << "\n";
        return error("'" + file.name + "' is not an " + display +
                     " image. Use the force argument to flash anyway.");
    }
    const auto &header = image->extended;
    bool full_fields = header.max_rev_full != 0;
    if (header.max_rev_full == 0xFFFF && header.min_rev_full == 0 && header.min_rev != 0)
        full_fields = false; // only the legacy field is set
    auto revision = chipRevision(device);
    if (!revision) return revision.takeError();
    auto version = [](uint32_t rev) {
        return "v" + std::to_string(rev / 100) + "." + std::to_string(rev % 100);
    };
    if (full_fields) {
        if (*revision < header.min_rev_full || *revision > header.max_rev_full)
            return error("'" + file.name + "' requires chip revision in range [" +
                         version(header.min_rev_full) + " - " +
                         (header.max_rev_full == 0xFFFF ? std::string("max rev not set")
                                                        : version(header.max_rev_full)) +
                         "] (this chip is revision " + version(*revision) +
                         "). Use the force argument to flash anyway.");
        return llvm::Error::success();
    }
    // ESP-IDF sets the legacy field to the ESP32-C3's minor revision, and to other chips' major.
    const uint32_t legacy =
        chip.name == std::string_view("esp32c3") ? *revision % 100 : *revision / 100;
    if (legacy < header.min_rev)
        return error("'" + file.name + "' requires chip revision " +
                     std::to_string(header.min_rev) + " or higher (this chip is revision " +
                     std::to_string(legacy) + "). Use the force argument to flash anyway.");
    return llvm::Error::success();
}

// The sectors where the new data differs from the old, merged into runs: each run's data is the
// new bytes over 0xFF (bytes of the sector outside the new data are erased, as a full write
// erases them). Past either file's end a byte counts as erased (esptool's _diff_flash_regions).
std::vector<std::pair<uint32_t, std::vector<uint8_t>>>
changedSectors(const std::vector<uint8_t> &old_data, const std::vector<uint8_t> &new_data,
               uint32_t address) {
    std::vector<std::pair<uint32_t, std::vector<uint8_t>>> runs;
    if (new_data.empty()) return runs;
    const uint64_t end = uint64_t(address) + new_data.size();
    const uint64_t compared_end =
        uint64_t(address) + (new_data.size() + kSectorSize - 1) / kSectorSize * kSectorSize;
    auto byteAt = [&](const std::vector<uint8_t> &data, uint64_t at) -> uint8_t {
        return at >= address && at - address < data.size() ? data[at - address] : 0xFF;
    };
    const uint64_t first = address & ~uint64_t(kSectorSize - 1);
    for (uint64_t sector = first; sector < end; sector += kSectorSize) {
        bool differs = false;
        const uint64_t stop = std::min<uint64_t>(sector + kSectorSize, compared_end);
        for (uint64_t at = std::max<uint64_t>(sector, address); at < stop && !differs; ++at)
            differs = byteAt(old_data, at) != byteAt(new_data, at);
        if (!differs) continue;
        if (runs.empty() || runs.back().first + runs.back().second.size() != sector)
            runs.push_back({uint32_t(sector), {}});
        for (uint64_t at = sector; at < sector + kSectorSize; ++at)
            runs.back().second.push_back(byteAt(new_data, at));
    }
    return runs;
}

} // namespace

llvm::Expected<std::vector<FlashFile>> readFlashFiles(const std::vector<std::string> &words) {
    if (words.empty() || words.size() % 2)
        return error("Must be pairs of an address and the binary filename to write there.");
    std::vector<FlashFile> files;
    for (size_t i = 0; i < words.size(); i += 2) {
        auto address = cli::parseInteger(words[i]);
        if (!address) {
            llvm::consumeError(address.takeError());
            return error("Address \"" + words[i] + "\" must be a number.");
        }
        if (*address > UINT32_MAX)
            return error("Address \"" + words[i] + "\" is past the 4 GB a flash address can hold.");
        auto bytes = cli::readFile(words[i + 1]);
        if (!bytes) return bytes.takeError();
        if (formats::looksLikeIntelHex(*bytes)) {
            auto regions = formats::parseIntelHex(*bytes, words[i + 1]);
            if (regions) {
                for (auto &region : *regions)
                    files.push_back(
                        FlashFile{region.address, std::move(region.data), words[i + 1]});
                continue;
            }
            llvm::consumeError(regions.takeError());
        }
        files.push_back(
            FlashFile{static_cast<uint32_t>(*address), std::move(*bytes), words[i + 1]});
    }
    std::stable_sort(files.begin(), files.end(),
                     [](const FlashFile &a, const FlashFile &b) { return a.address < b.address; });
    uint64_t end = 0;
    for (size_t i = 0; i < files.size(); ++i) {
        uint64_t start = files[i].address & ~uint64_t(kSectorSize - 1);
        if (i > 0 && start < end)
            return error("Detected overlap at address: " + hex(files[i].address, 0) +
                         " for file: " + files[i].name + ".");
        end = (uint64_t(files[i].address) + files[i].data.size() + kSectorSize - 1) &
              ~uint64_t(kSectorSize - 1);
    }
    return files;
}

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

llvm::Expected<std::string> readMacText(Device &device) {
    const auto &chip = *device.chip();
    uint8_t mac[6];
    std::optional<std::pair<uint8_t, uint8_t>> extension;
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
    auto format = [](std::span<const uint8_t> bytes) {
        std::string text;
        for (uint8_t byte : bytes) {
            if (!text.empty()) text += ':';
            text += llvm::utohexstr(byte, true, 2);
        }
        return text;
    };
    if (!extension) return "MAC:                " + format(mac);
    uint8_t eui64[8] = {mac[0], mac[1], mac[2], extension->first, extension->second,
                        mac[3], mac[4], mac[5]};
    uint8_t ext[2] = {extension->first, extension->second};
    return "MAC:                " + format(eui64) + "\nBASE MAC:           " + format(mac) +
           "\nMAC_EXT:            " + format(ext);
}

llvm::Expected<Console> romConsole(Device &device) {
    const auto &chip = *device.chip();
    const auto otg_value = chipdb::romConsoleWord(chip, 0).usb_otg_value;
    // Espressif's CDC-ACM devices on a USB port (esptool v5.3's test): USB-Serial-JTAG's PID, or
    // the chip's image id for USB-OTG.
    constexpr uint16_t kEspressifVid = 0x303A, kUsbSerialJtagPid = 0x1001;
    if (auto usb = device.port().usbId()) {
        if (usb->vid != kEspressifVid) return Console::Uart;
        if (usb->pid == kUsbSerialJtagPid) return Console::UsbSerialJtag;
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

namespace {

// libdeflate's strongest level: zlib format as the ROMs and stubs inflate it, a few percent
// smaller than zlib's level 9 (esptool's), and the link is the bottleneck. Where that saves under
// 1% (data already compressed or encrypted), stored blocks instead: the same size on the wire, and
// the chip's inflater only copies them.
llvm::Expected<std::vector<uint8_t>> deflateImage(const FlashFile &file) {
    std::vector<uint8_t> payload;
    auto deflate = [&](int level) -> size_t {
        std::unique_ptr<libdeflate_compressor, void (*)(libdeflate_compressor *)> compressor(
            libdeflate_alloc_compressor(level), libdeflate_free_compressor);
        if (!compressor) return 0;
        payload.resize(libdeflate_zlib_compress_bound(compressor.get(), file.data.size()));
        return libdeflate_zlib_compress(compressor.get(), file.data.data(), file.data.size(),
                                        payload.data(), payload.size());
    };
    size_t compressed_size = deflate(12);
    if (compressed_size > file.data.size() / 100 * 99) compressed_size = deflate(0);
    if (compressed_size == 0) return error("could not compress '" + file.name + "'");
    payload.resize(compressed_size);
    return payload;
}

// "detect" stands for the size the flash reported.
formats::FlashParams resolvedParams(formats::FlashParams params, uint32_t flash_size) {
    if (params.size == "detect") params.size = sizeName(flash_size);
    return params;
}

// The sizes of the data blocks to send `total` bytes in: whole blocks and a shorter last one.
// Tapered (through a stub, compressed): the odd remainder first, then whole blocks, then halving
// ones down to 1 KiB, as the stub answers a block before writing it and the host waits only for
// what is left to write after the last answer.
std::vector<uint32_t> blockSizes(size_t total, uint32_t block_size, bool taper) {
    std::vector<uint32_t> sizes(total / block_size, block_size);
    if (!taper) {
        if (total % block_size) sizes.push_back(uint32_t(total % block_size));
        return sizes;
    }
    std::vector<uint32_t> tail;
    size_t rest = total;
    for (uint32_t size = 1024; size < block_size && rest > size; size *= 2) {
        tail.push_back(size);
        rest -= size;
    }
    sizes.assign(rest / block_size, block_size);
    if (rest % block_size) sizes.insert(sizes.begin(), uint32_t(rest % block_size));
    sizes.insert(sizes.end(), tail.rbegin(), tail.rend());
    return sizes;
}

} // namespace

llvm::Expected<std::vector<PreparedFlashFile>>
prepareFlashFiles(const chipdb::ChipDescription &chip, std::vector<FlashFile> files,
                  const formats::FlashParams &params, bool compress) {
    std::vector<PreparedFlashFile> prepared;
    for (auto &file : files) {
        PreparedFlashFile entry;
        entry.length = uint32_t(file.data.size());
        if (!file.data.empty()) {
            auto patched = formats::patchFlashParams(file.data, file.address, chip, params);
            if (!patched) return patched.takeError();
            entry.notes = std::move(patched->notes);
            entry.warnings = std::move(patched->warnings);
            // Whole words: the ROM writes 4 bytes at a time, so pad with erased bytes.
            file.data.resize((file.data.size() + 3) & ~size_t(3), 0xFF);
            if (compress) {
                auto deflated = deflateImage(file);
                if (!deflated) return deflated.takeError();
                entry.compressed = std::move(*deflated);
            }
        }
        entry.file = std::move(file);
        prepared.push_back(std::move(entry));
    }
    return prepared;
}

llvm::Error writeFlash(Device &device, const FlashFilePreparer &prepare,
                       const WriteFlashOptions &options) {
    const auto &chip = *device.chip();
    const bool stub = device.stub() != nullptr;
    const bool compress = options.compress && (stub || chip.rom.compressed_flash);
    if (options.compress && !compress)
        llvm::outs() << "NOTE: " << chip.display_name
                     << " ROM cannot inflate: writing uncompressed.\n";
    if (auto failure = device.attachFlash()) return failure;
    auto flash_size =
        configureFlashSize(device, options.params.size == "keep" ? "keep" : options.params.size);
    if (!flash_size) return flash_size.takeError();
    auto files = prepare(resolvedParams(options.params, *flash_size));
    if (!files) return files.takeError();
    // Every file is checked before anything is written.
    for (const auto &prepared : *files) {
        const FlashFile &file = prepared.file;
        if (prepared.length == 0) continue;
        if (!options.force)
            if (auto failure = checkImageSuitsChip(device, file)) return failure;
        if (uint64_t(file.address) + prepared.length > *flash_size)
            return error("File '" + file.name + "' (length " + std::to_string(prepared.length) +
                         ") at offset " + hex(file.address) + " will not fit in " +
                         std::to_string(*flash_size) +
                         " bytes of flash. Change the flash_size argument or flashing address.");
        if (auto failure = checkAddressWidth(device, uint64_t(file.address) + prepared.length,
                                             "File '" + file.name + "'"))
            return failure;
    }
    if (options.erase_all)
        if (auto failure = eraseFlash(device)) return failure;
    // Where esptool turns fast reflashing off, and says why.
    std::string why_not;
    if (options.erase_all)
        why_not = "enabled erase-all";
    else if (!stub && !chip.rom.spi_flash_md5)
        why_not = std::string(chip.display_name) + " in ROM bootloader";
    const bool fast_reflash = !options.diff_with.empty() && why_not.empty();
    const bool skip_flashed = options.skip_flashed && why_not.empty();
    if (!why_not.empty() && !options.diff_with.empty())
        llvm::outs() << "Note: Fast reflashing of changed data sectors is not supported with "
                     << why_not << ". Will flash all data.\n";
    if (!why_not.empty() && options.skip_flashed)
        llvm::outs() << "Note: Skipping flashing of already flashed content is not supported "
                        "with "
                     << why_not << ". Will flash all data.\n";
    const uint32_t block_size = device.flashBlockSize();
    // Our own stub numbers its answers to data blocks (a late answer is then told apart).
    const bool numbered = stub && device.stub()->numbers_data_answers;
    // Writes one blob (a file, or the changed sectors of one) and says so as esptool does.
    auto writeBlob = [&](uint32_t address, const std::vector<uint8_t> &image,
                         const std::string &name, const std::string &source,
                         std::vector<uint8_t> compressed) -> llvm::Error {
        const uint32_t size = uint32_t(image.size());
        if (uint32_t before = address % kSectorSize; before && !options.erase_all)
            llvm::outs() << "Note: Flash address " << hex(address)
                         << " is not aligned to a 0x1000 byte flash sector. " << hex(before, 0)
                         << " bytes before this address will be erased.\n";
        llvm::outs()
            << "Flash will be erased from " << hex(address & ~(kSectorSize - 1)) << " to "
            << hex(((uint64_t(address) + size + kSectorSize - 1) & ~uint64_t(kSectorSize - 1)) - 1)
            << "...\n";

        std::vector<uint8_t> payload;
        bool deflate = compress;
        if (deflate) {
            if (compressed.empty()) {
                auto deflated = deflateImage(FlashFile{address, image, name});
                if (!deflated) return deflated.takeError();
                compressed = std::move(*deflated);
            }
            // Data that does not shrink goes as it is, as esptool v5.3 sends it.
            if (compressed.size() >= image.size()) {
                llvm::outs() << "Note: Cannot compress " << source
                             << " more than the original size, will flash uncompressed. "
                                "Compressed size "
                             << compressed.size() << " bytes >= uncompressed " << image.size()
                             << " bytes.\n";
                deflate = false;
            } else {
                payload = std::move(compressed);
                llvm::outs() << "Compressed " << image.size() << " bytes to " << payload.size()
                             << "...\n";
            }
        }
        if (!deflate) payload = image;
        const std::vector<uint32_t> block_sizes =
            blockSizes(payload.size(), block_size, stub && deflate);
        const uint32_t blocks = uint32_t(block_sizes.size());
        // A ROM erases up front what FLASH_BEGIN announces (ESP8266: its own miscounted
        // amount); a stub takes the exact size and erases as the data arrives.
        uint32_t erase_size = size;
        if (!stub && deflate) erase_size = (size + block_size - 1) / block_size * block_size;
        if (!stub && chip.rom.erase_size_bug) erase_size = esp8266EraseSize(address, erase_size);
        auto begin_timeout =
            stub ? device.timeouts().normal
                 : device.timeouts().scaled(device.timeouts().erase_per_mb_ms, erase_size);
        auto begin = device.command(deflate ? kFlashDeflBegin : kFlashBegin,
                                    beginPayload(chip, erase_size, blocks, block_size, address), 0,
                                    begin_timeout);
        if (!begin)
            return error("Writing '" + name +
                         "' failed before any data: " + llvm::toString(begin.takeError()));

        Progress progress("Writing", address, payload.size(), options.progress);
        size_t sent = 0;
        for (uint32_t block = 0; block < blocks; ++block) {
            std::vector<uint8_t> chunk(payload.begin() + sent,
                                       payload.begin() + sent + block_sizes[block]);
            if (!deflate) chunk.resize(block_size, 0xFF); // whole blocks; a stub drops the padding
            std::vector<uint8_t> data;
            put32(data, uint32_t(chunk.size()));
            put32(data, block);
            put32(data, 0);
            put32(data, 0);
            data.insert(data.end(), chunk.begin(), chunk.end());
            auto timeout = deflate ? device.timeouts().scaled(device.timeouts().erase_per_mb_ms,
                                                              block_size * 4)
                                   : device.timeouts().normal;
            auto written =
                device.command(deflate ? kFlashDeflData : kFlashData, data, dataChecksum(chunk),
                               timeout, 0, 3, numbered ? std::optional(block) : std::nullopt);
            if (!written)
                return error("Writing '" + name + "' stopped at " + hex(address + sent) +
                             " (block " + std::to_string(block + 1) + " of " +
                             std::to_string(blocks) + "): " + llvm::toString(written.takeError()));
            sent += block_sizes[block];
            progress.update(sent);
        }
        if (stub) {
            // A stub answers each block before writing it; its report on the last one comes here.
            std::vector<uint8_t> stay = {1, 0, 0, 0};
            const auto end_timeout =
                device.timeouts().scaled(device.timeouts().erase_per_mb_ms, block_size * 4);
            constexpr uint8_t kNotInFlashMode = 0xC6;
            llvm::Error ended = llvm::Error::success();
            for (int attempt = 0; attempt < 3; ++attempt) {
                llvm::consumeError(std::move(ended));
                auto reply =
                    device.command(deflate ? kFlashDeflEnd : kFlashEnd, stay, 0, end_timeout, 0, 1);
                ended = reply ? llvm::Error::success() : reply.takeError();
                if (!ended) break;
                // "Not in flash mode" to a resent end: the first one ended the session and its
                // answer was lost. Whether the write is whole is the MD5 check's to say.
                if (attempt > 0 && device.lastFailureStatus() == kNotInFlashMode) {
                    llvm::consumeError(std::move(ended));
                    ended = llvm::Error::success();
                    break;
                }
                if (device.lastFailureStatus()) break; // the stub's verdict on the write
            }
            if (ended)
                return error("Writing '" + name +
                             "' failed at the end: " + llvm::toString(std::move(ended)));
        }
        double seconds = progress.seconds();
        char summary[200];
        if (deflate)
            std::snprintf(summary, sizeof summary,
                          "Wrote %u bytes (%zu compressed) at %s in %.1f seconds (%.1f kbit/s).",
                          size, payload.size(), hex(address).c_str(), seconds,
                          seconds > 0 ? size * 8 / 1000.0 / seconds : 0.0);
        else
            std::snprintf(summary, sizeof summary,
                          "Wrote %u bytes at %s in %.1f seconds (%.1f kbit/s).", size,
                          hex(address).c_str(), seconds,
                          seconds > 0 ? size * 8 / 1000.0 / seconds : 0.0);
        llvm::outs() << summary << "\n";
        return llvm::Error::success();
    };
    const auto params = resolvedParams(options.params, *flash_size);
    size_t index = 0;
    for (auto &prepared : *files) {
        const size_t file_index = index++;
        const FlashFile &file = prepared.file;
        if (prepared.length == 0) {
            llvm::outs() << "WARNING: '" << file.name << "' is empty.\n";
            continue;
        }
        for (const auto &warning : prepared.warnings)
            llvm::outs() << "WARNING: " << warning << "\n";
        for (const auto &note : prepared.notes) llvm::outs() << note << "\n";
        const std::vector<uint8_t> &image = file.data;
        const uint32_t size = uint32_t(image.size());
        const bool verifiable = stub || chip.rom.spi_flash_md5;
        const auto image_md5 = md5Of(image);
        const std::string quoted = "'" + file.name + "'";
        if (skip_flashed && verifiable) {
            llvm::outs() << "Comparing flash contents against new data...\n";
            auto flash_md5 = device.flashMd5Checked(file.address, size, image_md5);
            if (!flash_md5) return flash_md5.takeError();
            if (*flash_md5 == image_md5) {
                llvm::outs() << quoted << " at " << hex(file.address)
                             << " already in flash, skipping write.\n";
                continue;
            }
        }
        // With the file the user says is in flash, only the sectors that differ from it are
        // written; the MD5 check afterwards decides whether that assumption held.
        std::vector<std::pair<uint32_t, std::vector<uint8_t>>> changed;
        bool reflashing = false;
        if (fast_reflash && file_index < options.diff_with.size() &&
            options.diff_with[file_index]) {
            std::vector<uint8_t> old = *options.diff_with[file_index];
            old.resize((old.size() + 3) / 4 * 4, 0xFF);
            if (auto patched = formats::patchFlashParams(old, file.address, chip, params); !patched)
                llvm::consumeError(patched.takeError());
            changed = changedSectors(old, image, file.address);
            if (!changed.empty()) {
                llvm::outs() << "Changed data sectors found, fast reflashing...\n";
                reflashing = true;
            } else if (options.trust_flash_content) {
                llvm::outs() << "No changed sectors found and trust flash content mode is "
                                "enabled, skipping write and verification.\n";
                continue;
            } else if (verifiable) {
                llvm::outs() << "No changed sectors found, verifying if data is in flash...\n";
                auto flash_md5 = device.flashMd5Checked(file.address, size, image_md5);
                if (!flash_md5) return flash_md5.takeError();
                if (*flash_md5 == image_md5) {
                    llvm::outs() << quoted << " at " << hex(file.address) << " verified.\n";
                    continue;
                }
                llvm::outs() << "Note: Data not found in flash, flashing the whole image...\n";
            }
        }
        if (reflashing) {
            for (auto &[address, data] : changed) {
                const size_t sectors = data.size() / kSectorSize;
                llvm::outs() << "Reflashing " << sectors << " changed sector"
                             << (sectors > 1 ? "s" : "") << " at " << hex(address) << "...\n";
                if (auto failure = writeBlob(address, data, file.name, "changed data", {}))
                    return failure;
            }
        } else if (auto failure = writeBlob(file.address, image, file.name, "file " + quoted,
                                            std::move(prepared.compressed))) {
            return failure;
        }

        if (!verifiable) {
            llvm::outs() << "NOTE: " << chip.display_name
                         << " ROM cannot compute MD5: the written data was not verified.\n";
            continue;
        }
        llvm::outs() << "Verifying written data...\n";
        const auto &expected = image_md5;
        auto flash_md5 = device.flashMd5Checked(file.address, size, expected);
        if (!flash_md5) return flash_md5.takeError();
        if (*flash_md5 != expected && reflashing) {
            llvm::outs() << "Note: Verification failed after fast reflash (flash content did not "
                            "match the expected data). Reflashing the whole image...\n";
            if (auto failure = writeBlob(file.address, image, file.name, "file " + quoted, {}))
                return failure;
            llvm::outs() << "Verifying written data...\n";
            flash_md5 = device.flashMd5Checked(file.address, size, expected);
            if (!flash_md5) return flash_md5.takeError();
        }
        if (*flash_md5 != expected) {
            llvm::outs() << "Input MD5: " << llvm::toHex(expected, true)
                         << "\nFlash MD5: " << llvm::toHex(*flash_md5, true) << "\n";
            return error("MD5 of file does not match data in flash!");
        }
        llvm::outs() << "Hash of data verified.\n";
    }
    return llvm::Error::success();
}

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

llvm::Error readFlashStatus(Device &device, unsigned bytes) {
    if (auto failure = device.attachFlash()) return failure;
    static constexpr uint8_t kRead[] = {0x05, 0x35, 0x15};
    uint32_t status = 0;
    for (unsigned i = 0; i < bytes; ++i) {
        auto value = device.spiCommand(kRead[i], {}, 8);
        if (!value) return value.takeError();
        status |= (*value & 0xFF) << (8 * i);
    }
    char text[48];
    std::snprintf(text, sizeof text, "Flash memory status: 0x%04x", status);
    llvm::outs() << text << "\n";
    return llvm::Error::success();
}

llvm::Error writeFlashStatus(Device &device, unsigned bytes, uint32_t value, bool non_volatile) {
    if (auto failure = device.attachFlash()) return failure;
    auto read = [&]() -> llvm::Expected<uint32_t> {
        static constexpr uint8_t kRead[] = {0x05, 0x35, 0x15};
        uint32_t status = 0;
        for (unsigned i = 0; i < bytes; ++i) {
            auto byte = device.spiCommand(kRead[i], {}, 8);
            if (!byte) return byte.takeError();
            status |= (*byte & 0xFF) << (8 * i);
        }
        return status;
    };
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
