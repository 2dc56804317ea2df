// esp-loader's commands as esptool spells them: each one's arguments and options, what it does
// with a connected device, and the checks its arguments get before any port is opened. Each family
// adds its own: flash_command_table.cpp (the flash, and partitions by name),
// device_command_table.cpp (ids, memory, status registers, RAM code); the monitor, which runs
// without a loader session, has monitor_command.cpp.
#pragma once

#include "esptools/chipdb/chip.h"
#include "esptools/formats/image.h"
#include "esptools/loader/commands.h"
#include "esptools/loader/device.h"

#include <boost/program_options.hpp>
#include <llvm/Support/Error.h>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace esptools::loader_cli {

namespace po = boost::program_options;

inline constexpr const char *kTool = "esp-loader";

struct Command {
    po::options_description options;
    std::vector<std::string> positional; // names, the last may repeat (-1)
    bool repeat_last = false;
    bool needs_flash_params = false;
    // The ROM loader serves it as well as a stub would (registers, the flash's id and status,
    // the MAC): no stub is uploaded for it, which saves a second at 115200 baud.
    bool rom_serves = false;
    std::function<llvm::Error(loader::Device &, const po::variables_map &)> run;
    // Work that needs only the chip type, started once it is known, to overlap the stub upload.
    std::function<void(const chipdb::ChipDescription &, const po::variables_map &)> prepare;
};

using CommandTable = std::map<std::string, Command>;
using RunCommand = std::function<llvm::Error(loader::Device &, const po::variables_map &)>;

// Adds a command: its positional argument names (the last repeating when repeat_last), its own
// options besides --spi-connection, and what it does.
void addCommand(CommandTable &table, const std::string &name, std::vector<std::string> positional,
                bool repeat_last, std::function<void(po::options_description &)> options,
                RunCommand run);

// Every command. write-flash and write-partition count what they wrote in `stats` (for --json).
CommandTable commands(loader::WriteFlashStats &stats);
void addFlashCommands(CommandTable &table, loader::WriteFlashStats &stats);
void addDeviceCommands(CommandTable &table);

// The environment variable's value, or the fallback when it is unset or empty.
std::string envOr(const char *name, const std::string &fallback);
// A size, or ALL (any case, as esptool's AutoSizeType): to the end of the flash.
llvm::Expected<std::optional<uint32_t>> sizeOrAll(const std::string &text);
// A number (or, with size, a size with K/M) that fits in 32 bits.
llvm::Expected<uint32_t> number(const std::string &text, bool size = false);
// "hard_reset" and "hard-reset" alike: esptool v4 and v5 spellings.
std::string canonicalChoice(std::string value);
formats::FlashParams flashParams(const po::variables_map &vm);
void addFlashParams(po::options_description &options);
// esptool's --spi-connection: SPI, HSPI, or five GPIO numbers CLK,Q,D,HD,CS.
llvm::Expected<uint32_t> spiConnection(const std::string &text,
                                       const chipdb::ChipDescription &chip);
// Every argument and input file is checked before the port is opened: a usage error never
// connects to or resets a board.
llvm::Error checkArguments(const std::string &command, const po::variables_map &vm);

} // namespace esptools::loader_cli
