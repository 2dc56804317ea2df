// The ROM download mode of an Espressif chip, as ../shared/reference/protocol.md describes it: SLIP
// frames in, replies out, a register file with eFuse words and the SPI user-command engine, flash
// and RAM downloads. Everything the chip does is decided here from the request bytes; nothing is
// shared with esp-loader but the chip database and SLIP framing.
#include "esptools/slip/slip.h"
#include "esptools/vchip/vchip.h"
#include "riscv_cpu.h"
#include "spi_flash.h"

#include <llvm/ADT/StringExtras.h>
#include <llvm/Support/MD5.h>
#include <llvm/Support/raw_ostream.h>

#include <zlib.h>

#include <algorithm>
#include <deque>
#include <functional>
#include <map>
#include <random>
#include <thread>
#include <utility>

namespace esptools::vchip {
namespace {

using chipdb::ChipDescription;
using Clock = std::chrono::steady_clock;

enum Opcode : uint8_t {
    kFlashBegin = 0x02,
    kFlashData = 0x03,
    kFlashEnd = 0x04,
    kMemBegin = 0x05,
    kMemEnd = 0x06,
    kMemData = 0x07,
    kSync = 0x08,
    kWriteReg = 0x09,
    kReadReg = 0x0A,
    kSpiSetParams = 0x0B,
    kSpiAttach = 0x0D,
    kReadFlashSlow = 0x0E,
    kChangeBaudrate = 0x0F,
    kFlashDeflBegin = 0x10,
    kFlashDeflData = 0x11,
    kFlashDeflEnd = 0x12,
    kSpiFlashMd5 = 0x13,
    kGetSecurityInfo = 0x14,
};

// ROM error codes (status 1, then this byte).
enum RomError : uint8_t {
    kInvalidParameter = 0x01,
    kInvalidMessage = 0x05,
    kFailedResult = 0x06,
    kChecksumError = 0x07,
    kFlashWriteError = 0x08,
    kDeflateError = 0x0B,
};

uint32_t le32(const uint8_t *p) {
    return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}

// Spreads value over fields, most significant field first (the reverse of how a reader joins them).
void storeFields(std::map<uint32_t, uint32_t> &words, std::span<const chipdb::RegisterField> fields,
                 uint32_t value) {
    for (auto it = fields.rbegin(); it != fields.rend(); ++it) {
        if (!it->present()) continue;
        uint32_t mask = (1u << it->width) - 1;
        uint32_t &word = words[it->address];
        word = (word & ~(mask << it->shift)) | ((value & mask) << it->shift);
        value >>= it->width;
    }
}

class Rom {
public:
    Rom(const Options &options, std::unique_ptr<SpiFlash> flash)
        : options_(options), chip_(*options.chip), flash_(std::move(flash)) {
        initialiseRegisters();
    }

    ~Rom() { inflateEnd(&inflater_); } // harmless when no inflate was started
    Rom(const Rom &) = delete;
    Rom &operator=(const Rom &) = delete;

    SpiFlash &flash() { return *flash_; }

    // Handles one request frame; appends reply frames (SLIP-encoded) to out.
    void handle(const std::vector<uint8_t> &frame, std::vector<uint8_t> &out) {
        if (frame.size() < 8 || frame[0] != 0x00) return; // not a request: the ROM ignores it
        // Over USB-OTG the ROM's receive buffer holds USB_RAM_BLOCK of data: a longer frame is
        // lost (esptool sends no more there).
        if (options_.console == Console::UsbOtg && frame.size() > 8 + 16 + chip_.usb_otg.max_block)
            return;
        const uint8_t op = frame[1];
        const uint16_t size = static_cast<uint16_t>(frame[2] | frame[3] << 8);
        const uint32_t checksum = le32(&frame[4]);
        std::span<const uint8_t> data(frame.data() + 8, frame.size() - 8);
        if (data.size() != size) return reply(out, op, 0, {}, kInvalidMessage);
        switch (op) {
        case kSync:
            if (data.size() != 36) return reply(out, op, 0, {}, kInvalidMessage);
            // The ROM answers one SYNC with several replies.
            for (int i = 0; i < 8; ++i) reply(out, op, 0x20120707, {});
            return;
        case kReadReg:
            if (data.size() != 4) return reply(out, op, 0, {}, kInvalidMessage);
            return reply(out, op, readRegister(le32(data.data())), {});
        case kWriteReg:
            if (data.empty() || data.size() % 16) return reply(out, op, 0, {}, kInvalidMessage);
            for (size_t i = 0; i < data.size(); i += 16) {
                uint32_t address = le32(&data[i]), value = le32(&data[i + 4]),
                         mask = le32(&data[i + 8]);
                writeRegister(address, (value & mask) | (readRegister(address) & ~mask));
            }
            // An erase or program started through the SPI registers runs on in the flash while
            // the ROM answers at once: the host sees WIP until it is done.
            if (auto busy = flash_->takeBusyTime(); options_.timing && busy.count() > 0)
                spi_busy_until_ = std::max(Clock::now(), spi_busy_until_) + busy;
            return reply(out, op, 0, {});
        case kMemBegin:
            return memBegin(out, data);
        case kMemData:
            return downloadData(out, op, data, checksum, /*to_flash=*/false);
        case kMemEnd:
            return memEnd(out, data);
        case kFlashBegin:
            return flashBegin(out, op, data, false);
        case kFlashData:
            return downloadData(out, op, data, checksum, /*to_flash=*/true);
        case kFlashEnd:
            return flashEnd(out, op, data);
        case kSpiAttach:
            if (!chip_.rom.spi_attach) break;
            if (data.size() != 8) return reply(out, op, 0, {}, kInvalidMessage);
            attachFlash();
            return reply(out, op, 0, {});
        case kSpiSetParams:
            if (!chip_.rom.spi_set_params) break;
            if (data.size() != 24) return reply(out, op, 0, {}, kInvalidMessage);
            return reply(out, op, 0, {});
        case kChangeBaudrate: {
            if (!chip_.rom.change_baudrate || data.size() != 8) break;
            const uint32_t asked = le32(data.data());
            if (asked == 0) return reply(out, op, 0, {}, kInvalidParameter);
            pending_baud_ = lineRate(asked);
            return reply(out, op, 0, {});
        }
        case kFlashDeflBegin:
            if (!chip_.rom.compressed_flash) break;
            return flashBegin(out, op, data, true);
        case kFlashDeflData:
            if (!chip_.rom.compressed_flash) break;
            return downloadData(out, op, data, checksum, /*to_flash=*/true);
        case kFlashDeflEnd:
            if (!chip_.rom.compressed_flash) break;
            return flashEnd(out, op, data);
        case kSpiFlashMd5:
            if (!chip_.rom.spi_flash_md5) break;
            return md5(out, data);
        case kReadFlashSlow:
            if (!chip_.rom.read_flash_slow) break;
            return readFlashSlow(out, data);
        case kGetSecurityInfo:
            if (!chip_.rom.security_info_bytes) break;
            return securityInfo(out);
        default:
            break;
        }
        unsupported(out, op);
    }

    bool takeBootRequest() { return std::exchange(boot_requested_, false); }

    // Until the ROM's flash attach runs (SPI_ATTACH, the ESP8266's FLASH_BEGIN, a boot from
    // flash), the SPI pins are not set up: the flash does not answer, so its id reads all ones.
    void attachFlash() { flash_attached_ = true; }
    void detachFlash() { flash_attached_ = false; }

    void startWatchdog(std::chrono::microseconds timeout) {
        registers_[chip_.watchdogs.rwdt_config0] |= 1u << 31;
        watchdog_fires_at_ = Clock::now() + timeout;
    }
    bool watchdogFired() {
        if (!watchdog_fires_at_ || Clock::now() < *watchdog_fires_at_) return false;
        watchdog_fires_at_.reset();
        registers_[chip_.watchdogs.rwdt_config0] = 0; // the reset restores its default
        return true;
    }
    std::optional<uint32_t> takeRunRequest() { return std::exchange(run_entry_, std::nullopt); }
    std::map<uint32_t, std::vector<uint8_t>> takeRam() { return std::exchange(ram_, {}); }

    std::optional<uint32_t> takePendingBaud() {
        auto baud = pending_baud_;
        pending_baud_.reset();
        return baud;
    }

    const std::map<uint32_t, std::vector<uint8_t>> &ram() const { return ram_; }

    // The register file, as READ_REG/WRITE_REG and code running on the chip reach it.
    uint32_t readRegister(uint32_t address) {
        auto found = registers_.find(address);
        return found == registers_.end() ? 0 : found->second;
    }

    // The 4 KB pages holding the registers this model knows (efuse words, UART, SPI, ...).
    std::vector<uint32_t> registerPages() const {
        std::vector<uint32_t> pages;
        for (const auto &entry : registers_)
            if (pages.empty() || pages.back() != (entry.first & ~0xFFFu))
                pages.push_back(entry.first & ~0xFFFu);
        return pages;
    }

    void writeRegister(uint32_t address, uint32_t value) {
        const auto &watchdog = chip_.watchdogs;
        const bool watchdog_register = watchdog.rwdt_config0 && (address == watchdog.rwdt_config0 ||
                                                                 address == watchdog.rwdt_config1);
        // The watchdog's registers take writes only while unlocked with its key.
        if (watchdog_register && readRegister(watchdog.rwdt_write_protect) != watchdog.rwdt_key)
            return;
        registers_[address] = value;
        if (watchdog.rwdt_config0 && address == watchdog.rwdt_config0) {
            // Enabled, it resets the chip after config1 cycles of the ~150 kHz slow clock.
            constexpr uint32_t kEnable = 1u << 31;
            auto cycles = readRegister(watchdog.rwdt_config1);
            if (value & kEnable)
                startWatchdog(std::chrono::microseconds(uint64_t(cycles) * 1'000'000 / 150'000));
            else
                watchdog_fires_at_.reset();
        }
        const auto &spi = chip_.spi;
        if (address == spi.base && (value & (1u << 18))) {
            runSpiUserCommand();
            registers_[address] = value & ~(1u << 18); // the engine finishes at once
        }
        if (address == spi.base && spi.rd_status && (value & kFlashOperations)) {
            runSpiFlashOperation(value);
            registers_[address] = 0;
        }
    }

    // The CMD register's built-in flash operations (ESP-IDF spi_mem_reg.h: SPI_MEM_FLASH_WREN
    // bit 30, RDSR 27, SE 24, BE 23, CE 22), which esp-stub-lib uses to erase without waiting
    // and to poll WIP (flash.c stub_target_flash_erase_sector_start, stub_target_flash_is_busy).
    static constexpr uint32_t kFlashWren = 1u << 30, kFlashRdsr = 1u << 27, kFlashSe = 1u << 24,
                              kFlashBe = 1u << 23, kFlashCe = 1u << 22;
    static constexpr uint32_t kFlashOperations =
        kFlashWren | kFlashRdsr | kFlashSe | kFlashBe | kFlashCe;
    void runSpiFlashOperation(uint32_t command) {
        const auto &spi = chip_.spi;
        const bool busy = (flash_busy_ && flash_busy_()) || Clock::now() < spi_busy_until_;
        if (command & kFlashRdsr) {
            constexpr uint8_t kWriteInProgress = 0x01;
            registers_[spi.base + *spi.rd_status] =
                flash_attached_ ? flash_->statusRegister(0) | (busy ? kWriteInProgress : 0) : 0xFF;
        }
        if (!flash_attached_ || busy) return; // a busy part ignores all but RDSR
        const uint32_t address = readRegister(spi.base + 4) & 0xFFFFFF;
        if (command & kFlashWren) flash_->transact(0x06, std::nullopt, 0, {}, 0);
        if (command & kFlashSe) flash_->transact(0x20, address, 24, {}, 0);
        if (command & kFlashBe) flash_->transact(0xD8, address, 24, {}, 0);
        if (command & kFlashCe) flash_->transact(0xC7, std::nullopt, 0, {}, 0);
    }

    // While this says the flash is still busy with an erase or program, the flash answers only
    // RDSR (with WIP set) and ignores other commands, as a real part does.
    void setFlashBusyProbe(std::function<bool()> busy) { flash_busy_ = std::move(busy); }

private:
    void reply(std::vector<uint8_t> &out, uint8_t op, uint32_t value,
               std::span<const uint8_t> payload, uint8_t error = 0) {
        std::vector<uint8_t> frame = {0x01, op, 0, 0};
        for (int i = 0; i < 4; ++i) frame.push_back(uint8_t(value >> (8 * i)));
        frame.insert(frame.end(), payload.begin(), payload.end());
        frame.push_back(error ? 1 : 0);
        frame.push_back(error);
        if (chip_.rom.status_bytes == 4) frame.insert(frame.end(), {0, 0});
        uint16_t size = static_cast<uint16_t>(frame.size() - 8);
        frame[2] = uint8_t(size);
        frame[3] = uint8_t(size >> 8);
        slip::encode(frame, out);
    }

    // A ROM without the command answers with another opcode and "invalid message".
    void unsupported(std::vector<uint8_t> &out, uint8_t op) {
        reply(out, uint8_t(op ^ 0x80), 0, {}, kInvalidMessage);
    }

    // What the line runs at when the ROM is asked for `asked`: the ESP32's ROM divides its own
    // estimate of the 40 MHz crystal (set here 5% high, a drift esptool corrects for).
    uint32_t lineRate(uint32_t asked) const {
        if (!chip_.rom_crystal_calibration.present()) return asked;
        const uint64_t estimate = uint64_t(kCalibration) * 15625 * kCk8mFrequency / 40;
        return uint32_t(uint64_t(asked) * 40'000'000 / estimate);
    }
    static constexpr uint32_t kCalibration = 1120, kCk8mFrequency = 96; // 42 MHz

    void initialiseRegisters() {
        if (chip_.magic_value) registers_[chipdb::kChipDetectMagicRegister] = *chip_.magic_value;
        // A UART divider for 115200 baud from the crystal (40 MHz where esptool estimates it), the
        // clock ets_get_xtal_freq reports to code that sets a new rate.
        registers_[chip_.uart_clkdiv_reg] =
            chip_.fixed_crystal_mhz.value_or(40) * 1'000'000 / 115200 * chip_.xtal_clk_divider;
        const uint8_t *m = options_.mac;
        const uint32_t lo = uint32_t(m[2]) << 24 | m[3] << 16 | m[4] << 8 | m[5];
        switch (chip_.mac_layout) {
        case chipdb::MacLayout::Esp8266Otp:
            registers_[0x3FF00050] = uint32_t(m[5]) << 24;
            registers_[0x3FF00054] = uint32_t(m[3]) << 8 | m[4];
            registers_[0x3FF0005C] = uint32_t(m[0]) << 16 | m[1] << 8 | m[2];
            break;
        case chipdb::MacLayout::Esp32Words:
        case chipdb::MacLayout::Standard:
            registers_[chip_.mac_efuse_reg] = lo;
            registers_[chip_.mac_efuse_reg + 4] = uint32_t(m[0]) << 8 | m[1];
            break;
        case chipdb::MacLayout::StandardEui64:
            registers_[chip_.mac_efuse_reg] = lo;
            registers_[chip_.mac_efuse_reg + 4] = 0xFFFE0000u | uint32_t(m[0]) << 8 | m[1];
            break;
        }
        uint32_t major = options_.revision / 100, minor = options_.revision % 100;
        if (chip_.revision.major_is_esp32_code) {
            static constexpr uint32_t kCodes[] = {0, 1, 3, 7};
            major = kCodes[std::min<uint32_t>(major, 3)];
        }
        storeFields(registers_, chip_.revision.major, major);
        storeFields(registers_, chip_.revision.minor, minor);
        if (chip_.revision.block_version_major.present() && options_.revision == 0) {
            // Such a part: its eFuse block version, and the major field's bits in other use.
            const uint32_t block = chip_.revision.v0_block_version;
            storeFields(registers_, {&chip_.revision.block_version_major, 1}, block / 100);
            storeFields(registers_, {&chip_.revision.block_version_minor, 1}, block % 100);
            storeFields(registers_, chip_.revision.major, 0x3);
        }
        if (chip_.rom_crystal_calibration.present()) {
            storeFields(registers_, {&chip_.rom_crystal_calibration, 1}, kCalibration);
            storeFields(registers_, {&chip_.rom_ck8m_frequency, 1}, kCk8mFrequency);
        }
        // The ROM records which port it talks on in its .bss, where READ_REG finds it.
        if (options_.console != Console::Uart) {
            auto word = chipdb::romConsoleWord(chip_, options_.revision);
            uint8_t value = options_.console == Console::UsbSerialJtag ? word.usb_serial_jtag_value
                                                                       : word.usb_otg_value;
            registers_[word.address & ~3u] = uint32_t(value) << (8 * (word.address & 3));
        }
    }

    // The SPI controller's user-command engine as esptool drives it (protocol.md §17).
    void runSpiUserCommand() {
        const auto &spi = chip_.spi;
        uint32_t usr = readRegister(spi.base + spi.usr);
        uint32_t usr1 = readRegister(spi.base + spi.usr1);
        uint8_t command = uint8_t(readRegister(spi.base + spi.usr2));
        size_t mosi_bits = 0, miso_bits = 0;
        if (spi.mosi_dlen) {
            if (usr & (1u << 27)) mosi_bits = readRegister(spi.base + *spi.mosi_dlen) + 1;
            if (usr & (1u << 28)) miso_bits = readRegister(spi.base + *spi.miso_dlen) + 1;
        } else {
            if (usr & (1u << 27)) mosi_bits = ((usr1 >> 17) & 0x1FF) + 1;
            if (usr & (1u << 28)) miso_bits = ((usr1 >> 8) & 0x1FF) + 1;
        }
        std::optional<uint32_t> address;
        uint32_t address_bits = 0;
        if (usr & (1u << 30)) {
            address_bits = ((usr1 >> 26) & 0x3F) + 1;
            uint32_t raw = readRegister(spi.base + 4);
            address = spi.address_msb_aligned ? raw >> (32 - address_bits) : raw;
        }
        std::vector<uint8_t> mosi;
        for (size_t i = 0; i < (mosi_bits + 7) / 8; ++i)
            mosi.push_back(
                uint8_t(readRegister(spi.base + spi.w0 + uint32_t(i / 4) * 4) >> (8 * (i % 4))));
        const size_t miso_length = std::min<size_t>((miso_bits + 7) / 8, 64);
        std::vector<uint8_t> miso;
        if (!flash_attached_) {
            miso.assign(miso_length, 0xFF);
        } else if ((flash_busy_ && flash_busy_()) || Clock::now() < spi_busy_until_) {
            constexpr uint8_t kReadStatus = 0x05, kWriteInProgress = 0x01;
            miso.assign(miso_length, 0xFF);
            if (command == kReadStatus)
                std::fill(miso.begin(), miso.end(), flash_->statusRegister(0) | kWriteInProgress);
        } else {
            miso = flash_->transact(command, address, address_bits, mosi, miso_length);
        }
        for (size_t word = 0; word < (miso.size() + 3) / 4 || word == 0; ++word) {
            uint32_t value = 0;
            for (size_t i = 0; i < 4 && word * 4 + i < miso.size(); ++i)
                value |= uint32_t(miso[word * 4 + i]) << (8 * i);
            registers_[spi.base + spi.w0 + uint32_t(word) * 4] = value;
        }
    }

    void memBegin(std::vector<uint8_t> &out, std::span<const uint8_t> data) {
        if (data.size() != 16) return reply(out, kMemBegin, 0, {}, kInvalidMessage);
        download_ = Download{le32(&data[12]), le32(&data[0]), le32(&data[8]), 0, false, false};
        return reply(out, kMemBegin, 0, {});
    }

    void memEnd(std::vector<uint8_t> &out, std::span<const uint8_t> data) {
        if (data.size() != 8) return reply(out, kMemEnd, 0, {}, kInvalidMessage);
        reply(out, kMemEnd, 0, {});
        if (le32(&data[0]) == 0) run_entry_ = le32(&data[4]); // the ROM jumps to the entry point
    }

    void flashBegin(std::vector<uint8_t> &out, uint8_t op, std::span<const uint8_t> data,
                    bool compressed) {
        size_t expected = chip_.rom.flash_begin_encrypt_word ? 20 : 16;
        if (data.size() != expected && data.size() != 16)
            return reply(out, op, 0, {}, kInvalidMessage);
        uint32_t erase_size = le32(&data[0]), offset = le32(&data[12]);
        if (!chip_.rom.spi_attach) attachFlash(); // the ESP8266 ROM attaches here
        if (uint64_t(offset) + (compressed ? 0 : erase_size) > flash_->size())
            return reply(out, op, 0, {}, kInvalidParameter);
        // The ROM erases the announced region up front (compressed downloads announce the
        // uncompressed size), in 64 KiB blocks where aligned and 4 KiB sectors elsewhere.
        uint32_t start = offset & ~0xFFFu;
        uint64_t end =
            std::min<uint64_t>((uint64_t(offset) + erase_size + 0xFFF) & ~0xFFFull, flash_->size());
        if (chip_.rom.erase_size_bug) {
            // The ESP8266 ROM counts the sectors up to the next 64 KiB block twice: it erases
            // n + min(n, sectors left in the first block) sectors (protocol.md §8.2).
            uint64_t sectors = (uint64_t(erase_size) + 0xFFF) / 0x1000;
            uint64_t head = std::min<uint64_t>(sectors, 16 - (offset / 0x1000) % 16);
            end = std::min<uint64_t>(uint64_t(offset / 0x1000) * 0x1000 + (sectors + head) * 0x1000,
                                     flash_->size());
        }
        for (uint64_t at = start; at < end;) {
            bool block = at % 0x10000 == 0 && at + 0x10000 <= end;
            auto result = block ? flash_->eraseBlock64(partAddress(at))
                                : flash_->eraseSector(partAddress(at));
            if (result != SpiFlash::Result::Ok) return reply(out, op, 0, {}, kFlashWriteError);
            at += block ? 0x10000 : 0x1000;
        }
        download_ = Download{offset, erase_size, le32(&data[8]), 0, true, compressed};
        if (compressed) {
            inflateEnd(&inflater_);
            inflater_ = z_stream{};
            inflateInit(&inflater_);
        }
        return reply(out, op, 0, {});
    }

    void flashEnd(std::vector<uint8_t> &out, uint8_t op, std::span<const uint8_t> data) {
        if (data.size() != 4) return reply(out, op, 0, {}, kInvalidMessage);
        if (!download_ || !download_->to_flash) return reply(out, op, 0, {}, kFailedResult);
        download_.reset();
        reply(out, op, 0, {});
        // 0 asks the ROM to reboot, 1 to leave the loader and run the code in flash: both boot.
        boot_requested_ = true;
    }

    void downloadData(std::vector<uint8_t> &out, uint8_t op, std::span<const uint8_t> data,
                      uint32_t checksum, bool to_flash) {
        if (data.size() < 16) return reply(out, op, 0, {}, kInvalidMessage);
        uint32_t length = le32(&data[0]);
        auto payload = data.subspan(16);
        if (length != payload.size()) return reply(out, op, 0, {}, kInvalidMessage);
        uint8_t sum = 0xEF;
        for (uint8_t byte : payload) sum ^= byte;
        if (sum != uint8_t(checksum)) return reply(out, op, 0, {}, kChecksumError);
        if (!download_ || download_->to_flash != to_flash)
            return reply(out, op, 0, {}, kFailedResult);
        // A block the host sends again (its reply was lost) is acknowledged, not written twice.
        uint32_t sequence = le32(&data[4]);
        if (sequence < download_->next_sequence) return reply(out, op, 0, {});
        if (sequence > download_->next_sequence) return reply(out, op, 0, {}, kFailedResult);
        ++download_->next_sequence;
        if (!to_flash) {
            auto &block = ram_[download_->address];
            block.insert(block.end(), payload.begin(), payload.end());
            return reply(out, op, 0, {});
        }
        if (download_->compressed) {
            std::vector<uint8_t> inflated(1 << 16);
            inflater_.next_in = const_cast<Bytef *>(payload.data());
            inflater_.avail_in = static_cast<uInt>(payload.size());
            while (inflater_.avail_in > 0) {
                inflater_.next_out = inflated.data();
                inflater_.avail_out = static_cast<uInt>(inflated.size());
                int status = inflate(&inflater_, Z_NO_FLUSH);
                if (status != Z_OK && status != Z_STREAM_END && status != Z_BUF_ERROR)
                    return reply(out, op, 0, {}, kDeflateError);
                size_t produced = inflated.size() - inflater_.avail_out;
                if (!program(std::span<const uint8_t>(inflated.data(), produced)))
                    return reply(out, op, 0, {}, kFlashWriteError);
                if (status == Z_STREAM_END || (produced == 0 && status == Z_BUF_ERROR)) break;
            }
            return reply(out, op, 0, {});
        }
        if (!program(payload)) return reply(out, op, 0, {}, kFlashWriteError);
        return reply(out, op, 0, {});
    }

    // Writes at the download's position, page by page, and reads it back as the ROM does.
    bool program(std::span<const uint8_t> bytes) {
        uint64_t remaining_space = download_->written < flash_->size() - download_->address
                                       ? flash_->size() - download_->address - download_->written
                                       : 0;
        bytes = bytes.first(std::min<uint64_t>(bytes.size(), remaining_space));
        size_t done = 0;
        while (done < bytes.size()) {
            uint32_t address = download_->address + download_->written;
            size_t in_page = std::min<size_t>(bytes.size() - done, 256 - (address & 0xFF));
            auto chunk = bytes.subspan(done, in_page);
            if (flash_->programPage(partAddress(address), chunk) != SpiFlash::Result::Ok)
                return false;
            std::vector<uint8_t> check(in_page);
            readFlash(address, check);
            if (!std::equal(check.begin(), check.end(), chunk.begin())) return false;
            done += in_page;
            download_->written += static_cast<uint32_t>(in_page);
        }
        return true;
    }

    // The ROMs' flash routines send 24-bit addresses: on a part above 16 MB they reach its first
    // 16 MB only, and an address past that lands 16 MB lower.
    static uint32_t partAddress(uint64_t address) { return uint32_t(address) & 0xFFFFFF; }
    void readFlash(uint32_t address, std::span<uint8_t> out) {
        for (size_t done = 0; done < out.size();) {
            uint32_t at = partAddress(uint64_t(address) + done);
            size_t piece = std::min<size_t>(out.size() - done, 0x1000000 - at);
            flash_->read(at, out.subspan(done, piece));
            done += piece;
        }
    }

    void md5(std::vector<uint8_t> &out, std::span<const uint8_t> data) {
        if (data.size() != 16) return reply(out, kSpiFlashMd5, 0, {}, kInvalidMessage);
        uint32_t address = le32(&data[0]), size = le32(&data[4]);
        if (uint64_t(address) + size > flash_->size())
            return reply(out, kSpiFlashMd5, 0, {}, kInvalidParameter);
        std::vector<uint8_t> bytes(size);
        readFlash(address, bytes);
        llvm::MD5 hash;
        hash.update(llvm::ArrayRef<uint8_t>(bytes.data(), bytes.size()));
        llvm::MD5::MD5Result result;
        hash.final(result);
        std::string text = result.digest().str().str(); // the ROM answers in lowercase ASCII hex
        return reply(
            out, kSpiFlashMd5, 0,
            std::span<const uint8_t>(reinterpret_cast<const uint8_t *>(text.data()), text.size()));
    }

    void readFlashSlow(std::vector<uint8_t> &out, std::span<const uint8_t> data) {
        if (data.size() != 8) return reply(out, kReadFlashSlow, 0, {}, kInvalidMessage);
        uint32_t address = le32(&data[0]), length = le32(&data[4]);
        if (length > 64) return reply(out, kReadFlashSlow, 0, {}, kInvalidParameter);
        std::vector<uint8_t> bytes(64, 0xFF);
        readFlash(address, std::span<uint8_t>(bytes.data(), length));
        return reply(out, kReadFlashSlow, 0, bytes);
    }

    void securityInfo(std::vector<uint8_t> &out) {
        return reply(out, kGetSecurityInfo, 0, securityInfoBytes());
    }

public:
    // No eFuse burned: flags, flash_crypt_cnt and key purposes are 0; then the chip id.
    std::vector<uint8_t> securityInfoBytes() const {
        std::vector<uint8_t> info(chip_.rom.security_info_bytes, 0);
        if (info.size() >= 20) {
            uint32_t id = chip_.image_chip_id.value_or(0);
            for (int i = 0; i < 4; ++i) info[12 + i] = uint8_t(id >> (8 * i));
        }
        return info;
    }

private:
    struct Download {
        uint32_t address;
        uint32_t size;
        uint32_t block_size;
        uint32_t written;
        bool to_flash;
        bool compressed;
        uint32_t next_sequence = 0;
    };

    Options options_;
    const ChipDescription &chip_;
    std::unique_ptr<SpiFlash> flash_;
    std::map<uint32_t, uint32_t> registers_;
    std::map<uint32_t, std::vector<uint8_t>> ram_;
    std::optional<Download> download_;
    z_stream inflater_{};
    std::optional<uint32_t> pending_baud_;
    bool boot_requested_ = false;
    bool flash_attached_ = false;
    Clock::time_point spi_busy_until_{}; // the flash's own work, started by the host's WRITE_REG
    std::optional<Clock::time_point> watchdog_fires_at_;
    std::optional<uint32_t> run_entry_;
    std::function<bool()> flash_busy_;
};

class Chip final : public VirtualChip, private Bus {
public:
    Chip(const Options &options, std::unique_ptr<SpiFlash> flash)
        : options_(options), usb_(options.console == Console::UsbSerialJtag),
          usb_link_(options.console != Console::Uart), rom_(options, std::move(flash)),
          random_(options.faults.seed) {
        rom_.setFlashBusyProbe(
            [this] { return core_ && options_.timing && cpu_clock_ < flash_busy_until_; });
        armRomHandlers();
        if (usb_ && options_.app_watchdog_ms)
            rom_.startWatchdog(std::chrono::milliseconds(options_.app_watchdog_ms));
    }

    // A watchdog that fires resets the chip, which then boots from flash.
    void checkWatchdog() {
        if (rom_.watchdogFired()) resetAndBoot(kWatchdogReset);
        // A ROM that found no image at the bootloader offset keeps looking, and says so each time.
        if (boot_retry_at_ && Clock::now() >= *boot_retry_at_) {
            boot_retry_at_.reset();
            readBootImage();
        }
    }

    void write(std::span<const uint8_t> bytes) override {
        checkWatchdog();
        // The bytes leave the host now; the code first reaches this moment (not the later one at
        // which its emulation is done), so the time spent emulating does not delay the line.
        const auto sent_at = Clock::now();
        catchUp(sent_at);
        for (uint8_t byte : bytes) {
            if (!connected_) return;
            ++bytes_in_;
            if (options_.faults.disconnect_after_bytes &&
                bytes_in_ > *options_.faults.disconnect_after_bytes) {
                connected_ = false;
                return;
            }
            if (options_.faults.stall_ms && bytes_in_ == options_.faults.stall_after_bytes + 1)
                stall_until_ = Clock::now() + std::chrono::milliseconds(options_.faults.stall_ms);
            // Each byte arrives 10 bit-times after the previous one at the current baud.
            input_clock_ = std::max(input_clock_, sent_at) + perByte();
            if (fault(options_.faults.drop_rate)) continue;
            if (fault(options_.faults.corrupt_in_rate)) byte ^= uint8_t(1 + random_() % 255);
            byte = acrossTheLine(byte, baud_);
            if (core_) {
                wire_.emplace_back(options_.timing ? input_clock_ : sent_at, byte);
                continue;
            }
            if (!in_download_mode_) continue;
            if (decoder_.push(byte) == slip::Decoder::Event::Frame) {
                std::vector<uint8_t> replies;
                rom_.handle(decoder_.frame(), replies);
                queueOutput(replies, options_.timing ? input_clock_ : sent_at);
                // After the reply went out; the ROM retunes UART0, which a USB console is not.
                if (auto baud = rom_.takePendingBaud(); baud && !usb_link_) baud_ = *baud;
                if (rom_.takeBootRequest()) {
                    bootFromFlash(kSoftwareReset); // the ROM leaves the loader
                    return;
                }
                if (auto entry = rom_.takeRunRequest()) {
                    std::vector<LoadedSegment> segments;
                    for (auto &[address, bytes] : rom_.takeRam())
                        segments.push_back({address, std::move(bytes)});
                    in_download_mode_ = false;
                    // The ROM's reply to MEM_END leaves before the code starts.
                    cpu_clock_ = std::max(Clock::now(), line_free_at_);
                    execute(segments, *entry);
                    return;
                }
            }
        }
        if (core_) runCore();
    }

    size_t read(std::span<uint8_t> buffer, std::chrono::milliseconds timeout) override {
        if (!connected_ || buffer.empty()) return 0;
        checkWatchdog();
        auto deadline = Clock::now() + timeout;
        auto take_due = [&] {
            auto now = Clock::now();
            size_t count = 0;
            while (count < buffer.size() && !output_.empty() && output_.front().at <= now) {
                // Received at the rate the host has now, sent at the chip's rate then.
                buffer[count++] = acrossTheLine(output_.front().byte, output_.front().baud);
                output_.pop_front();
            }
            return count;
        };
        for (;;) {
            // What has reached the host is handed over before the code runs on: on silicon the
            // two work in parallel, and here the code's run would hold the reply up.
            if (size_t count = take_due()) return count;
            catchUp();
            size_t count = take_due();
            if (count > 0 || Clock::now() >= deadline) return count;
            // Replies are made when requests are written, or by code that has yet to reach the
            // present; with neither pending, nothing will come: wait out the timeout as a silent
            // device would.
            auto wake = deadline;
            if (!output_.empty()) wake = std::min(wake, output_.front().at);
            if (core_ && resume_at_) wake = std::min(wake, *resume_at_);
            std::this_thread::sleep_until(wake);
        }
    }

    void setBaudRate(uint32_t baud) override { host_baud_ = baud; }

    // A new divider scales the rate the ROM measured (integer part, 4-bit fraction).
    void commitClockDivider() {
        if (!clkdiv_written_ || !clkdiv_) return;
        auto sixteenths = [](uint32_t div) { return (div & 0xFFF) * 16 + (div >> 20 & 15); };
        baud_ = uint32_t(uint64_t(baud_) * sixteenths(clkdiv_) / sixteenths(clkdiv_written_));
        clkdiv_ = clkdiv_written_;
    }

    // Once the host has said at what rate its side runs (an in-process port, or "baud N" on the
    // control port; a raw TCP client has no rate), bytes between two sides more than 3% apart are
    // received as garbage, as on a real line.
    uint8_t acrossTheLine(uint8_t byte, uint32_t chip_baud) const {
        if (!host_baud_ || usb_link_) return byte;
        uint64_t high = std::max(*host_baud_, chip_baud), low = std::min(*host_baud_, chip_baud);
        return high * 100 > low * 103 ? uint8_t(byte ^ 0x55) : byte;
    }
    bool connected() const override { return connected_; }

    void setDtr(bool asserted) override {
        if (otg()) return;
        bool was_in_reset = usbHoldsReset();
        dtr_ = asserted;
        if (usb_) usbLinesChanged(was_in_reset);
    }
    void setRts(bool asserted) override {
        // This model's assumption for USB-OTG: the ROM's CDC port does not reset the chip, so a
        // hard reset takes the RTC watchdog (esptool resets these chips so).
        if (otg()) return;
        if (usb_) {
            bool was_in_reset = usbHoldsReset();
            rts_ = asserted;
            return usbLinesChanged(was_in_reset);
        }
        // RTS drives EN: releasing it starts the chip, in download mode when DTR holds GPIO0 low.
        if (rts_ && !asserted) {
            if (dtr_)
                resetIntoDownloadMode();
            else
                resetAndBoot();
        }
        rts_ = asserted;
    }

    // USB-Serial-JTAG reads the CDC-ACM lines itself, as esptool's USBJTAGSerialReset
    // (reset.py) drives them: DTR without RTS latches download boot ("Set IO0"), RTS without DTR
    // holds the chip in reset, and both released starts it; both asserted does nothing, which is
    // why that sequence passes through it. A UART bridge's classic sequence therefore boots the
    // flash here.
    bool usbHoldsReset() const { return usb_ && rts_ && !dtr_; }
    void usbLinesChanged(bool was_in_reset) {
        if (dtr_ && !rts_) usb_download_latch_ = true;
        if (was_in_reset && !usbHoldsReset()) {
            if (usb_download_latch_)
                resetIntoDownloadMode();
            else
                resetAndBoot();
        }
        if (!dtr_ && !rts_) usb_download_latch_ = false;
    }

    void resetIntoDownloadMode() override {
        stopCode();
        armRomHandlers();
        rom_.detachFlash();
        boot_retry_at_.reset();
        in_download_mode_ = true;
        decoder_.reset();
        output_.clear();
        line_free_at_ = {};
        baud_ = 115200;
        if (usb_ && options_.app_watchdog_ms)
            rom_.startWatchdog(std::chrono::milliseconds(options_.app_watchdog_ms));
        static constexpr char kBootText[] =
            "ESP-ROM:virtual\r\nboot:0x3 (DOWNLOAD(USB/UART0))\r\nwaiting for download\r\n";
        for (char c : std::string_view(kBootText))
            output_.push_back({Clock::now(), uint8_t(c), baud_});
    }

    // The reset reason the ROM prints (ESP-IDF esp_rom/include/<chip>/rom/rtc.h, RESET_REASON).
    struct ResetReason {
        uint8_t code;
        const char *name;
    };
    static constexpr ResetReason kPowerOnReset{0x01, "POWERON"};
    static constexpr ResetReason kWatchdogReset{0x10, "RTCWDT_RTC_RST"};
    static constexpr ResetReason kSoftwareReset{0x03, "RTC_SW_SYS_RST"};

    void resetAndBoot() override { resetAndBoot(kPowerOnReset); }
    void resetAndBoot(ResetReason reason) {
        stopCode();
        output_.clear();
        line_free_at_ = {};
        baud_ = 115200;
        bootFromFlash(reason);
    }

    void powerCycle() override {
        rom_.flash().powerCycle();
        resetIntoDownloadMode();
    }

private:
    // What the ROM does at boot: read the image at the bootloader offset, check it, load its
    // RAM segments and jump to the entry point.
    void bootFromFlash(ResetReason reason) {
        in_download_mode_ = false;
        uart_int_ena_ = usb_int_ena_ = 0; // the download loader's handlers are not installed
        rom_.attachFlash();               // to boot from it
        decoder_.reset();
        char banner[96];
        std::snprintf(banner, sizeof banner,
                      "ESP-ROM:virtual\r\nrst:0x%x (%s),boot:0x8 (SPI_FAST_FLASH_BOOT)\r\n",
                      reason.code, reason.name);
        say(banner);
        readBootImage();
    }

    // The retry period of a ROM that finds no image: a model choice (silicon repeats the line
    // for as long as the flash holds no image; the rate is not documented).
    static constexpr std::chrono::milliseconds kBootRetry{100};

    void readBootImage() {
        const ChipDescription &chip = *options_.chip;
        SpiFlash &flash = rom_.flash();
        uint32_t at = chip.bootloader_flash_offset;
        uint8_t header[24];
        flash.read(at, header);
        if (header[0] != 0xE9) {
            char text[64];
            std::snprintf(text, sizeof text, "invalid header: 0x%08x\r\n", le32(header));
            boot_retry_at_ = Clock::now() + kBootRetry;
            return say(text);
        }
        const bool extended = chip.image_format == chipdb::ImageFormat::Esp32;
        uint32_t position = at + (extended ? 24 : 8);
        uint8_t checksum = 0xEF;
        std::vector<LoadedSegment> segments;
        for (int i = 0; i < header[1]; ++i) {
            uint8_t segment_header[8];
            flash.read(position, segment_header);
            uint32_t address = le32(segment_header), length = le32(segment_header + 4);
            if (length > flash.size() - position) return say("invalid segment length\r\n");
            std::vector<uint8_t> data(length);
            flash.read(position + 8, data);
            for (uint8_t byte : data) checksum ^= byte;
            position += 8 + length;
            if (!chipdb::isFlashAddress(chip, address))
                segments.push_back({address, std::move(data)});
        }
        uint8_t stored = 0;
        flash.read(position | 15, std::span<uint8_t>(&stored, 1));
        if (stored != checksum) return say("checksum failure\r\n");
        cpu_clock_ = Clock::now();
        execute(segments, le32(header + 4));
    }

    void execute(const std::vector<LoadedSegment> &segments, uint32_t entry) {
        const ChipDescription &chip = *options_.chip;
        std::vector<uint32_t> peripherals = rom_.registerPages();
        peripherals.push_back(chip.uart_base & ~0xFFFu);
        peripherals.push_back(chip.spi.base & ~0xFFFu);
        if (chip.usb_serial_jtag_base) peripherals.push_back(chip.usb_serial_jtag_base & ~0xFFFu);
        // The interrupt matrix's USB map register holds what code writes (the ROM's routing).
        if (uint32_t map = chip.usb_serial_jtag_interrupt.map_register) {
            rom_.writeRegister(map, 0);
            peripherals.push_back(map & ~0xFFFu);
        }
        for (uint32_t watchdog : {chip.watchdogs.rwdt_config0, chip.watchdogs.swd_config})
            if (watchdog) peripherals.push_back(watchdog & ~0xFFFu);
        std::sort(peripherals.begin(), peripherals.end());
        peripherals.erase(std::unique(peripherals.begin(), peripherals.end()), peripherals.end());
        // The ROM's console record stays in RAM for the code to find (through GetUartDevice).
        std::vector<LoadedSegment> loaded;
        if (usb_) {
            auto word = chipdb::romConsoleWord(chip, options_.revision);
            loaded.push_back({word.address, {word.usb_serial_jtag_value}});
        }
        loaded.insert(loaded.end(), segments.begin(), segments.end());
        auto core = RiscVCore::create(chip, loaded, entry, peripherals, *this);
        if (!core) return say("esp-vchip: " + llvm::toString(core.takeError()) + "\r\n");
        core_ = std::move(*core);
        clkdiv_ = clkdiv_written_ = rom_.readRegister(chip.uart_clkdiv_reg);
        runCore();
    }

    // Runs the code until it waits for input, or for a slice of time: long work (an MD5 over
    // megabytes on a slow host) goes on the next time the host reads or writes, so the host's own
    // timeouts, not a guess here, decide when a chip is too slow. The slice ends at a UART status
    // poll, the one access a run can stop at and repeat without effect. Code that never polls is
    // stopped after a while, as a watchdog would.
    void runCore(Clock::time_point present = Clock::now()) {
        // With the timing model on, the code may not run ahead of the present: input the host
        // sends meanwhile must find it where silicon would be, not in the future.
        if (options_.timing) horizon_ = present;
        resume_at_.reset();
        sent_in_run_ = false;
        delayed_in_run_ = {};
        slice_end_ = Clock::now() + std::chrono::milliseconds(100);
        auto result = core_->run(std::chrono::milliseconds(5000));
        if (!result) {
            say("esp-vchip: " + llvm::toString(result.takeError()) + "\r\n");
            return stopCode();
        }
        if (*result == RiscVCore::Stop::OutOfTime) {
            say("esp-vchip: the code ran for 5 s without polling its UART; stopped\r\n");
            return stopCode();
        }
        if (*result == RiscVCore::Stop::Returned) stopCode();
        if (*result == RiscVCore::Stop::SoftwareReset) {
            stopCode();
            bootFromFlash(kSoftwareReset);
        }
    }

    // Lets code paused at the present run on up to the new present.
    void catchUp(Clock::time_point present = Clock::now()) {
        if (core_ && resume_at_ && *resume_at_ <= present) runCore(present);
    }

    void stopCode() {
        resume_at_.reset();
        code_owns_uart_line_ = code_owns_usb_line_ = false;
        core_.reset();
        wire_.clear();
        rx_fifo_.clear();
        usb_in_.clear();
    }

    void say(const std::string &text) {
        queueOutput(std::vector<uint8_t>(text.begin(), text.end()), Clock::now());
    }

    // --- the bus running code sees: UART0, USB-Serial-JTAG and the SPI flash controller --------

    // ESP-IDF uart_reg.h (the RISC-V chips): FIFO, INT_RAW, INT_ST, INT_ENA, CLKDIV, STATUS.
    static constexpr uint32_t kUartFifo = 0x00, kUartIntRaw = 0x04, kUartIntSt = 0x08,
                              kUartClkdiv = 0x14, kUartStatus = 0x1C, kUartConf1 = 0x24;
    static constexpr size_t kUartFifoSize = 128;
    // ESP-IDF usb_serial_jtag_reg.h: EP1 (the FIFO byte), EP1_CONF (WR_DONE, IN data free, OUT
    // data available); both endpoints move 64-byte packets.
    static constexpr uint32_t kUsbEp1 = 0x00, kUsbEp1Conf = 0x04;
    static constexpr uint32_t kUsbWriteDone = 1u << 0, kUsbInFree = 1u << 1,
                              kUsbOutAvailable = 1u << 2;
    static constexpr size_t kUsbPacket = 64;
    // The ROM loader takes its input by interrupt (ESP-IDF soc.h: CPU interrupt 5 is the ROM's
    // UART0 one; esp-flasher-stub re-attaches sources 5 and 17, UART and USB). Which enables it
    // leaves on is this model's assumption: UART0's RX FIFO full and timeout (UART_INT_ENA bits 0
    // and 8), USB's OUT packet received (USB_SERIAL_JTAG_INT_ENA bit 2). While they stay on, the
    // ROM's handler takes what arrives, and code that polls the port never sees it.
    static constexpr uint32_t kUartIntEna = 0x0C, kUsbIntEna = 0x10;
    static constexpr uint32_t kUartRxInterrupts = 1u << 0 | 1u << 8, kUsbRxInterrupt = 1u << 2;
    static constexpr unsigned kIdlePolls = 64;

    // The ROM's own output routines print on the port the ROM talks on.
    // A ROM routine prints (the run may stop after it: the routine is not repeated).
    // uart_tx_one_char waits for room in the TX FIFO, so nothing it sends is lost: the code's
    // time moves on until the oldest byte in the FIFO has left.
    void uartSend(uint8_t byte) override {
        pauseWhileHostBehind();
        if (options_.timing && !usb_ && transmitBacklog() >= kUartFifoSize) {
            cpu_clock_ = output_[output_.size() - kUartFifoSize].at;
            if (cpu_clock_ > horizon_) { // the code has run into the future: go on then
                pause_ = true;
                resume_at_ = cpu_clock_;
            }
        }
        transmit(byte);
    }
    void transmit(uint8_t byte) {
        if (usb_) return lineSend(byte);
        if (options_.timing && transmitBacklog() >= kUartFifoSize) return; // TX FIFO overflow
        lineSend(byte);
    }
    // Without the timing model the line is infinitely fast, but the host reads at its own pace:
    // code that prints on and on waits (as at a full TX FIFO) until the host catches up.
    static constexpr size_t kUnreadOutputLimit = 64 * 1024;
    void pauseWhileHostBehind() {
        if (options_.timing || output_.size() < kUnreadOutputLimit) return;
        pause_ = true;
        if (!resume_at_) resume_at_ = Clock::now();
    }

    void waitTransmitIdle() override {
        if (options_.timing) cpu_clock_ = std::max(cpu_clock_, line_free_at_);
    }

    // uart_div_modify writes the integer part and the 4-bit fraction and commits them.
    void setUartDivider(uint32_t sixteenths) override {
        if (usb_link_) return;
        clkdiv_written_ = (sixteenths >> 4) | (sixteenths & 15) << 20;
        commitClockDivider();
    }

    SpiFlash &flash() override { return rom_.flash(); }
    void flashWaitIdle() override {
        auto busy = rom_.flash().takeBusyTime();
        if (options_.timing) cpu_clock_ = std::max(cpu_clock_, flash_busy_until_) + busy;
    }
    std::vector<uint8_t> securityInfo() override { return rom_.securityInfoBytes(); }

    // UART0's receive interrupts (ESP-IDF uart_reg.h: RXFIFO_FULL bit 0, RXFIFO_TOUT bit 8).
    // With the timing model, FULL once the FIFO holds the threshold the code set (UART_CONF1's
    // RXFIFO_FULL_THRHD, its low 8 bits), TOUT when no byte follows within one byte-time (the
    // stubs' 10 bit-time timeout; a model choice: it fires as the gap starts, not after it).
    // Without it every byte has arrived at once, so both are raised while the FIFO holds any.
    // The ROM routes UART0 to CPU line 5 (esp-flasher-stub transport.c attaches there; ESP-IDF
    // soc.h ETS_UART0_INUM).
    static constexpr unsigned kRomUartLine = 5;
    static constexpr uint32_t kRxFifoFull = 1u << 0, kRxTimeout = 1u << 8;
    uint32_t uartRawInterrupts() {
        if (usb_link_) return 0;
        settleReceiveFifo();
        if (rx_fifo_.empty()) return 0;
        if (!options_.timing) return kUartRxInterrupts;
        uint32_t raw = 0;
        if (rx_fifo_.size() >= std::max<uint32_t>(uart_conf1_ & 0xFF, 1)) raw |= kRxFifoFull;
        if (wire_.empty() || wire_.front().first > cpu_clock_ + perByte()) raw |= kRxTimeout;
        return raw;
    }
    // USB-Serial-JTAG's OUT-packet interrupt (USB_SERIAL_JTAG_INT_ENA bit 2), raised while the
    // endpoint holds bytes, on the line the code routed it to through the interrupt matrix.
    std::optional<unsigned> usbLine() {
        const auto &route = options_.chip->usb_serial_jtag_interrupt;
        if (!usb_ || !route.map_register) return std::nullopt;
        const uint32_t mapped = rom_.readRegister(route.map_register);
        if (mapped < route.line_offset || mapped - route.line_offset >= 32) return std::nullopt;
        return mapped - route.line_offset;
    }
    uint32_t interruptLines() override {
        uint32_t lines = (uartRawInterrupts() & uart_int_ena_) ? 1u << kRomUartLine : 0;
        if (auto line = usbLine(); line && (usb_int_ena_ & kUsbRxInterrupt)) {
            settleReceiveFifo();
            if (!rx_fifo_.empty()) lines |= 1u << *line;
        }
        return lines;
    }
    void interruptHandlerAttached(unsigned line) override {
        if (line == kRomUartLine) code_owns_uart_line_ = true;
        if (usbLine() == line) code_owns_usb_line_ = true;
    }
    bool waitForInterrupt() override {
        for (;;) {
            if (interruptLines()) return true;
            if (!advanceToNextEvent()) return false; // nothing until the host sends more
            if (pause_) {                            // the next arrival is in the future
                pause_ = false;
                return false;
            }
        }
    }

    // A byte leaves for the host when the line is free.
    void lineSend(uint8_t byte) {
        // The line is busy until the last byte queued has gone, whether or not the host has
        // already read it (a paused core can be behind the line).
        auto ready = std::max({cpu_clock_, stall_until_, line_free_at_});
        if (fault(options_.faults.drop_rate)) return;
        if (fault(options_.faults.corrupt_rate)) byte ^= uint8_t(1 + random_() % 255);
        if (options_.timing) ready += perByte();
        line_free_at_ = std::chrono::time_point_cast<Clock::duration>(ready);
        output_.push_back({line_free_at_, byte, baud_});
        sent_in_run_ = sent_since_status_poll_ = true;
    }

    // USB-Serial-JTAG sends a packet when its endpoint is full or the code writes WR_DONE.
    void sendUsbPacket() {
        for (uint8_t byte : usb_in_) lineSend(byte);
        usb_in_.clear();
    }

    void flashAttached() override { rom_.attachFlash(); }

    uint32_t uartDeviceAddress() override {
        auto word = chipdb::romConsoleWord(*options_.chip, options_.revision);
        if (word.address) return word.address - chipdb::kConsoleNumberOffset;
        // Where no source places the record but the console is UART0, a zeroed record in the
        // ROM's data (a model choice) says what matters: console UART0, baud not recorded.
        const uint32_t rom_data = options_.chip->rom_flash_record_pointer;
        return !usb_link_ && rom_data ? (rom_data - 0x80) & ~3u : 0;
    }

    std::optional<uint8_t> uartReceive() override {
        settleReceiveFifo();
        if (rx_fifo_.empty()) {
            waiting_ = !advanceToNextEvent();
            settleReceiveFifo();
            if (rx_fifo_.empty()) return std::nullopt;
        }
        uint8_t byte = rx_fifo_.front();
        rx_fifo_.pop_front();
        return byte;
    }

    std::optional<uint8_t> takeReceived() {
        settleReceiveFifo();
        if (rx_fifo_.empty()) return std::nullopt;
        uint8_t byte = rx_fifo_.front();
        rx_fifo_.pop_front();
        return byte;
    }

    // The console's status poll: the one access a run may stop at and repeat. Time passes to the
    // next event when nothing has come; a run of empty polls is code waiting for input.
    void pollConsole() {
        if (Clock::now() >= slice_end_) { // see runCore
            pause_ = true;
            if (!resume_at_) resume_at_ = Clock::now();
        }
        if (options_.timing && sent_in_run_ && !sent_since_status_poll_) {
            // The code has finished sending: its run pauses until the bytes have left, so the
            // host gets them while the code's next work waits to be emulated, as if the two ran
            // side by side.
            pause_ = true;
            sent_in_run_ = false;
            if (!resume_at_) resume_at_ = std::max(Clock::now(), line_free_at_);
        }
        sent_since_status_poll_ = false;
        pauseWhileHostBehind();
        settleReceiveFifo();
        if (rx_fifo_.empty() && transmitBacklog() >= transmitCapacity() / 2) {
            advanceToNextEvent();
        } else if (rx_fifo_.empty() && !advanceToNextEvent()) {
            // Status alone is also read to find TX room; only a run of empty polls with
            // nothing else in between is code waiting for input.
            waiting_ = ++empty_polls_ >= kIdlePolls;
            return;
        }
        settleReceiveFifo();
        empty_polls_ = 0;
    }

    // A port nobody listens on: code polling it waits for input that never comes.
    void pollSilentPort() {
        if (Clock::now() >= slice_end_) {
            pause_ = true;
            if (!resume_at_) resume_at_ = Clock::now();
        }
        waiting_ = ++empty_polls_ >= kIdlePolls;
    }

    uint32_t readRegister(uint32_t address) override {
        const ChipDescription &chip = *options_.chip;
        if (address >= chip.uart_base && address < chip.uart_base + 0x1000) {
            switch (address - chip.uart_base) {
            case kUartFifo:
                if (usb_link_) return 0; // the host's bytes arrive on USB
                return takeReceived().value_or(0);
            case kUartStatus: {
                if (usb_link_) {
                    pollSilentPort();
                    return 0;
                }
                pollConsole();
                const size_t counts = chip.uart_fifo_count_mask;
                return uint32_t(std::min(rx_fifo_.size(), counts)) |
                       uint32_t(std::min(transmitBacklog(), counts)) << 16;
            }
            case kUartClkdiv:
                return clkdiv_written_; // what was written, committed or not
            case kUartIntEna:
                return uart_int_ena_;
            case kUartIntRaw:
                return uartRawInterrupts();
            case kUartIntSt:
                return uartRawInterrupts() & uart_int_ena_;
            case kUartConf1:
                return uart_conf1_;
            default:
                return 0; // UART_REG_UPDATE reads 0 once the commit is done, at once here
            }
        }
        if (chip.usb_serial_jtag_base && address >= chip.usb_serial_jtag_base &&
            address < chip.usb_serial_jtag_base + 0x1000) {
            switch (address - chip.usb_serial_jtag_base) {
            case kUsbEp1:
                return usb_ ? takeReceived().value_or(0) : 0;
            case kUsbIntEna:
                return usb_int_ena_;
            case kUsbEp1Conf: {
                if (!usb_) {
                    pollSilentPort();
                    return kUsbInFree;
                }
                pollConsole();
                bool in_free = usb_in_.size() < kUsbPacket && transmitBacklog() < kUsbPacket;
                return (in_free ? kUsbInFree : 0) | (rx_fifo_.empty() ? 0 : kUsbOutAvailable);
            }
            default:
                return usb_registers_[address];
            }
        }
        return rom_.readRegister(address);
    }

    void writeRegister(uint32_t address, uint32_t value) override {
        const ChipDescription &chip = *options_.chip;
        empty_polls_ = 0;
        if (address >= chip.uart_base && address < chip.uart_base + 0x1000) {
            const uint32_t offset = address - chip.uart_base;
            // With a USB console, UART0's TX pin leads nowhere the host listens.
            if (offset == kUartFifo && !usb_link_) transmit(uint8_t(value));
            if (offset == kUartIntEna) uart_int_ena_ = value;
            if (offset == kUartConf1) uart_conf1_ = value;
            if (offset == kUartClkdiv) {
                clkdiv_written_ = value;
                if (!chip.uart_reg_update) commitClockDivider();
            }
            // Where the UART has a register-update strobe, a new divider waits for it.
            if (chip.uart_reg_update && offset == chip.uart_reg_update && (value & 1))
                commitClockDivider();
            return;
        }
        if (chip.usb_serial_jtag_base && address >= chip.usb_serial_jtag_base &&
            address < chip.usb_serial_jtag_base + 0x1000) {
            const uint32_t offset = address - chip.usb_serial_jtag_base;
            if (usb_ && offset == kUsbEp1 && usb_in_.size() < kUsbPacket) {
                usb_in_.push_back(uint8_t(value));
                if (usb_in_.size() == kUsbPacket) sendUsbPacket();
            } else if (usb_ && offset == kUsbEp1Conf && (value & kUsbWriteDone)) {
                sendUsbPacket();
            } else if (offset == kUsbIntEna) {
                usb_int_ena_ = value;
            } else if (offset != kUsbEp1 && offset != kUsbEp1Conf) {
                usb_registers_[address] = value;
            }
            return;
        }
        rom_.writeRegister(address, value);
        auto busy = rom_.flash().takeBusyTime();
        if (options_.timing && busy.count() > 0)
            flash_busy_until_ = std::max(cpu_clock_, flash_busy_until_) + busy;
        if (options_.timing && cpu_clock_ < flash_busy_until_ && address == chip.spi.base) {
            advanceToNextEvent(); // the code polls WIP: time passes
            pause_ = false;       // a run stops only at a UART status poll, which it can repeat
        }
    }

    bool idle() override { return std::exchange(waiting_, false) || std::exchange(pause_, false); }

    void delay(uint32_t microseconds) override {
        if (options_.timing) {
            cpu_clock_ += std::chrono::microseconds(microseconds);
            if (cpu_clock_ > horizon_) { // the code has waited into the future: go on then
                pause_ = true;
                resume_at_ = cpu_clock_;
            }
            return;
        }
        // Without the timing model a delay takes no time, so code that speaks after one (a
        // stub's greeting) is heard at once; code that only waits, long and with no input to
        // handle, is idle until the host sends.
        delayed_in_run_ += std::chrono::microseconds(microseconds);
        waiting_ =
            delayed_in_run_ > std::chrono::milliseconds(500) && wire_.empty() && rx_fifo_.empty();
    }

    // Host bytes that have reached the chip by the code's current time enter the RX FIFO; with the
    // timing model on, bytes that find it full are lost, as on silicon.
    // USB never loses a byte: the host's packet waits until the endpoint has room.
    void settleReceiveFifo() {
        while (!wire_.empty() && (!options_.timing || wire_.front().first <= cpu_clock_)) {
            if (core_ && romHandlerArmed()) { // the ROM's interrupt handler takes it
                ++taken_by_rom_handler_;
                wire_.pop_front();
                continue;
            }
            if (usb_ && rx_fifo_.size() >= kUsbPacket) break;
            // Code that takes its input by interrupt loses nothing here: on silicon its handler
            // runs even while a ROM flash routine does (they run with interrupts on), which this
            // model, running a routine whole, cannot show; the FIFO holds the bytes instead.
            const bool handler_drains = code_owns_uart_line_ && (uart_int_ena_ & kUartRxInterrupts);
            if (options_.timing && rx_fifo_.size() >= kUartFifoSize && !handler_drains)
                ++rx_overflows_;
            else
                rx_fifo_.push_back(wire_.front().second);
            wire_.pop_front();
        }
    }

    size_t transmitCapacity() const { return usb_ ? kUsbPacket : kUartFifoSize; }

    bool romHandlerArmed() const {
        return usb_ ? !code_owns_usb_line_ && (usb_int_ena_ & kUsbRxInterrupt) != 0
                    : !code_owns_uart_line_ && (uart_int_ena_ & kUartRxInterrupts) != 0;
    }
    void armRomHandlers() {
        uart_int_ena_ = usb_link_ ? 0 : kUartRxInterrupts;
        usb_int_ena_ = usb_ ? kUsbRxInterrupt : 0;
    }

    size_t transmitBacklog() const {
        size_t count = 0;
        for (auto it = output_.rbegin(); it != output_.rend() && it->at > cpu_clock_; ++it) ++count;
        return count;
    }

    // Code that polls (for input, for WIP, for TX space) lets time pass until the next thing
    // happens. False when nothing will happen until the host sends more.
    bool advanceToNextEvent() {
        if (!options_.timing) return false;
        // Bytes already due enter the FIFO first, so the next arrival is a future one: a poll
        // must not jump past bytes the code would have read on the way.
        settleReceiveFifo();
        std::optional<Clock::time_point> next;
        auto consider = [&](Clock::time_point at) {
            if (at > cpu_clock_ && (!next || at < *next)) next = at;
        };
        if (!wire_.empty()) consider(wire_.front().first);
        consider(flash_busy_until_);
        if (transmitBacklog() >= transmitCapacity() / 2)
            consider(output_[output_.size() - transmitBacklog()].at);
        if (!next) return false;
        if (*next > horizon_) {
            // The next event lies beyond the present: pause here and go on when it comes.
            cpu_clock_ = std::max(cpu_clock_, horizon_);
            resume_at_ = *next;
            pause_ = true;
            return true;
        }
        cpu_clock_ = *next;
        return true;
    }

    bool fault(double rate) {
        return rate > 0 && std::uniform_real_distribution<double>(0, 1)(random_) < rate;
    }

    // A USB console has no baud rate: a full-speed link moves about a megabyte a second.
    std::chrono::nanoseconds perByte() const {
        if (usb_link_) return std::chrono::nanoseconds(1000);
        return std::chrono::nanoseconds(10'000'000'000ull / std::max<uint32_t>(baud_, 1));
    }

    // Replies leave once the request has fully arrived and the line is free.
    void queueOutput(const std::vector<uint8_t> &bytes, Clock::time_point request_end) {
        auto ready = std::max(request_end, line_free_at_);
        ready = std::max(ready, stall_until_); // a stalled chip answers when it wakes
        auto busy = rom_.flash().takeBusyTime();
        if (options_.timing) ready += busy;
        const auto per_byte = options_.timing ? perByte() : std::chrono::nanoseconds(0);
        for (uint8_t byte : bytes) {
            if (fault(options_.faults.drop_rate)) continue;
            if (fault(options_.faults.corrupt_rate)) byte ^= uint8_t(1 + random_() % 255);
            ready += per_byte;
            line_free_at_ = std::chrono::time_point_cast<Clock::duration>(ready);
            output_.push_back({line_free_at_, byte, baud_});
        }
    }

    Options options_;
    const bool usb_;      // the console is USB-Serial-JTAG
    const bool usb_link_; // ... or USB-OTG's CDC: no baud rate, nothing on UART0
    bool otg() const { return usb_link_ && !usb_; }
    Rom rom_;
    slip::Decoder decoder_;
    struct OutputByte {
        Clock::time_point at; // when it has reached the host
        uint8_t byte;
        uint32_t baud; // the chip's rate as it was sent
    };
    std::deque<OutputByte> output_;
    std::mt19937_64 random_;
    uint64_t bytes_in_ = 0;
    Clock::time_point input_clock_{};
    Clock::time_point stall_until_{};
    uint32_t baud_ = 115200;
    std::optional<uint32_t> host_baud_;
    bool connected_ = true;
    bool in_download_mode_ = true;
    std::optional<Clock::time_point> boot_retry_at_; // the ROM looks for an image again
    bool dtr_ = false;
    bool rts_ = false;
    bool usb_download_latch_ = false;

    // Code running on the chip, and the time it has reached (ahead of the host's clock while the
    // timing model is on: replies it makes are held back until then).
    std::unique_ptr<RiscVCore> core_;
    Clock::time_point cpu_clock_{};
    Clock::time_point flash_busy_until_{};
    std::deque<std::pair<Clock::time_point, uint8_t>> wire_; // host bytes and their arrival times
    std::deque<uint8_t> rx_fifo_; // the console's receive FIFO (UART0's, or USB's OUT endpoint)
    std::vector<uint8_t> usb_in_; // USB's IN endpoint: bytes held until the packet is sent
    std::map<uint32_t, uint32_t> usb_registers_;
    uint32_t uart_int_ena_ = 0, usb_int_ena_ = 0; // interrupt enables, as the ROM left them
    bool code_owns_uart_line_ = false; // the code attached its own handler where the ROM's was
    bool code_owns_usb_line_ = false;
    uint32_t uart_conf1_ = 0;
    std::chrono::microseconds delayed_in_run_{0};
    uint64_t taken_by_rom_handler_ = 0;
    uint64_t rx_overflows_ = 0;
    uint32_t clkdiv_ = 0;         // the divider in use
    uint32_t clkdiv_written_ = 0; // the last one written, awaiting UART_REG_UPDATE on some chips
    bool waiting_ = false;
    unsigned empty_polls_ = 0;
    Clock::time_point horizon_{};                // the present, as of the code's last start
    std::optional<Clock::time_point> resume_at_; // paused at the horizon until then
    bool pause_ = false;
    bool sent_in_run_ = false;            // the code has queued bytes for the host in this run
    bool sent_since_status_poll_ = false; // ... since it last read the UART status
    Clock::time_point slice_end_{};
    Clock::time_point line_free_at_{}; // when the last byte queued for the host has been sent
};

} // namespace

llvm::Expected<std::unique_ptr<VirtualChip>> VirtualChip::create(const Options &options) {
    if (!options.chip)
        return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                       "no chip given for the virtual chip");
    if (options.console == Console::UsbOtg &&
        (!options.chip->usb_otg.max_block ||
         !chipdb::romConsoleWord(*options.chip, options.revision).usb_otg_value))
        return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                       "console=otg: the virtual %s has no USB-OTG console",
                                       std::string(options.chip->display_name).c_str());
    if (options.console == Console::UsbSerialJtag &&
        (!options.chip->usb_serial_jtag_base ||
         !chipdb::romConsoleWord(*options.chip, options.revision).address))
        return llvm::createStringError(
            llvm::inconvertibleErrorCode(),
            "console=usb: the virtual %s has no USB-Serial-JTAG console (the chip lacks one, or "
            "no Espressif source says where its ROM records it)",
            std::string(options.chip->display_name).c_str());
    SpiFlash::Config config;
    config.size = options.flash_size;
    config.jedec_id = options.jedec_id;
    config.backing_file = options.flash_file;
    config.fail_program_at = options.faults.fail_program_at;
    auto flash = SpiFlash::open(config);
    if (!flash) return flash.takeError();
    return std::unique_ptr<VirtualChip>(new Chip(options, std::move(*flash)));
}

llvm::Expected<Options> parsePortSpec(const std::string &spec) {
    auto fail = [&](const std::string &why) {
        return llvm::createStringError(llvm::inconvertibleErrorCode(), "vchip:%s: %s", spec.c_str(),
                                       why.c_str());
    };
    llvm::StringRef text(spec);
    auto [name, query] = text.split('?');
    Options options;
    options.chip = chipdb::findChip(name);
    if (!options.chip)
        return fail("unknown chip '" + name.str() + "' (choose from " +
                    std::string(chipdb::chipNameList()) + ")");
    llvm::SmallVector<llvm::StringRef, 8> settings;
    query.split(settings, '&', -1, false);
    for (auto setting : settings) {
        auto key_value = setting.split('=');
        llvm::StringRef key = key_value.first, value = key_value.second;
        auto number = [&](uint64_t &out) {
            unsigned long long parsed = 0;
            if (value.getAsInteger(0, parsed)) return false;
            out = parsed;
            return true;
        };
        // A rate that is not a number in [0, 1] is refused, not taken as 0.
        auto probability = [&](double &out) {
            double parsed = 0;
            if (value.getAsDouble(parsed) || !(parsed >= 0 && parsed <= 1)) return false;
            out = parsed;
            return true;
        };
        uint64_t n = 0;
        if (key == "flash")
            options.flash_file = value.str();
        else if (key == "size") {
            uint64_t multiplier = value.endswith("MB")   ? 1 << 20
                                  : value.endswith("KB") ? 1 << 10
                                                         : 1;
            llvm::StringRef digits = multiplier == 1 ? value : value.drop_back(2);
            unsigned long long parsed = 0;
            if (digits.getAsInteger(0, parsed))
                return fail("size=" + value.str() + " is not a size (e.g. 4MB)");
            options.flash_size = static_cast<uint32_t>(parsed * multiplier);
        } else if (key == "jedec" && number(n))
            options.jedec_id = uint32_t(n);
        else if (key == "rev" && number(n))
            options.revision = uint32_t(n);
        else if (key == "timing")
            options.timing = value != "0";
        else if (key == "app_wdt_ms" && number(n))
            options.app_watchdog_ms = uint32_t(n);
        else if (key == "console" && (value == "usb" || value == "otg" || value == "uart"))
            options.console = value == "usb"   ? Console::UsbSerialJtag
                              : value == "otg" ? Console::UsbOtg
                                               : Console::Uart;
        else if (key == "seed" && number(n))
            options.faults.seed = n;
        else if (key == "drop" && probability(options.faults.drop_rate))
            ;
        else if (key == "corrupt" && probability(options.faults.corrupt_rate))
            ;
        else if (key == "corrupt_in" && probability(options.faults.corrupt_in_rate))
            ;
        else if (key == "stall_ms" && number(n))
            options.faults.stall_ms = uint32_t(n);
        else if (key == "stall_after" && number(n))
            options.faults.stall_after_bytes = n;
        else if (key == "disconnect_after" && number(n))
            options.faults.disconnect_after_bytes = n;
        else if (key == "fail_program_at" && number(n))
            options.faults.fail_program_at = uint32_t(n);
        else if (key == "mac") {
            llvm::SmallVector<llvm::StringRef, 6> parts;
            value.split(parts, ':');
            if (parts.size() != 6)
                return fail("mac=" + value.str() + " is not six hex bytes (aa:bb:cc:dd:ee:ff)");
            for (size_t i = 0; i < 6; ++i) {
                unsigned byte = 0;
                if (parts[i].getAsInteger(16, byte) || byte > 255)
                    return fail("mac=" + value.str() + " is not a MAC address");
                options.mac[i] = uint8_t(byte);
            }
        } else {
            return fail("unknown or invalid setting '" + setting.str() + "'");
        }
    }
    return options;
}

} // namespace esptools::vchip
