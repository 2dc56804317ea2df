// A RISC-V core for the virtual chip, in unicorn: the chip's RAM windows are mapped, the ROM window
// answers each call to a known routine (from the chip description) on the host, and peripheral
// register pages are served by the chip through Bus. The core persists between runs, so code that
// waits for input (a flasher stub) stops when idle and resumes when bytes arrive.
#pragma once

#include "esptools/chipdb/chip.h"
#include "esptools/vchip/vchip.h"

#include <llvm/Support/Error.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace esptools::vchip {

struct LoadedSegment {
    uint32_t address;
    std::vector<uint8_t> data;
};

class SpiFlash;

// What running code reaches outside RAM: the chip's side of the ROM routines and registers.
class Bus {
public:
    virtual ~Bus() = default;
    virtual void uartSend(uint8_t byte) = 0;
    virtual std::optional<uint8_t> uartReceive() = 0;
    // uart_tx_wait_idle: the code's time moves on until the last byte queued has left.
    virtual void waitTransmitIdle() = 0;
    // uart_div_modify: a new divider, (clock << 4) / baud, taking effect at once.
    virtual void setUartDivider(uint32_t divider_sixteenths) = 0;
    virtual void delay(uint32_t microseconds) = 0;
    // The code ran the ROM's flash attach.
    virtual void flashAttached() = 0;
    virtual SpiFlash &flash() = 0;
    // The ROM's flash routines return when the part is idle: the flash's busy time since the last
    // call is charged to the code's clock.
    virtual void flashWaitIdle() = 0;
    // Where the ROM's UartDevice record lies in RAM; 0 when this model does not know.
    virtual uint32_t uartDeviceAddress() = 0;
    // What GetSecurityInfoProc fills in: the ROM's GET_SECURITY_INFO answer.
    virtual std::vector<uint8_t> securityInfo() = 0;
    virtual uint32_t readRegister(uint32_t address) = 0;
    virtual void writeRegister(uint32_t address, uint32_t value) = 0;
    // The CPU interrupt lines whose sources are raised (bit n: line n), and a line whose handler
    // the code has replaced with its own (the ROM no longer takes that source's input).
    virtual uint32_t interruptLines() = 0;
    virtual void interruptHandlerAttached(unsigned line) = 0;
    // Asked after each register access: true when the code only waits for input that has not
    // come, so the run may stop until the host sends more.
    virtual bool idle() = 0;
    // The code spins with nothing to do until an interrupt: true once one is raised (time may
    // move on to the next arrival), false when the run must stop and wait for the host.
    virtual bool waitForInterrupt() = 0;
    // CPU cycles the code has used since the last call: one per instruction the core ran, plus
    // what a ROM routine run on the host would have taken. The timing model moves the code's clock
    // on by them; without it they cost nothing.
    virtual void retire(uint64_t cycles) = 0;
};

class RiscVCore {
public:
    enum class Stop { Idle, Returned, OutOfTime, SoftwareReset };

    // Maps memory, loads the segments and sets the entry point; `peripherals` are the register
    // pages (4 KiB each) the bus serves.
    static llvm::Expected<std::unique_ptr<RiscVCore>>
    create(const chipdb::ChipDescription &chip, std::span<const LoadedSegment> segments,
           uint32_t entry, std::span<const uint32_t> peripherals, Bus &bus);
    ~RiscVCore();

    // Runs until the code is idle, returns from its entry function, or `budget` of host time is
    // used. A fault (illegal instruction, unmapped access, an unserved ROM routine) is an error.
    llvm::Expected<Stop> run(std::chrono::milliseconds budget);

private:
    struct Machine;
    explicit RiscVCore(std::unique_ptr<Machine> machine);
    std::unique_ptr<Machine> machine_;
};

} // namespace esptools::vchip
