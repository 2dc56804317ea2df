// What the command families of esp-loader share: the ROM's flash opcodes, number formatting as
// esptool prints it, the progress line, and the flash size and address checks. Internal to
// tools/loader/src.
#pragma once

#include "esptools/loader/commands.h"

#include "protocol.h"

#include "esptools/cli/cli.h"
#include "esptools/formats/ihex.h"
#include "esptools/formats/image.h"

#include <llvm/ADT/StringExtras.h>
#include <llvm/Support/Format.h>
#include <llvm/Support/MD5.h>
#include <llvm/Support/raw_ostream.h>

#include <array>
#include <chrono>
#include <span>
#include <string>
#include <vector>

namespace esptools::loader::support {

using Clock = std::chrono::steady_clock;

using namespace protocol;

constexpr uint32_t kSectorSize = 0x1000;

inline llvm::Error error(const std::string &message) {
    return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

inline std::string hex(uint64_t value, int width = 8) {
    char text[24];
    std::snprintf(text, sizeof text, "0x%0*llx", width, static_cast<unsigned long long>(value));
    return text;
}

uint8_t dataChecksum(std::span<const uint8_t> data);

std::array<uint8_t, 16> md5Of(std::span<const uint8_t> data);

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
            llvm::outs().flush(); // a log being watched (many boards at once) sees it now
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
uint32_t esp8266EraseSize(uint32_t offset, uint32_t size);

std::vector<uint8_t> beginPayload(const chipdb::ChipDescription &chip, uint32_t size,
                                  uint32_t blocks, uint32_t block_size, uint32_t offset);

uint32_t flashSizeFromId(uint32_t id);

constexpr uint64_t kThreeByteLimit = 1u << 24; // what 24 flash address bits reach

// Flash past 16 MB takes 32-bit addresses: the stubs send them where the chip's controller can,
// while the ROMs' flash routines send 24 bits, which would wrap to the start of the flash (over
// the bootloader) and read back through the same wrap, so nothing would notice.
llvm::Error checkAddressWidth(Device &device, uint64_t end, const std::string &what);

std::string sizeName(uint32_t bytes);

llvm::Expected<uint32_t> configureFlashSize(Device &device, const std::string &size_name);

// The flash parameters to write into images: "detect" stands for the size the flash reported.
formats::FlashParams resolvedParams(formats::FlashParams params, uint32_t flash_size);

// A size given as ALL: from the address to the end of the flash the chip reports (esptool's
// parse_size_arg).
llvm::Expected<uint32_t> sizeToEnd(Device &device, uint32_t address,
                                   std::optional<uint32_t> requested, uint32_t flash_size);

} // namespace esptools::loader::support
