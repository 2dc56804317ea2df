// Runs RISC-V code for the virtual chip in unicorn: the chip's RAM windows are mapped, the ROM
// window answers each call to a known routine (from the chip description) on the host and returns.
#pragma once

#include "esptools/chipdb/chip.h"

#include <llvm/Support/Error.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

namespace esptools::vchip {

struct LoadedSegment {
    uint32_t address;
    std::vector<uint8_t> data;
};

// Why a chip cannot run code, or an empty string when it can.
std::string whyCannotExecute(const chipdb::ChipDescription &chip);

// Loads the segments and runs from entry for at most `budget` of host time; every byte the code
// sends through the ROM's UART routines goes to `uart`. Ends early with an error on a fault
// (illegal instruction, unmapped access, a call to a ROM routine this model does not serve).
llvm::Error runRiscV(const chipdb::ChipDescription &chip, std::span<const LoadedSegment> segments,
                     uint32_t entry, std::chrono::milliseconds budget,
                     const std::function<void(uint8_t)> &uart);

} // namespace esptools::vchip
