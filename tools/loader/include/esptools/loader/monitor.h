// The serial monitor: what the chip's app prints, line by line, with the code addresses of a
// panic dump named from the app's ELF files (function, file:line), and an end a CI job can test
// (--until, --fail-on, --timeout, a panic).
#pragma once

#include "esptools/loader/address_decoder.h"
#include "esptools/loader/port.h"

#include <llvm/Support/Error.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <vector>

namespace esptools::loader {

enum class MonitorEnd {
    Until,      // --until matched
    FailOn,     // --fail-on matched
    Panic,      // a panic dump ended (or the time after it ran out)
    Timeout,    // --timeout passed
    UserExit,   // Ctrl-]
    PortClosed, // the port went away and did not come back
};

struct MonitorOptions {
    std::optional<std::regex> until, fail_on;
    std::string until_text, fail_on_text; // as given, for messages
    std::optional<std::chrono::milliseconds> timeout;
    bool interactive = false; // keys go to the chip; Ctrl-] exits, Ctrl-T Ctrl-R resets
    // After a panic line, how long the rest of its dump may take before the monitor ends.
    std::chrono::milliseconds panic_grace{1500};
};

struct MonitorEvents {
    std::function<void(std::string_view text)> output; // the chip's bytes, as they come
    std::function<void(const std::string &note)> note; // decoded addresses, the monitor's own lines
    // Each complete line, before its addresses are named (the boot log tells the chip revision).
    std::function<void(const std::string &line)> line;
    std::function<void()> reset; // Ctrl-T Ctrl-R
    // The port went away: the same port opened again, or null when it did not come back by
    // `give_up_at` (when --timeout ends the monitor) or the reconnect's own limit.
    std::function<Port *(std::chrono::steady_clock::time_point give_up_at)> reconnect;
    // Keys typed (interactive only): waits up to the given time, returns what was typed.
    std::function<std::string(std::chrono::milliseconds)> keys;
};

// Reads the port until one of the ends; `initial` is output already taken from the port.
llvm::Expected<MonitorEnd> runMonitor(Port &port, const MonitorOptions &options,
                                      AddressDecoder *decoder, const MonitorEvents &events,
                                      std::string_view initial = {});

// True for a line that starts a panic report (ESP-IDF's panic handler and abort()).
bool startsPanicReport(const std::string &line);

} // namespace esptools::loader
