// Byte streams to a chip: serial devices (termios), raw TCP (socket://), and the in-process
// virtual chip (vchip:CHIP[?options]).
#pragma once

#include <llvm/Support/Error.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

namespace esptools::loader {

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
    // False for links that cannot reset the chip (TCP): the loader then skips reset pulses.
    virtual bool hasControlLines() const = 0;
    virtual const std::string &name() const = 0;
    void flushInput();
};

llvm::Expected<std::unique_ptr<Port>> openPort(const std::string &name, uint32_t baud);

} // namespace esptools::loader
