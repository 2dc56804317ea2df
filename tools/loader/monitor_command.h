// esp-loader's monitor, as a command and after write-flash, run and load-ram (--monitor): the
// options, the terminal, and the exit code a CI job tests.
#pragma once

#include "esptools/loader/port.h"
#include "esptools/loader/reset.h"

#include <boost/program_options.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace esptools::loader_cli {

// standalone: the monitor command itself (adds --no-reset); otherwise --monitor and the rest.
void addMonitorOptions(boost::program_options::options_description &options, bool standalone);

// True when the command line asks for the monitor after a command.
bool monitorRequested(const boost::program_options::variables_map &vm);

// Checks the monitor's options before any port is opened (regexes, ELF files, the log file).
llvm::Error checkMonitorOptions(const boost::program_options::variables_map &vm);

// What the monitor knows of the board it watches.
struct MonitorSetup {
    // The chip, as far as it is known: its ROM ELF names ROM addresses.
    std::string chip;                 // empty when not known (--chip auto, no session)
    std::optional<uint32_t> revision; // major * 100 + minor, read in the session before
    // The configuration file's custom_hard_reset_sequence, for the monitor's resets.
    std::optional<loader::ResetSequence> custom_hard_reset;
    bool reset_first = false; // reset the chip into its app before watching
};

// Runs the monitor on an open port; `initial` is what the chip printed that was already read.
// A port that goes away (a chip on its own USB leaves the bus when reset; a network bridge
// restarts) is opened again by name for up to 10 s. Returns the exit code: 0 for --until or
// Ctrl-], non-zero for --fail-on, --timeout, a panic, or a port that did not come back.
int monitorPort(loader::Port &port, const boost::program_options::variables_map &vm,
                std::string_view initial, const MonitorSetup &setup);

} // namespace esptools::loader_cli
