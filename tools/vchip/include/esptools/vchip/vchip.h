// esp-vchip: a virtual Espressif chip behind a UART. This header is the whole in-process interface
// the loader may use (its `vchip:CHIP[?options]` port): bytes in, bytes out, control lines, baud.
// Nothing else of the virtual chip is visible to the loader, so a bug in one is not mirrored by
// the other.
#pragma once

#include "esptools/chipdb/chip.h"

#include <llvm/Support/Error.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

namespace esptools::vchip {

struct FaultOptions {
    uint64_t seed = 1;
    double drop_rate = 0;       // probability that a byte (either direction) is lost
    double corrupt_rate = 0;    // probability that a byte the chip sends is changed
    double corrupt_in_rate = 0; // probability that a byte the host sends is changed
    uint32_t stall_ms = 0; // the chip stops answering for this long, once, after stall_after_bytes
    uint64_t stall_after_bytes = 0;
    std::optional<uint64_t>
        disconnect_after_bytes;              // the link dies after this many host->chip bytes
    std::optional<uint32_t> fail_program_at; // page program at this flash address fails
};

// The port the ROM's download mode runs on: UART0 behind a USB-UART bridge, the chip's own
// USB-Serial-JTAG (the host sees a CDC-ACM device, Espressif's VID 0x303A and PID 0x1001), or
// USB-OTG's CDC (PID: the chip's image id).
enum class Console : uint8_t { Uart, UsbSerialJtag, UsbOtg };

struct Options {
    const chipdb::ChipDescription *chip = nullptr;
    std::string flash_file; // empty: contents live in memory only
    uint32_t flash_size = 4u << 20;
    uint32_t jedec_id = 0; // 0: a typical id for flash_size (manufacturer 0xC8)
    uint8_t mac[6] = {0x24, 0x0A, 0xC4, 0x12, 0x34, 0x56};
    uint32_t revision = 0; // major * 100 + minor
    bool timing = false;   // real-time UART and flash timings
    Console console = Console::Uart;
    // An RTC watchdog the app left running fires this long after a reset over USB-Serial-JTAG,
    // which does not stop it (esptool targets/esp32c3.py, disable_watchdogs); 0: none.
    uint32_t app_watchdog_ms = 0;
    FaultOptions faults;
};

// Why the virtual chip cannot run code for this chip (a flasher stub, a load_ram image), or an
// empty string when it can.
std::string whyCannotExecute(const chipdb::ChipDescription &chip);

// Parses the text after "vchip:" in a port name: "esp32c3?flash=build/flash.bin&size=4MB&timing=1".
llvm::Expected<Options> parsePortSpec(const std::string &spec);

class VirtualChip {
public:
    static llvm::Expected<std::unique_ptr<VirtualChip>> create(const Options &options);
    virtual ~VirtualChip() = default;

    // Host side of the UART.
    virtual void write(std::span<const uint8_t> bytes) = 0;
    // Waits up to timeout for at least one byte; returns how many were copied (0 on timeout).
    // After a simulated disconnect it returns 0 at once and connected() is false.
    virtual size_t read(std::span<uint8_t> buffer, std::chrono::milliseconds timeout) = 0;
    virtual void setBaudRate(uint32_t baud) = 0;
    virtual bool connected() const = 0;
    // When read() will next have something new: output due to arrive, or paused code due to run
    // on (the timing model); nullopt when only the host's next write can start anything. A
    // server that waits for the host in between wakes then, not a polling interval later.
    virtual std::optional<std::chrono::steady_clock::time_point> nextEvent() const = 0;

    // Control lines as wired on Espressif dev boards (DTR -> GPIO0 via transistor, RTS -> EN):
    // EN low then high with GPIO0 low enters download mode, with GPIO0 high boots from flash.
    virtual void setDtr(bool asserted) = 0;
    virtual void setRts(bool asserted) = 0;

    // Convenience resets for clients without control lines, and a power cycle (volatile flash
    // status bits are lost, contents and non-volatile bits kept).
    virtual void resetIntoDownloadMode() = 0;
    virtual void resetAndBoot() = 0;
    virtual void powerCycle() = 0;
};

} // namespace esptools::vchip
