// The ROM loader protocol from the host side (../shared/reference/protocol.md): requests,
// reply matching, retries, connecting and chip detection, and the operations commands build on.
// The flasher stub will plug in behind the same operations.
#pragma once

#include "esptools/chipdb/chip.h"
#include "esptools/loader/port.h"
#include "esptools/loader/reset.h"
#include "esptools/loader/stub.h"
#include "esptools/slip/slip.h"

#include <llvm/Support/Error.h>

#include <array>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace esptools::loader {

using std::chrono::milliseconds;

enum class BeforeReset { Default, Usb, None, NoneNoSync };
enum class AfterReset { Hard, Soft, None, NoneStub, Watchdog };
// The port the ROM talks on: UART0 (behind a bridge), or one of the chip's own USB peripherals.
enum class Console { Uart, UsbSerialJtag, UsbOtg };

struct Reply {
    uint32_t value = 0;
    std::vector<uint8_t> data; // reply data before the status bytes
};

struct Timeouts {
    milliseconds normal{3000};
    milliseconds sync{100};
    double erase_per_mb_ms = 40'000;
    double md5_per_mb_ms = 8'000;
    milliseconds max{240'000};
    milliseconds scaled(double per_mb_ms, uint64_t bytes) const;
};

class Device {
public:
    Device(Port &port, bool trace) : port_(port), trace_(trace) {}

    Port &port() { return port_; }
    const chipdb::ChipDescription *chip() const { return chip_; }
    void setChip(const chipdb::ChipDescription *chip) { chip_ = chip; }
    Timeouts &timeouts() { return timeouts_; }

    // Up to `attempts` times (0: forever): plays the next reset sequence in turn (none: no reset)
    // and tries to sync.
    llvm::Error connect(const std::vector<ResetSequence> &resets, int attempts);
    // A custom_hard_reset_sequence from the configuration file, in place of esptool's.
    void setHardResetSequence(ResetSequence steps) { custom_hard_reset_ = std::move(steps); }
    // SPI_ATTACH's pin word (--spi-connection); nullopt: the ROM's default.
    void setSpiConnection(std::optional<uint32_t> pins) { spi_connection_ = pins; }
    // GET_SECURITY_INFO's chip id, else the magic word; checks `expected` when given.
    llvm::Expected<const chipdb::ChipDescription *> detect(const chipdb::ChipDescription *expected);
    llvm::Error reset(AfterReset after);
    // After a stub that did not start: plays the reset sequences again, syncs with the ROM at
    // 115200 baud and forgets the stub.
    llvm::Error reconnect(const std::vector<ResetSequence> &resets, int attempts);

    // Over the chip's own USB there is no baud rate; USB-Serial-JTAG's reset leaves the RTC
    // watchdogs running; USB-OTG takes smaller RAM blocks and a watchdog for a hard reset.
    void setConsole(Console console) { console_ = console; }
    Console console() const { return console_; }
    // esptool's disable_watchdogs: the RTC watchdog off, the super watchdog fed by itself.
    llvm::Error disableWatchdogs();

    // One request and its checked reply. Retries a corrupted or lost reply `attempts` times.
    // Sends a request and waits for its answer, resending up to `attempts` times. With
    // expected_value, answers whose value field differs are taken as late answers to earlier
    // requests and skipped (our stub numbers its answers to data blocks).
    llvm::Expected<Reply> command(uint8_t op, std::span<const uint8_t> data, uint32_t checksum,
                                  milliseconds timeout, size_t reply_data_length = 0,
                                  int attempts = 3,
                                  std::optional<uint32_t> expected_value = std::nullopt);
    llvm::Error sendOnly(uint8_t op, std::span<const uint8_t> data);
    // The failure status (C6, 01 05, ...) of the last command() that ended on the chip's verdict;
    // 0 when it ended otherwise.
    uint8_t lastFailureStatus() const { return last_failure_status_; }

    // Operations of the ROM loader.
    llvm::Expected<uint32_t> readRegister(uint32_t address);
    llvm::Error writeRegister(uint32_t address, uint32_t value, uint32_t mask = 0xFFFFFFFF,
                              uint32_t delay_us = 0);
    llvm::Expected<std::vector<uint8_t>> securityInfo();
    llvm::Error attachFlash();
    llvm::Error setFlashSize(uint32_t bytes);
    llvm::Error changeBaud(uint32_t baud);
    // flashMd5, asked again on a mismatch until the chip repeats its answer.
    llvm::Expected<std::array<uint8_t, 16>>
    flashMd5Checked(uint32_t address, uint32_t size, const std::array<uint8_t, 16> &expected);
    llvm::Expected<std::array<uint8_t, 16>> flashMd5(uint32_t address, uint32_t size);
    // The MD5 of each sector_size piece of [address, address + size) in as few requests as our
    // stub allows (StubImage::sector_digests; an error with any other stub or the ROM).
    llvm::Expected<std::vector<std::array<uint8_t, 16>>>
    sectorDigests(uint32_t address, uint32_t size, uint32_t sector_size);
    // READ_FLASH with acknowledgements through the stub, READ_FLASH_SLOW through the ROM.
    llvm::Expected<std::vector<uint8_t>> readFlash(uint32_t address, uint32_t size,
                                                   const std::function<void(uint32_t)> &progress);

    // RAM download (MEM_BEGIN/MEM_DATA) of one region, then MEM_END; refused where it would
    // overwrite a running stub.
    llvm::Error loadRam(uint32_t address, std::span<const uint8_t> bytes);
    llvm::Error startRam(uint32_t entry);

    // Uploads the flasher stub through the ROM, waits for its greeting, and from then on speaks
    // its protocol: 16 KiB blocks, raw MD5, READ_FLASH, ERASE_FLASH, ERASE_REGION.
    llvm::Error runStub(StubImage stub);
    const StubImage *stub() const { return stub_ ? &*stub_ : nullptr; }
    // SYNC was answered as a stub answers it: an earlier session's stub is still running.
    bool stubAlreadyRunning() const { return stub_answered_sync_; }
    llvm::Error eraseFlash();                                 // stub only
    llvm::Error eraseRegion(uint32_t address, uint32_t size); // stub only
    // The SPI user-command engine over READ_REG/WRITE_REG (flash id, status registers).
    llvm::Expected<uint32_t> spiCommand(uint8_t command, std::span<const uint8_t> mosi = {},
                                        unsigned read_bits = 0,
                                        std::optional<uint32_t> address = std::nullopt,
                                        unsigned address_bits = 0, unsigned dummy_bits = 0);
    // The same with up to 64 bytes back (the controller's W0..W15).
    llvm::Expected<std::vector<uint8_t>>
    spiTransaction(uint8_t command, std::span<const uint8_t> mosi, unsigned read_bytes,
                   std::optional<uint32_t> address, unsigned address_bits);
    llvm::Expected<uint32_t> flashId();

    // Bytes read from the port after the last reply (what the chip printed since), handed over
    // once.
    std::vector<uint8_t> takeUnreadBytes() { return std::exchange(pending_, {}); }

    // esptool's ESP_RAM_BLOCK and FLASH_WRITE_SIZE, both USB_RAM_BLOCK over USB-OTG.
    uint32_t ramBlockSize() const {
        return console_ == Console::UsbOtg ? chip_->usb_otg.max_block : 0x1800;
    }
    uint32_t flashBlockSize() const {
        if (!stub_) return 0x400;
        return console_ == Console::UsbOtg ? chip_->usb_otg.max_block : 0x4000;
    }
    uint32_t baud() const { return baud_; }

private:
    llvm::Expected<std::optional<std::vector<uint8_t>>> readFrame(milliseconds timeout);
    llvm::Error sync();
    llvm::Expected<std::vector<uint8_t>>
    readFlashThroughStub(uint32_t address, uint32_t size,
                         const std::function<void(uint32_t)> &progress);
    llvm::Expected<std::vector<uint8_t>> checkReadAgainstChipMd5(uint32_t address,
                                                                 std::vector<uint8_t> data);
    llvm::Expected<std::vector<uint8_t>>
    readFlashSlow(uint32_t address, uint32_t size, const std::function<void(uint32_t)> &progress);
    llvm::Expected<std::vector<uint8_t>>
    readFlashThroughSpiRegisters(uint32_t address, uint32_t size,
                                 const std::function<void(uint32_t)> &progress);
    llvm::Expected<std::vector<uint32_t>> spiRun(uint8_t command, std::span<const uint8_t> mosi,
                                                 unsigned read_bits,
                                                 std::optional<uint32_t> address,
                                                 unsigned address_bits, unsigned dummy_bits);
    void trace(const std::string &message, bool blank_line_before = false);
    void traceWrite(std::span<const uint8_t> packet);

    Port &port_;
    bool trace_;
    std::optional<std::chrono::steady_clock::time_point> last_trace_;
    const chipdb::ChipDescription *chip_ = nullptr;
    slip::Decoder decoder_;
    std::vector<uint8_t> pending_;
    Timeouts timeouts_;
    std::optional<std::array<uint32_t, 1>> cached_flash_id_;
    std::optional<ResetSequence> custom_hard_reset_;
    std::optional<uint32_t> spi_connection_;
    std::optional<StubImage> stub_;
    bool stub_answered_sync_ = false;
    Console console_ = Console::Uart;
    uint8_t last_failure_status_ = 0;
    std::optional<std::vector<uint8_t>> rom_security_info_; // asked before the stub took over
    uint32_t baud_ = 115200;
};

// esptool's ROM error codes as text.
std::string describeStatus(uint8_t status, uint8_t error);

} // namespace esptools::loader
