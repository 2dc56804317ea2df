// A bus with nothing behind it, for tests that run code or ROM routines on their own: each test
// overrides what it watches.
#pragma once

#include "riscv_cpu.h"
#include "spi_flash.h"

#include <memory>

namespace esptools::vchip::testing {

struct NullBus : Bus {
    std::unique_ptr<SpiFlash> part = llvm::cantFail(SpiFlash::open({}));
    void uartSend(uint8_t) override {}
    std::optional<uint8_t> uartReceive() override { return std::nullopt; }
    void waitTransmitIdle() override {}
    void setUartDivider(uint32_t) override {}
    void delay(uint32_t) override {}
    void flashAttached() override {}
    SpiFlash &flash() override { return *part; }
    void flashWaitIdle() override { part->takeBusyTime(); }
    uint32_t uartDeviceAddress() override { return 0; }
    std::vector<uint8_t> securityInfo() override { return {}; }
    uint32_t readRegister(uint32_t) override { return 0; }
    void writeRegister(uint32_t, uint32_t) override {}
    uint32_t interruptLines() override { return 0; }
    void interruptHandlerAttached(unsigned) override {}
    bool idle() override { return false; }
    bool waitForInterrupt() override { return false; }
    void retire(uint64_t cycles) override { retired_cycles += cycles; }
    uint64_t retired_cycles = 0;
};

} // namespace esptools::vchip::testing
