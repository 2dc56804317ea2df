#include "esptools/loader/device.h"

#include "protocol.h"

#include <llvm/ADT/StringExtras.h>
#include <llvm/Support/Format.h>
#include <llvm/Support/MD5.h>
#include <llvm/Support/raw_ostream.h>

#include <cmath>
#include <thread>

namespace esptools::loader {
namespace {

using Clock = std::chrono::steady_clock;

using namespace protocol;

llvm::Error error(const std::string &message) {
    return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

const char *opName(uint8_t op) {
    switch (op) {
    case 0x02:
        return "FLASH_BEGIN";
    case 0x03:
        return "FLASH_DATA";
    case 0x04:
        return "FLASH_END";
    case 0x05:
        return "MEM_BEGIN";
    case 0x06:
        return "MEM_END";
    case 0x07:
        return "MEM_DATA";
    case 0x08:
        return "SYNC";
    case 0x09:
        return "WRITE_REG";
    case 0x0A:
        return "READ_REG";
    case 0x0B:
        return "SPI_SET_PARAMS";
    case 0x0D:
        return "SPI_ATTACH";
    case 0x0E:
        return "READ_FLASH_SLOW";
    case 0x0F:
        return "CHANGE_BAUDRATE";
    case 0x10:
        return "FLASH_DEFL_BEGIN";
    case 0x11:
        return "FLASH_DEFL_DATA";
    case 0x12:
        return "FLASH_DEFL_END";
    case 0x13:
        return "SPI_FLASH_MD5";
    case 0x14:
        return "GET_SECURITY_INFO";
    case 0xD0:
        return "ERASE_FLASH";
    case 0xD1:
        return "ERASE_REGION";
    case 0xD2:
        return "READ_FLASH";
    default:
        return "command";
    }
}

} // namespace

milliseconds Timeouts::scaled(double per_mb_ms, uint64_t bytes) const {
    auto value = milliseconds(static_cast<int64_t>(per_mb_ms * double(bytes) / 1e6));
    return std::min(std::max(value, normal), max);
}

std::string describeStatus(uint8_t status, uint8_t code) {
    static const std::pair<uint16_t, const char *> kMeanings[] = {
        {0x100, "Undefined errors"},
        {0x101, "The input parameter is invalid"},
        {0x102, "Failed to malloc memory from system"},
        {0x103, "Failed to send out message"},
        {0x104, "Failed to receive message"},
        {0x105, "The format of the received message is invalid"},
        {0x106, "Message is ok, but the running result is wrong"},
        {0x107, "Checksum error"},
        {0x108, "Flash write error - after writing a block of data to flash, the ROM loader reads "
                "the value back and "
                "the 8-bit CRC is compared with the data read from flash. If they don't match, "
                "this error is returned."},
        {0x109, "Flash read error - SPI read failed"},
        {0x10A, "Flash read length error - SPI read request length is too long"},
        {0x10B, "Deflate failed error (compressed uploads only)"},
        {0x10C, "Deflate Adler32 error"},
        {0x10D, "Deflate parameter error"},
        {0x10E, "Invalid RAM binary size"},
        {0x10F, "Invalid RAM binary address"},
        // The flasher stub's codes.
        {0xC000, "Bad data length"},
        {0xC100, "Bad data checksum"},
        {0xC200, "Bad blocksize"},
        {0xC300, "Invalid command"},
        {0xC400, "Failed SPI operation"},
        {0xC500, "Failed SPI unlock"},
        {0xC600, "Not in flash mode"},
        {0xC700, "Inflate error"},
        {0xC800, "Not enough data"},
        {0xC900, "Too much data"},
        {0xFF00, "Command not implemented"},
    };
    uint16_t key = uint16_t(status << 8 | code);
    char hex[8];
    std::snprintf(hex, sizeof hex, "%04X", key);
    for (const auto &[value, meaning] : kMeanings)
        if (value == key) return std::string(hex) + ": " + meaning;
    return std::string(hex) + ": Unknown result";
}

namespace {

// esptool's HexFormatter: short data as one run of hex digits; longer data as 16-byte lines of two
// 8-byte groups and the printable ASCII.
std::string traceHex(std::span<const uint8_t> bytes) {
    auto digits = [](std::span<const uint8_t> part) {
        return llvm::toHex(llvm::ArrayRef<uint8_t>(part.data(), part.size()), /*LowerCase=*/true);
    };
    if (bytes.size() <= 16) return digits(bytes);
    std::string out;
    for (size_t at = 0; at < bytes.size(); at += 16) {
        auto line = bytes.subspan(at, std::min<size_t>(16, bytes.size() - at));
        std::string ascii;
        for (uint8_t byte : line) ascii += byte >= 0x20 && byte < 0x7F ? char(byte) : '.';
        std::string low = digits(line.first(std::min<size_t>(8, line.size())));
        std::string high = digits(line.size() > 8 ? line.subspan(8) : line.subspan(line.size()));
        low.resize(16, ' ');
        high.resize(16, ' ');
        out += "\n    " + low + " " + high + " | " + ascii;
    }
    return out;
}

} // namespace

// As esptool's --trace: seconds since the previous line, so a slow reply stands out.
void Device::trace(const std::string &message, bool blank_line_before) {
    if (!trace_) return;
    auto now = Clock::now();
    double since = last_trace_ ? std::chrono::duration<double>(now - *last_trace_).count() : 0.0;
    last_trace_ = now;
    llvm::outs() << (blank_line_before ? "\n" : "") << llvm::format("TRACE +%.3f   ", since)
                 << message << "\n";
}

void Device::traceWrite(std::span<const uint8_t> packet) {
    if (!trace_) return;
    auto wire = slip::encode(packet);
    std::string label = "Write " + std::to_string(wire.size()) + " bytes:";
    label.resize(std::max<size_t>(label.size(), 21), ' ');
    trace(label + " " + traceHex(wire));
}

llvm::Error Device::sendOnly(uint8_t op, std::span<const uint8_t> data) {
    std::vector<uint8_t> packet = {0x00, op, uint8_t(data.size()), uint8_t(data.size() >> 8), 0, 0,
                                   0,    0};
    packet.insert(packet.end(), data.begin(), data.end());
    traceWrite(packet);
    return port_.write(slip::encode(packet));
}

llvm::Expected<std::optional<std::vector<uint8_t>>> Device::readFrame(milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    while (true) {
        // Bytes after a frame stay pending for the next call; they are dropped from the front in
        // one go (a 4 KiB read byte by byte from the front would be quadratic).
        size_t used = 0;
        while (used < pending_.size()) {
            auto event = decoder_.push(pending_[used++]);
            if (event == slip::Decoder::Event::Frame) {
                pending_.erase(pending_.begin(), pending_.begin() + ptrdiff_t(used));
                if (trace_) trace("Received full packet: " + traceHex(decoder_.frame()));
                return std::optional<std::vector<uint8_t>>(decoder_.frame());
            }
            // Noise between frames, or a broken escape: drop it and keep looking for a frame; the
            // request will be retried if its reply was the casualty.
        }
        pending_.clear();
        auto now = Clock::now();
        if (now >= deadline) return std::optional<std::vector<uint8_t>>();
        uint8_t buffer[4096];
        auto got = port_.read(buffer, std::chrono::duration_cast<milliseconds>(deadline - now));
        if (!got) return got.takeError();
        if (trace_ && *got) {
            std::string label = "Read " + std::to_string(*got) + " bytes:";
            label.resize(std::max<size_t>(label.size(), 21), ' ');
            trace(label + " " + traceHex(std::span<const uint8_t>(buffer, *got)));
        }
        pending_.insert(pending_.end(), buffer, buffer + *got);
    }
}

llvm::Expected<Reply> Device::command(uint8_t op, std::span<const uint8_t> data, uint32_t checksum,
                                      milliseconds timeout, size_t reply_data_length, int attempts,
                                      std::optional<uint32_t> expected_value) {
    std::vector<uint8_t> packet = {0x00, op, uint8_t(data.size()), uint8_t(data.size() >> 8)};
    put32(packet, checksum);
    packet.insert(packet.end(), data.begin(), data.end());
    std::string last_problem = "no reply";
    last_failure_status_ = 0;
    for (int attempt = 0; attempt < std::max(attempts, 1); ++attempt) {
        if (trace_) {
            char head[160];
            std::snprintf(head, sizeof head,
                          "--- Cmd %s (0x%02x) | data_len %zu | wait_response 1 | timeout %.3f | "
                          "data ",
                          opName(op), op, data.size(), double(timeout.count()) / 1000.0);
            trace(head + traceHex(data) + " ---", true);
        }
        traceWrite(packet);
        if (auto failure = port_.write(slip::encode(packet))) return failure;
        auto deadline = Clock::now() + timeout;
        for (int frames = 0; frames < 100; ++frames) {
            auto now = Clock::now();
            if (now >= deadline) break;
            auto frame = readFrame(std::chrono::duration_cast<milliseconds>(deadline - now));
            if (!frame) return frame.takeError();
            if (!*frame) break;
            const auto &bytes = **frame;
            if (bytes.size() < 8 || bytes[0] != 0x01) continue;
            std::span<const uint8_t> body(bytes.data() + 8, bytes.size() - 8);
            if (bytes[1] == op && expected_value && get32(&bytes[4]) != *expected_value) {
                // A late answer to an earlier request (one that was resent) carries an earlier
                // number: not this one's, and this one's may follow. A later number was never
                // sent: this answer was damaged on the way, so ask again now rather than wait.
                last_problem = "answers to earlier requests only";
                if (get32(&bytes[4]) > *expected_value && attempt + 1 < attempts) break;
                continue;
            }
            if (bytes[1] != op) {
                // A ROM that lacks a command answers with another opcode and "invalid message";
                // so does any ROM to a request whose opcode was damaged on the way. Only the
                // same answer to the last attempt means the command is missing.
                if (body.size() >= 2 && body[0] != 0 && body[1] == 0x05) {
                    if (attempt + 1 >= attempts)
                        return error(std::string("This command (") + opName(op) +
                                     ") is not supported by the chip's loader");
                    last_problem = "an 'invalid message' answer";
                    break;
                }
                last_problem = "a reply to another request";
                if (attempt + 1 < attempts)
                    break; // most likely our reply, damaged on the way: ask again
                continue;
            }
            if (body.size() < reply_data_length + 2) {
                last_problem = "a short reply";
                if (attempt + 1 < attempts) break;
                if (!body.empty() && body[0] != 0)
                    return error(std::string("Failed to ") + opName(op) + " (result was " +
                                 describeStatus(body[0], body.size() > 1 ? body[1] : 0) + ")");
                break;
            }
            uint8_t status = body[reply_data_length], code = body[reply_data_length + 1];
            if (status != 0) {
                last_problem = "Failed to " + std::string(opName(op)) + " (result was " +
                               describeStatus(status, code) + ")";
                // The request (or this reply) may have been damaged on the way: worth another
                // try. Not so for a stub's verdict on the work itself (a flash or inflate
                // failure, a session or size it refuses), which it repeats for the rest of the
                // session; any other code is a reply damaged on the way.
                constexpr uint8_t kStubVerdicts[] = {0xC2, 0xC4, 0xC5, 0xC6, 0xC7, 0xC9, 0xFF};
                bool damaged =
                    !stub_ || std::find(std::begin(kStubVerdicts), std::end(kStubVerdicts),
                                        status) == std::end(kStubVerdicts);
                if (damaged && attempt + 1 < attempts) break;
                last_failure_status_ = status;
                return error(last_problem);
            }
            return Reply{get32(&bytes[4]),
                         std::vector<uint8_t>(body.begin(), body.begin() + reply_data_length)};
        }
    }
    // "Stopped responding" only when it did: a chip that answered, wrongly, is said to have.
    const bool silent = last_problem == "no reply";
    return error(std::string(opName(op)) + " failed: " + last_problem + " after " +
                 std::to_string(std::max(attempts, 1)) + " attempt(s)" +
                 (silent ? "; the chip stopped responding" : ""));
}

llvm::Error Device::sync() {
    std::vector<uint8_t> payload(36, 0x55);
    payload[0] = 0x07, payload[1] = 0x07, payload[2] = 0x12, payload[3] = 0x20;
    auto reply = command(kSync, payload, 0, timeouts_.sync, 0, 1);
    if (!reply) return reply.takeError();
    // A ROM answers SYNC with a non-zero value, a flasher stub with 0: a stub answering means the
    // chip was not reset and the stub of an earlier run is still there. The majority decides, as
    // a noisy link may damage a reply or two.
    int zero_values = reply->value == 0 ? 1 : 0, other_values = reply->value == 0 ? 0 : 1;
    // The ROM sends several replies to one SYNC; collect them so they do not answer later requests.
    for (int i = 0; i < 7; ++i) {
        auto frame = readFrame(milliseconds(100));
        if (!frame) return frame.takeError();
        if (!*frame) break;
        if ((*frame)->size() >= 8) ++(get32(&(**frame)[4]) == 0 ? zero_values : other_values);
    }
    stub_answered_sync_ = zero_values > other_values;
    return llvm::Error::success();
}

llvm::Error Device::connect(const std::vector<ResetSequence> &resets, int attempts) {
    std::string last = "no reply";
    for (int attempt = 0; attempts <= 0 || attempt < attempts; ++attempt) {
        if (!resets.empty()) {
            port_.flushInput();
            playResetSequence(port_, resets[size_t(attempt) % resets.size()]);
        }
        for (int i = 0; i < 5; ++i) {
            port_.flushInput();
            pending_.clear();
            decoder_.reset();
            auto result = sync();
            if (!result) return llvm::Error::success();
            last = llvm::toString(std::move(result));
            llvm::outs() << ".";
            llvm::outs().flush();
        }
    }
    llvm::outs() << "\n";
    return error("Failed to connect to Espressif device: " + last);
}

llvm::Expected<const chipdb::ChipDescription *>
Device::detect(const chipdb::ChipDescription *expected) {
    const chipdb::ChipDescription *found = nullptr;
    // Replies carry no checksum, so an unknown id or magic is asked for again before giving up.
    for (int attempt = 0; attempt < 3 && !found; ++attempt) {
        auto info = command(kGetSecurityInfo, {}, 0, timeouts_.normal, 20, 1);
        if (info) {
            uint32_t chip_id = get32(&info->data[12]);
            found = chipdb::findChipByImageId(static_cast<uint16_t>(chip_id));
            if (!found && !expected && attempt == 2)
                return error("Unexpected chip ID value " + std::to_string(chip_id) +
                             ". Failed to autodetect chip type.");
            continue;
        }
        llvm::consumeError(info.takeError());
        pending_.clear();
        port_.flushInput();
        auto magic = readRegister(chipdb::kChipDetectMagicRegister);
        if (!magic) return magic.takeError();
        found = chipdb::findChipByMagic(*magic);
        if (!found && !expected && attempt == 2) {
            char text[96];
            std::snprintf(text, sizeof text,
                          "Unexpected chip magic value 0x%08x. Failed to autodetect chip type.",
                          *magic);
            return error(text);
        }
    }
    if (expected && found && found != expected)
        return error("This chip is " + std::string(found->display_name) + ", not " +
                     std::string(expected->display_name) + ". Wrong chip argument?");
    chip_ = found ? found : expected;
    return chip_;
}

llvm::Error Device::reset(AfterReset after) {
    switch (after) {
    case AfterReset::Watchdog: {
        const auto &watchdogs = chip_->watchdogs;
        if (!watchdogs.reset_supported) {
            llvm::outs() << "Note: Watchdog hard reset is not supported on " << chip_->display_name
                         << ", attempting classic hard reset instead.\n";
            return reset(AfterReset::Hard);
        }
        // esptool's watchdog_reset: unlock, a short timeout, stage 0 resets the system, lock.
        llvm::outs() << "Hard resetting with a watchdog...\n";
        constexpr uint32_t kEnable = 1u << 31, kStage0ResetSystem = 5u << 28,
                           kFlashBootMode = 1u << 8, kSystemResetLength = 2;
        for (auto [address, value] : {std::pair{watchdogs.rwdt_write_protect, watchdogs.rwdt_key},
                                      std::pair{watchdogs.rwdt_config1, 2000u}})
            if (auto failure = writeRegister(address, value)) return failure;
        // The chip may reset before it answers these two.
        const uint32_t start = kEnable | kStage0ResetSystem | kFlashBootMode | kSystemResetLength;
        if (auto failure = writeRegister(watchdogs.rwdt_config0, start))
            llvm::consumeError(std::move(failure));
        else if (auto unanswered = writeRegister(watchdogs.rwdt_write_protect, 0))
            llvm::consumeError(std::move(unanswered));
        std::this_thread::sleep_for(milliseconds(500)); // the reset takes effect
        return llvm::Error::success();
    }
    case AfterReset::Hard:
        if (console_ == Console::UsbOtg) {
            // esptool's hard_reset over USB-OTG: the S2 and S3 first clear a forced download
            // boot, and take the watchdog only when GPIO0 was low; the P4 always does.
            const auto &otg = chip_->usb_otg;
            if (otg.force_download_register)
                if (auto failure =
                        writeRegister(otg.force_download_register, 0, otg.force_download))
                    llvm::consumeError(std::move(failure)); // as esptool: go on with the reset
            bool watchdog = true;
            if (otg.strap_register) {
                auto strap = readRegister(otg.strap_register);
                auto forced = readRegister(otg.force_download_register);
                watchdog = strap && forced && !(*strap & otg.strap_spi_boot) &&
                           !(*forced & otg.force_download);
                if (!strap) llvm::consumeError(strap.takeError());
                if (!forced) llvm::consumeError(forced.takeError());
            }
            if (watchdog && chip_->watchdogs.reset_supported) return reset(AfterReset::Watchdog);
        }
        llvm::outs() << "Hard resetting via RTS pin...\n";
        if (port_.hasControlLines()) {
            const bool over_usb =
                console_ == Console::UsbOtg ||
                (console_ == Console::UsbSerialJtag && chip_->usb_serial_jtag_leaves_bus_in_reset);
            playResetSequence(port_,
                              custom_hard_reset_ ? *custom_hard_reset_ : hardReset(over_usb));
        }
        return llvm::Error::success();
    case AfterReset::Soft: {
        llvm::outs() << "Soft resetting...\n";
        // The ROM leaves the loader when FLASH_END asks it to run the user code.
        std::vector<uint8_t> begin(16, 0);
        auto started = command(kFlashBegin, begin, 0, timeouts_.normal);
        if (!started) return started.takeError();
        std::vector<uint8_t> end = {0, 0, 0, 0};
        return sendOnly(kFlashEnd, end);
    }
    case AfterReset::None:
        llvm::outs() << "Staying in bootloader.\n";
        return llvm::Error::success();
    case AfterReset::NoneStub:
        llvm::outs() << "Staying in flasher stub.\n";
        return llvm::Error::success();
    }
    return llvm::Error::success();
}

llvm::Error Device::reconnect(const std::vector<ResetSequence> &resets, int attempts) {
    stub_.reset();
    stub_answered_sync_ = false;
    baud_ = 115200;
    if (auto failure = port_.setBaudRate(baud_)) return failure;
    // The security info taken from the ROM before the upload stays valid: it is the same chip.
    return connect(resets, attempts);
}

llvm::Error Device::disableWatchdogs() {
    const auto &watchdogs = chip_->watchdogs;
    if (!watchdogs.rwdt_config0) return llvm::Error::success();
    for (auto [address, value] :
         {std::pair{watchdogs.rwdt_write_protect, watchdogs.rwdt_key},
          std::pair{watchdogs.rwdt_config0, 0u}, std::pair{watchdogs.rwdt_write_protect, 0u}})
        if (auto failure = writeRegister(address, value)) return failure;
    if (!watchdogs.swd_config) return llvm::Error::success();
    if (auto failure = writeRegister(watchdogs.swd_write_protect, watchdogs.swd_key))
        return failure;
    auto config = readRegister(watchdogs.swd_config);
    if (!config) return config.takeError();
    if (auto failure = writeRegister(watchdogs.swd_config, *config | watchdogs.swd_auto_feed))
        return failure;
    return writeRegister(watchdogs.swd_write_protect, 0);
}

llvm::Expected<uint32_t> Device::readRegister(uint32_t address) {
    std::vector<uint8_t> data;
    put32(data, address);
    auto reply = command(kReadReg, data, 0, timeouts_.normal, 0, 3);
    if (!reply) return reply.takeError();
    return reply->value;
}

llvm::Error Device::writeRegister(uint32_t address, uint32_t value, uint32_t mask,
                                  uint32_t delay_us) {
    std::vector<uint8_t> data;
    for (uint32_t word : {address, value, mask, delay_us}) put32(data, word);
    auto reply = command(kWriteReg, data, 0, timeouts_.normal, 0, 3);
    return reply ? llvm::Error::success() : reply.takeError();
}

llvm::Expected<std::vector<uint8_t>> Device::securityInfo() {
    // Our stub leaves GET_SECURITY_INFO to the ROM, which answered it before the stub started.
    if (stub_) {
        if (rom_security_info_) return *rom_security_info_;
        return error("GET_SECURITY_INFO is answered by the ROM, and a flasher stub was already "
                     "running when this session began; reset the chip (--before default-reset) "
                     "or use --no-stub");
    }
    auto reply = command(kGetSecurityInfo, {}, 0, timeouts_.normal,
                         chip_ ? chip_->rom.security_info_bytes : 20);
    if (!reply) return reply.takeError();
    return reply->data;
}

llvm::Error Device::attachFlash() {
    if (stub_ && !chip_->rom.spi_attach) {
        // The ESP8266 stub attaches the flash when it starts; only other pins need telling.
        if (!spi_connection_) return llvm::Error::success();
        std::vector<uint8_t> data;
        put32(data, *spi_connection_);
        auto reply = command(kSpiAttach, data, 0, timeouts_.normal);
        return reply ? llvm::Error::success() : reply.takeError();
    }
    // Until attached, the flash does not answer (its id reads all ones), through a stub too.
    if (!stub_ && !chip_->rom.spi_attach) {
        // The ESP8266 ROM attaches the flash as part of FLASH_BEGIN.
        std::vector<uint8_t> begin(16, 0);
        auto reply = command(kFlashBegin, begin, 0, timeouts_.normal);
        return reply ? llvm::Error::success() : reply.takeError();
    }
    std::vector<uint8_t> data;
    put32(data, spi_connection_.value_or(0));
    put32(data, 0); // is_legacy: the ROM takes it, esptool always sends 0
    auto reply = command(kSpiAttach, data, 0, timeouts_.normal);
    return reply ? llvm::Error::success() : reply.takeError();
}

llvm::Error Device::setFlashSize(uint32_t bytes) {
    if (!chip_->rom.spi_set_params) return llvm::Error::success();
    std::vector<uint8_t> data;
    for (uint32_t word : {0u, bytes, 0x10000u, 0x1000u, 0x100u, 0xFFFFu}) put32(data, word);
    auto reply = command(kSpiSetParams, data, 0, timeouts_.normal);
    return reply ? llvm::Error::success() : reply.takeError();
}

llvm::Error Device::changeBaud(uint32_t baud) {
    if (console_ != Console::Uart) {
        llvm::outs() << "The chip's own USB has no baud rate: keeping the port as it is.\n";
        return llvm::Error::success();
    }
    if (!stub_ && !chip_->rom.change_baudrate) {
        llvm::outs() << "WARNING: ROM doesn't support changing baud rate. Keeping initial baud "
                        "rate 115200.\n";
        return llvm::Error::success();
    }
    uint32_t asked = baud;
    if (!stub_ && chip_->rom_crystal_calibration.present()) {
        // The ROM divides its own crystal estimate by the rate it is given: ask for the rate that
        // lands on `baud` with that estimate (esptool targets/esp32.py, change_baud).
        auto calibration = readRegister(chip_->rom_crystal_calibration.address);
        if (!calibration) return calibration.takeError();
        auto ck8m = readRegister(chip_->rom_ck8m_frequency.address);
        if (!ck8m) return ck8m.takeError();
        const double estimate = double(chip_->rom_crystal_calibration.extract(*calibration)) *
                                15625 * chip_->rom_ck8m_frequency.extract(*ck8m) / 40;
        const double crystal = estimate > 33e6 ? 40e6 : 26e6;
        if (estimate > 0) asked = uint32_t(std::floor(baud * estimate / crystal));
    }
    llvm::outs() << "Changing baud rate to " << baud << "...\n";
    std::vector<uint8_t> data;
    put32(data, asked);
    put32(data, stub_ ? baud_ : 0); // a stub scales its divider by new/old
    auto reply = command(kChangeBaudrate, data, 0, timeouts_.normal);
    if (!reply) return reply.takeError();
    llvm::outs() << "Changed.\n";
    baud_ = baud;
    if (auto failure = port_.setBaudRate(baud)) return failure;
    std::this_thread::sleep_for(milliseconds(port_.runsInRealTime() ? 50 : 0));
    port_.flushInput();
    return llvm::Error::success();
}

llvm::Expected<std::array<uint8_t, 16>>
Device::flashMd5Checked(uint32_t address, uint32_t size, const std::array<uint8_t, 16> &expected) {
    auto digest = flashMd5(address, size);
    if (!digest || *digest == expected) return digest;
    // A digest carries no checksum, and a damaged one looks like a real mismatch: a mismatch
    // stands once the chip gives the same answer twice.
    std::array<uint8_t, 16> previous = *digest;
    for (int attempt = 0; attempt < 3; ++attempt) {
        auto again = flashMd5(address, size);
        if (!again || *again == expected || *again == previous) return again;
        previous = *again;
    }
    return previous;
}

llvm::Expected<std::vector<std::array<uint8_t, 16>>>
Device::sectorDigests(uint32_t address, uint32_t size, uint32_t sector_size) {
    if (!stub_ || !stub_->sector_digests)
        return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                       "this stub cannot list sector digests");
    std::vector<std::array<uint8_t, 16>> digests;
    while (size > 0) {
        const uint32_t length = std::min<uint64_t>(size, uint64_t(kMaxSectorDigests) * sector_size);
        const uint32_t count = (length + sector_size - 1) / sector_size;
        std::vector<uint8_t> data;
        for (uint32_t word : {address, length, sector_size, 0u}) put32(data, word);
        auto reply = command(kSpiFlashSectorDigests, data, 0,
                             timeouts_.scaled(timeouts_.md5_per_mb_ms, length), size_t(count) * 16);
        if (!reply) return reply.takeError();
        for (uint32_t i = 0; i < count; ++i) {
            std::array<uint8_t, 16> digest{};
            std::copy_n(reply->data.begin() + i * 16, 16, digest.begin());
            digests.push_back(digest);
        }
        address += length;
        size -= length;
    }
    return digests;
}

llvm::Expected<std::array<uint8_t, 16>> Device::flashMd5(uint32_t address, uint32_t size) {
    std::vector<uint8_t> data;
    for (uint32_t word : {address, size, 0u, 0u}) put32(data, word);
    std::string hex;
    if (stub_) { // a stub answers with the 16 raw bytes
        auto reply =
            command(kSpiFlashMd5, data, 0, timeouts_.scaled(timeouts_.md5_per_mb_ms, size), 16);
        if (!reply) return reply.takeError();
        std::array<uint8_t, 16> digest{};
        std::copy(reply->data.begin(), reply->data.end(), digest.begin());
        return digest;
    }
    // Replies carry no checksum: text that is not 32 hex digits was damaged on the way, so ask
    // again.
    for (int attempt = 0; attempt < 3; ++attempt) {
        auto reply =
            command(kSpiFlashMd5, data, 0, timeouts_.scaled(timeouts_.md5_per_mb_ms, size), 32);
        if (!reply) return reply.takeError();
        hex.assign(reply->data.begin(), reply->data.end());
        std::string raw;
        if (llvm::tryGetFromHex(hex, raw) && raw.size() == 16) {
            std::array<uint8_t, 16> digest{};
            std::copy(raw.begin(), raw.end(), digest.begin());
            return digest;
        }
    }
    return error("SPI_FLASH_MD5 returned '" + hex + "', not 32 hex digits");
}

llvm::Expected<std::vector<uint8_t>>
Device::readFlash(uint32_t address, uint32_t size, const std::function<void(uint32_t)> &progress) {
    if (stub_) return readFlashThroughStub(address, size, progress);
    if (!chip_->rom.read_flash_slow) return readFlashThroughSpiRegisters(address, size, progress);
    // READ_FLASH_SLOW replies carry no checksum, so a byte damaged on the link would pass. Each
    // piece is compared with the chip's own MD5 of it; where they differ, it is read again and
    // each 64-byte reply is taken once two reads of it agree.
    constexpr uint32_t kCheckedPiece = 0x10000;
    std::vector<uint8_t> out;
    out.reserve(size);
    while (out.size() < size) {
        const uint32_t at = address + uint32_t(out.size());
        const uint32_t length = std::min<uint32_t>(kCheckedPiece, size - uint32_t(out.size()));
        const size_t done = out.size();
        auto piece = readFlashSlow(at, length, [&](uint32_t piece_done) {
            if (progress) progress(uint32_t(done + piece_done));
        });
        if (!piece) return piece.takeError();
        if (chip_->rom.spi_flash_md5) {
            auto checked = checkReadAgainstChipMd5(at, std::move(*piece));
            if (!checked) return checked.takeError();
            piece = std::move(*checked);
        }
        out.insert(out.end(), piece->begin(), piece->end());
    }
    return out;
}

llvm::Expected<std::vector<uint8_t>> Device::checkReadAgainstChipMd5(uint32_t address,
                                                                     std::vector<uint8_t> data) {
    auto md5Of = [](llvm::ArrayRef<uint8_t> bytes) {
        llvm::MD5 md5;
        md5.update(bytes);
        llvm::MD5::MD5Result result;
        md5.final(result);
        return std::array<uint8_t, 16>(result);
    };
    const uint32_t size = uint32_t(data.size());
    auto chip_md5 = flashMd5Checked(address, size, md5Of(data));
    if (!chip_md5) return chip_md5.takeError();
    if (*chip_md5 == md5Of(data)) return data;
    llvm::errs() << "Warning: the data read at 0x" << llvm::utohexstr(address, true)
                 << " differs from the chip's MD5 of it; reading it again.\n";
    auto second = readFlashSlow(address, size, nullptr);
    if (!second) return second.takeError();
    constexpr uint32_t kReply = 64;
    constexpr int kMostReads = 8;
    for (uint32_t offset = 0; offset < size; offset += kReply) {
        const uint32_t length = std::min(kReply, size - offset);
        std::vector<std::vector<uint8_t>> reads = {
            std::vector<uint8_t>(data.begin() + offset, data.begin() + offset + length),
            std::vector<uint8_t>(second->begin() + offset, second->begin() + offset + length)};
        auto agreed = [&]() -> const std::vector<uint8_t> * {
            for (size_t i = 0; i < reads.size(); ++i)
                for (size_t j = i + 1; j < reads.size(); ++j)
                    if (reads[i] == reads[j]) return &reads[i];
            return nullptr;
        };
        while (!agreed()) {
            if (reads.size() == kMostReads)
                return error("reading flash at 0x" + llvm::utohexstr(address + offset, true) +
                             ": " + std::to_string(kMostReads) +
                             " reads of the same 64 bytes all differ; the link damages data "
                             "(try a lower --baud)");
            auto again = readFlashSlow(address + offset, length, nullptr);
            if (!again) return again.takeError();
            reads.push_back(std::move(*again));
        }
        std::copy(agreed()->begin(), agreed()->end(), data.begin() + offset);
    }
    if (md5Of(data) != *chip_md5)
        return error("reading flash at 0x" + llvm::utohexstr(address, true) + " (0x" +
                     llvm::utohexstr(size, true) +
                     " bytes): the data read twice still differs from the chip's MD5 of it");
    return data;
}

llvm::Expected<std::vector<uint8_t>>
Device::readFlashSlow(uint32_t address, uint32_t size,
                      const std::function<void(uint32_t)> &progress) {
    std::vector<uint8_t> out;
    out.reserve(size);
    while (out.size() < size) {
        uint32_t length = std::min<uint32_t>(64, size - uint32_t(out.size()));
        std::vector<uint8_t> data;
        put32(data, address + uint32_t(out.size()));
        put32(data, length);
        auto reply = command(kReadFlashSlow, data, 0, timeouts_.normal, 64, 3);
        if (!reply)
            return error("reading flash at 0x" + llvm::utohexstr(address + out.size(), true) +
                         " failed: " + llvm::toString(reply.takeError()));
        out.insert(out.end(), reply->data.begin(), reply->data.begin() + length);
        if (progress) progress(uint32_t(out.size()));
    }
    return out;
}

// A ROM without a read command (the ESP8266's): 64-byte READ (03h) transactions through the SPI
// controller's registers, about 28 round trips each.
llvm::Expected<std::vector<uint8_t>>
Device::readFlashThroughSpiRegisters(uint32_t address, uint32_t size,
                                     const std::function<void(uint32_t)> &progress) {
    constexpr uint8_t kRead = 0x03;
    std::vector<uint8_t> out;
    out.reserve(size);
    while (out.size() < size) {
        const uint32_t at = address + uint32_t(out.size());
        const unsigned length = std::min<uint32_t>(64, size - uint32_t(out.size()));
        auto bytes = spiTransaction(kRead, {}, length, at, 24);
        if (!bytes)
            return error("reading flash at 0x" + llvm::utohexstr(at, true) +
                         " through the SPI registers failed: " + llvm::toString(bytes.takeError()));
        out.insert(out.end(), bytes->begin(), bytes->end());
        if (progress) progress(uint32_t(out.size()));
    }
    return out;
}

llvm::Expected<uint32_t> Device::spiCommand(uint8_t spi_command, std::span<const uint8_t> mosi,
                                            unsigned read_bits, std::optional<uint32_t> address,
                                            unsigned address_bits, unsigned dummy_bits) {
    if (read_bits > 32)
        return error("Reading more than 32 bits back from a SPI flash operation is unsupported");
    auto words = spiRun(spi_command, mosi, read_bits, address, address_bits, dummy_bits);
    if (!words) return words.takeError();
    return words->empty() ? 0 : words->front();
}

llvm::Expected<std::vector<uint8_t>>
Device::spiTransaction(uint8_t spi_command, std::span<const uint8_t> mosi, unsigned read_bytes,
                       std::optional<uint32_t> address, unsigned address_bits) {
    if (read_bytes > 64)
        return error("Reading more than 64 bytes back from a SPI flash operation is unsupported");
    auto words = spiRun(spi_command, mosi, read_bytes * 8, address, address_bits, 0);
    if (!words) return words.takeError();
    std::vector<uint8_t> bytes;
    for (uint32_t word : *words)
        for (int i = 0; i < 4 && bytes.size() < read_bytes; ++i)
            bytes.push_back(uint8_t(word >> (8 * i)));
    return bytes;
}

// The SPI controller's user-command engine over READ_REG/WRITE_REG, its registers as the ROM had
// them restored afterwards (esptool's run_spiflash_command); the W registers read back.
llvm::Expected<std::vector<uint32_t>>
Device::spiRun(uint8_t spi_command, std::span<const uint8_t> mosi, unsigned read_bits,
               std::optional<uint32_t> address, unsigned address_bits, unsigned dummy_bits) {
    const auto &spi = chip_->spi;
    if (mosi.size() > 64)
        return error("Writing more than 64 bytes of data with one SPI command is unsupported");
    auto usr = readRegister(spi.base + spi.usr);
    if (!usr) return usr.takeError();
    auto usr2 = readRegister(spi.base + spi.usr2);
    if (!usr2) return usr2.takeError();
    const uint32_t mosi_bits = uint32_t(mosi.size()) * 8;
    uint32_t flags = 1u << 31;
    if (read_bits) flags |= 1u << 28;
    if (mosi_bits) flags |= 1u << 27;
    if (address) flags |= 1u << 30;
    if (dummy_bits) flags |= 1u << 29;
    uint32_t usr1 = (dummy_bits ? dummy_bits - 1 : 0) | (address ? (address_bits - 1) << 26 : 0);

    if (spi.mosi_dlen) {
        if (mosi_bits)
            if (auto e = writeRegister(spi.base + *spi.mosi_dlen, mosi_bits - 1)) return e;
        if (read_bits)
            if (auto e = writeRegister(spi.base + *spi.miso_dlen, read_bits - 1)) return e;
        if (usr1)
            if (auto e = writeRegister(spi.base + spi.usr1, usr1)) return e;
    } else {
        usr1 |= (read_bits ? (read_bits - 1) << 8 : 0) | (mosi_bits ? (mosi_bits - 1) << 17 : 0);
        if (auto e = writeRegister(spi.base + spi.usr1, usr1)) return e;
    }
    if (auto e = writeRegister(spi.base + spi.usr, flags)) return e;
    if (auto e = writeRegister(spi.base + spi.usr2, (7u << 28) | spi_command)) return e;
    if (address)
        if (auto e = writeRegister(
                spi.base + 4, spi.address_msb_aligned ? *address << (32 - address_bits) : *address))
            return e;
    if (mosi.empty()) {
        if (auto e = writeRegister(spi.base + spi.w0, 0)) return e;
    } else {
        for (size_t i = 0; i < mosi.size(); i += 4) {
            uint32_t word = 0;
            for (size_t j = 0; j < 4 && i + j < mosi.size(); ++j)
                word |= uint32_t(mosi[i + j]) << (8 * j);
            if (auto e = writeRegister(spi.base + spi.w0 + uint32_t(i), word)) return e;
        }
    }
    if (auto e = writeRegister(spi.base, 1u << 18)) return e;
    bool done = false;
    for (int poll = 0; poll < 10 && !done; ++poll) {
        auto cmd = readRegister(spi.base);
        if (!cmd) return cmd.takeError();
        done = !(*cmd & (1u << 18));
    }
    if (!done) return error("SPI command did not complete in time");
    std::vector<uint32_t> words;
    for (uint32_t at = 0; at < std::max(read_bits, 1u); at += 32) {
        auto word = readRegister(spi.base + spi.w0 + at / 8);
        if (!word) return word.takeError();
        words.push_back(*word);
    }
    if (auto e = writeRegister(spi.base + spi.usr, *usr)) return e;
    if (auto e = writeRegister(spi.base + spi.usr2, *usr2)) return e;
    return words;
}

llvm::Expected<uint32_t> Device::flashId() {
    if (cached_flash_id_) return (*cached_flash_id_)[0];
    auto id = spiCommand(0x9F, {}, 24);
    if (!id) return id.takeError();
    cached_flash_id_ = std::array<uint32_t, 1>{*id};
    return *id;
}

// READ_FLASH (protocol.md §9.1): raw data frames, each acknowledged with the total received so
// far, then the MD5 of the whole range.
llvm::Expected<std::vector<uint8_t>>
Device::readFlashThroughStub(uint32_t address, uint32_t size,
                             const std::function<void(uint32_t)> &progress) {
    constexpr uint32_t kPacket = 0x1000, kInFlight = 64;
    std::vector<uint8_t> request;
    for (uint32_t word : {address, size, kPacket, kInFlight}) put32(request, word);
    auto started = command(kReadFlash, request, 0, timeouts_.normal);
    if (!started) return started.takeError();
    std::vector<uint8_t> out;
    out.reserve(size);
    auto where = [&] { return "0x" + llvm::utohexstr(address + out.size(), true); };
    while (out.size() < size) {
        auto frame = readFrame(timeouts_.normal);
        if (!frame) return frame.takeError();
        if (!*frame)
            return error("reading flash stopped at " + where() + ": the stub stopped sending");
        const auto &bytes = **frame;
        if (bytes.size() != std::min<size_t>(kPacket, size - out.size()))
            return error("reading flash at " + where() + ": corrupt data, expected 0x" +
                         llvm::utohexstr(std::min<size_t>(kPacket, size - out.size())) +
                         " bytes but received 0x" + llvm::utohexstr(bytes.size()) + " bytes");
        out.insert(out.end(), bytes.begin(), bytes.end());
        std::vector<uint8_t> ack;
        put32(ack, uint32_t(out.size()));
        traceWrite(ack);
        if (auto failure = port_.write(slip::encode(ack))) return failure;
        if (progress) progress(uint32_t(out.size()));
    }
    auto digest = readFrame(timeouts_.normal);
    if (!digest) return digest.takeError();
    if (!*digest || (*digest)->size() != 16)
        return error("reading flash: expected the stub's 16-byte digest after the data");
    llvm::MD5 md5;
    md5.update(llvm::ArrayRef<uint8_t>(out.data(), out.size()));
    llvm::MD5::MD5Result result;
    md5.final(result);
    if (!std::equal(result.Bytes.begin(), result.Bytes.end(), (*digest)->begin()))
        return error("reading flash: digest mismatch: expected " +
                     llvm::toHex(llvm::ArrayRef<uint8_t>(**digest), true) + ", got " +
                     std::string(result.digest().str()));
    return out;
}

llvm::Error Device::loadRam(uint32_t address, std::span<const uint8_t> bytes) {
    const uint32_t size = uint32_t(bytes.size());
    if (stub_ && stub_->overlaps(address, address + size)) {
        char text[300];
        std::snprintf(text, sizeof text,
                      "Stub flasher is resident at %s. Can't load binary at overlapping address "
                      "range 0x%08x-0x%08x. Either change binary loading address, or disable the "
                      "stub flasher (--no-stub).",
                      stub_->residentRanges().c_str(), address, address + size);
        return error(text);
    }
    const uint32_t block = ramBlockSize();
    const uint32_t blocks = (size + block - 1) / block;
    std::vector<uint8_t> begin;
    for (uint32_t word : {size, blocks, block, address}) put32(begin, word);
    auto started = command(kMemBegin, begin, 0, timeouts_.normal);
    if (!started) return started.takeError();
    for (uint32_t i = 0; i < blocks; ++i) {
        auto chunk =
            bytes.subspan(size_t(i) * block, std::min<size_t>(block, size - size_t(i) * block));
        std::vector<uint8_t> data;
        for (uint32_t word : {uint32_t(chunk.size()), i, 0u, 0u}) put32(data, word);
        data.insert(data.end(), chunk.begin(), chunk.end());
        uint8_t sum = 0xEF;
        for (uint8_t byte : chunk) sum ^= byte;
        auto sent = command(kMemData, data, sum, timeouts_.normal, 0, 3);
        if (!sent)
            return error("Loading stopped at 0x" + llvm::utohexstr(address + i * block, true) +
                         ": " + llvm::toString(sent.takeError()));
    }
    return llvm::Error::success();
}

llvm::Error Device::startRam(uint32_t entry) {
    std::vector<uint8_t> end;
    put32(end, entry == 0 ? 1 : 0);
    put32(end, entry);
    // The ROM may jump before it answers; a missing reply is expected.
    auto finished = command(kMemEnd, end, 0, milliseconds(200), 0, 1);
    if (!finished) llvm::consumeError(finished.takeError());
    return llvm::Error::success();
}

llvm::Error Device::runStub(StubImage stub) {
    if (stub_answered_sync_) {
        llvm::outs() << "Stub flasher is already running. No upload is necessary.\n";
        stub_ = std::move(stub);
        stub_->numbers_data_answers = false; // it may be another tool's stub
        stub_->sector_digests = false;
        return llvm::Error::success();
    }
    if (chip_ && chip_->rom.security_info_bytes) {
        auto info =
            command(kGetSecurityInfo, {}, 0, timeouts_.normal, chip_->rom.security_info_bytes, 3);
        if (info)
            rom_security_info_ = std::move(info->data);
        else
            llvm::consumeError(info.takeError());
    }
    llvm::outs() << "Uploading stub flasher...\n";
    if (auto failure = loadRam(stub.text_start, stub.text)) return failure;
    if (!stub.data.empty())
        if (auto failure = loadRam(stub.data_start, stub.data)) return failure;
    llvm::outs() << "Running stub flasher...\n";
    std::vector<uint8_t> end;
    put32(end, 0);
    put32(end, stub.entry);
    // Sent once: a second MEM_END would reach the stub, not the ROM. A damaged reply leaves the
    // stub running all the same, which the greeting or a SYNC shows.
    auto started = command(kMemEnd, end, 0, timeouts_.normal, 0, 1);
    std::optional<std::optional<std::vector<uint8_t>>> greeting;
    std::string problem;
    if (started) {
        auto frame = readFrame(timeouts_.normal);
        if (!frame) return frame.takeError();
        greeting = std::move(*frame);
    } else {
        problem = "Failed to start stub flasher: " + llvm::toString(started.takeError());
    }
    static constexpr uint8_t kOhai[] = {'O', 'H', 'A', 'I'};
    if (!greeting)
        ; // the MEM_END problem stands unless a SYNC finds the stub
    else if (!*greeting)
        problem = "Failed to start stub flasher. There was no response.";
    else if (!std::equal((*greeting)->begin(), (*greeting)->end(), std::begin(kOhai),
                         std::end(kOhai)))
        problem = "Failed to start stub flasher. Unexpected response: " +
                  llvm::toHex(llvm::ArrayRef<uint8_t>(**greeting), true);
    // A greeting damaged on the way does not mean the stub is not running: it answers SYNC
    // with 0 where the ROM would answer otherwise.
    for (int attempt = 0; !problem.empty() && attempt < 3; ++attempt) {
        port_.flushInput();
        pending_.clear();
        decoder_.reset();
        if (auto failure = sync())
            llvm::consumeError(std::move(failure));
        else if (stub_answered_sync_)
            problem.clear();
    }
    if (!problem.empty()) return error(problem);
    stub_ = std::move(stub);
    // A stub that greets but does not serve (wrong build, clobbered RAM) is found here, before
    // anything depends on it. The MAC word is a register every chip answers from (the
    // chip-detect word is flash-mapped on some).
    if (auto magic = readRegister(chip_->mac_efuse_reg); !magic) {
        stub_.reset();
        return error("The stub flasher started but did not answer its first command (" +
                     llvm::toString(magic.takeError()) + ").");
    }
    llvm::outs() << "Stub flasher running.\n";
    return llvm::Error::success();
}

llvm::Error Device::eraseFlash() {
    auto reply = command(kEraseFlash, {}, 0, timeouts_.max);
    return reply ? llvm::Error::success() : reply.takeError();
}

llvm::Error Device::eraseRegion(uint32_t address, uint32_t size) {
    std::vector<uint8_t> data;
    put32(data, address);
    put32(data, size);
    auto reply = command(kEraseRegion, data, 0, timeouts_.scaled(timeouts_.erase_per_mb_ms, size));
    return reply ? llvm::Error::success() : reply.takeError();
}

} // namespace esptools::loader
