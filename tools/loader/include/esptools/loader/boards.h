// Many boards at once: one esp-loader process per port, side by side, each with its own chip
// detection, stub and baud; what each does comes back as events (a status line per board, its end)
// and as its record, the one `--json FILE` writes.
#pragma once

#include <llvm/Support/Error.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace esptools::loader {

// What one board's session did.
struct BoardReport {
    std::string port, chip, mac, command;
    uint64_t bytes = 0; // in the files written (write-flash)
    uint64_t sectors_written = 0, sectors_skipped = 0;
    double seconds = 0;
    std::optional<bool> verified; // write-flash: every written byte was checked by MD5
    std::string error;            // empty on success
};

// The records as one JSON array of objects (port, chip, mac, command, bytes, sectors_written,
// sectors_skipped, seconds, verified: true/false/null, error: text or null).
std::string boardReportsJson(std::span<const BoardReport> reports);
// The same in a file, replaced whole.
llvm::Error writeBoardReports(const std::string &path, std::span<const BoardReport> reports);

// ESPTOOL_PORT's list, separated by ':' as PATH is; socket://HOST:PORT, rfc2217://HOST:PORT and
// vchip:SPEC each stay whole.
std::vector<std::string> splitPortList(const std::string &list);

struct BoardJob {
    std::string port;
    std::vector<std::string> arguments; // after the executable's name; they name `port`
    std::string report_path;            // where the run writes its record (its --json FILE)
};

struct BoardEvent {
    size_t board = 0;      // index into the jobs
    bool finished = false; // else: a new status line
    std::string text;      // the board's latest output line, or how it ended
};

// Starts `executable` once per job, all at once, each with its output in a log file under
// scratch_dir, and waits for every one. While they run, each board's latest output line comes as an
// event; then its end. A run that leaves no record (it crashed, or failed before writing one) gets
// one saying so, with its last line of output.
std::vector<BoardReport> runBoards(const std::string &executable, const std::vector<BoardJob> &jobs,
                                   const std::string &scratch_dir,
                                   const std::function<void(const BoardEvent &)> &on_event);

} // namespace esptools::loader
