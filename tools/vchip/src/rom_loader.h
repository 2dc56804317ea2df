// The ROM download mode of an Espressif chip, as ../shared/reference/protocol.md describes it: SLIP
// frames in, replies out, a register file with eFuse words and the SPI user-command engine, flash
// and RAM downloads. Everything the chip does is decided here from the request bytes; nothing is
// shared with esp-loader but the chip database and SLIP framing. Only virtual_chip.cpp, which puts
// a console and running code around it, includes this.
#pragma once

#include "esptools/slip/slip.h"
#include "esptools/vchip/vchip.h"
#include "rom_routines.h"
#include "spi_flash.h"

#include <llvm/ADT/StringExtras.h>
#include <llvm/Support/MD5.h>

#include <zlib.h>

#include <chrono>
#include <functional>
#include <map>
#include <optional>

namespace esptools::vchip::rom_loader {

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

inline uint32_t le32(const uint8_t *p) {
    return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}

// Spreads value over fields, most significant field first (the reverse of how a reader joins them).
inline void storeFields(std::map<uint32_t, uint32_t> &words,
                        std::span<const chipdb::RegisterField> fields, uint32_t value) {
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
    // CPU cycles the ROM's own work took since the last call (its MD5), for the timing model.
    uint64_t takeCycles() { return std::exchange(cycles_, 0); }

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
        // USR_DUMMY (bit 29) with USR_DUMMY_CYCLELEN (USER1 bits 5:0) less one (ESP-IDF
        // soc/spi_mem_reg.h); the ESP8266's controller is not modelled past one line.
        SpiDataPhase data_phase;
        if (spi.mosi_dlen && (usr & (1u << 29))) data_phase.dummy_cycles = (usr1 & 0x3F) + 1;
        if (spi.ctrl) {
            const uint32_t ctrl = readRegister(spi.base + spi.ctrl);
            if (ctrl & (1u << 14)) data_phase.lines = 2;
            if (ctrl & (1u << 20)) data_phase.lines = 4;
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
            miso = flash_->transact(command, address, address_bits, mosi, miso_length, data_phase);
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
        cycles_ += uint64_t(size) * kMd5CyclesPerByte;
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
    uint64_t cycles_ = 0;
    std::optional<Clock::time_point> watchdog_fires_at_;
    std::optional<uint32_t> run_entry_;
    std::function<bool()> flash_busy_;
};

} // namespace esptools::vchip::rom_loader
