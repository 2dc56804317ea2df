// Byte streams to a chip: serial devices (termios), raw TCP (socket://), RFC 2217 servers
// (rfc2217://), and the in-process virtual chip (vchip:CHIP[?options]).
#pragma once

#include <llvm/Support/Error.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace esptools::loader {

struct UsbId {
    // Espressif's USB vendor id, and the product id of the chips' USB-Serial-JTAG (esptool v5.3
    // uses both to tell a chip's own USB from a USB-UART bridge; USB-OTG's product id is the
    // chip's image id).
    static constexpr uint16_t kEspressifVid = 0x303A;
    static constexpr uint16_t kUsbSerialJtagPid = 0x1001;

    uint16_t vid = 0;
    uint16_t pid = 0;

    // The chip's own USB peripheral, which leaves the bus when the chip resets.
    bool espressif() const { return vid == kEspressifVid; }
};

class Port {
public:
    virtual ~Port() = default;
    virtual llvm::Error write(std::span<const uint8_t> bytes) = 0;
    // Waits up to timeout for at least one byte; returns how many arrived (0: timed out).
    virtual llvm::Expected<size_t> read(std::span<uint8_t> buffer,
                                        std::chrono::milliseconds timeout) = 0;
    virtual llvm::Error setBaudRate(uint32_t baud) = 0;
    virtual void setDtr(bool asserted) = 0;
    virtual void setRts(bool asserted) = 0;
    // Both lines in one step where the driver allows it (esptool's "Unix tight" reset).
    virtual void setDtrRts(bool dtr, bool rts) {
        setDtr(dtr);
        setRts(rts);
    }
    virtual bool setsBothLinesAtOnce() const { return false; }
    // False for links that cannot reset the chip (TCP): the loader then skips reset pulses.
    virtual bool hasControlLines() const = 0;
    // True for a serial device whose driver refuses the modem lines (a pseudo-terminal): esptool
    // warns there that the chip was not reset, where a TCP link quietly has none.
    virtual bool refusesControlLines() const { return false; }
    // False where time is simulated (the in-process chip): reset waits are skipped.
    virtual bool runsInRealTime() const { return true; }
    virtual std::optional<UsbId> usbId() const { return std::nullopt; }
    // Why the device behind this port cannot run uploaded code, or empty (a board can).
    virtual std::string whyCodeCannotRun() const { return {}; }
    virtual const std::string &name() const = 0;
    void flushInput();
};

llvm::Expected<std::unique_ptr<Port>> openPort(const std::string &name, uint32_t baud);

struct SerialPortInfo {
    std::string device; // /dev/ttyUSB0
    std::optional<UsbId> usb;
    std::string product;
    std::string serial_number;
};

// USB serial ports found under a sysfs tty class directory (normally /sys/class/tty), in the
// order esptool tries them: Espressif's VID first, then ttyUSB before ttyACM, then by name.
std::vector<SerialPortInfo> listUsbSerialPorts(const std::string &sysfs_tty = "/sys/class/tty",
                                               const std::string &dev = "/dev");
// This machine's USB serial ports: listUsbSerialPorts under $SYSFS_PATH/class/tty (SYSFS_PATH as
// libudev reads it; /sys when unset), their device nodes under $ESPTOOLS_DEV_PATH (/dev when
// unset), so that a jig's script, or a test, can present the ports it means.
std::vector<SerialPortInfo> listSystemSerialPorts();

// esptool's --port-filter: vid=N, pid=N, name=SUBSTR, serial=SUBSTR; one key's values are OR-ed,
// different keys AND-ed.
llvm::Expected<std::vector<SerialPortInfo>> filterPorts(std::vector<SerialPortInfo> ports,
                                                        const std::vector<std::string> &filters);

} // namespace esptools::loader
