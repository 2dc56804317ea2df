// esp-imagegen's commands. Each takes the words after the command name and returns an exit code
// (esptools::cli::kExit*); the driver in main.cpp only picks the command.
#pragma once

#include "esptools/chipdb/chip.h"

#include <llvm/Support/raw_ostream.h>

#include <string>
#include <vector>

namespace esptools::imagegen {

struct CommandContext {
    const chipdb::ChipDescription *chip = nullptr; // null when --chip was not given (or "auto")
    std::vector<std::string> args;                 // after the command name, spellings canonical
    llvm::raw_ostream &out;
};

int runElf2Image(const CommandContext &context);
int runMakeImage(const CommandContext &context);
int runImageInfo(const CommandContext &context);
int runMergeBin(const CommandContext &context);
int runPartitionTable(const CommandContext &context);

} // namespace esptools::imagegen
