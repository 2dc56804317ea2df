#include "every_board.h"

#include "command_table.h"
#include "esptools/cli/cli.h"
#include "esptools/loader/boards.h"

#include <llvm/ADT/SmallString.h>
#include <llvm/Support/FileSystem.h>
#include <llvm/Support/Format.h>
#include <llvm/Support/raw_ostream.h>

#include <unistd.h>

#include <cstdio>

namespace esptools::loader_cli {

size_t optionWords(const std::string &arg, const po::options_description &global,
                   const po::option_description **found) {
    const po::option_description *option = nullptr;
    if (arg.rfind("--", 0) == 0)
        option = global.find_nothrow(arg.substr(2, arg.find('=') - 2), false);
    else if (arg.size() == 2)
        option = global.find_nothrow(arg, false);
    if (found) *found = option;
    const bool takes_value =
        arg.find('=') == std::string::npos && option && option->semantic()->max_tokens() > 0;
    return takes_value ? 2 : 1;
}

int runOnEveryBoard(const char *argv0, const std::vector<std::string> &args, size_t command_index,
                    const std::vector<std::string> &ports, const po::options_description &global,
                    const std::optional<std::string> &json_path) {
    std::vector<std::string> common;
    for (size_t i = 0; i < command_index;) {
        const po::option_description *option = nullptr;
        const size_t words = optionWords(args[i], global, &option);
        const std::string name = option ? option->long_name() : "";
        if (name != "port" && name != "port-filter" && name != "all-ports" && name != "json")
            common.insert(common.end(), args.begin() + ptrdiff_t(i),
                          args.begin() + ptrdiff_t(std::min(i + words, command_index)));
        i += words;
    }
    llvm::SmallString<128> scratch;
    if (auto code = llvm::sys::fs::createUniqueDirectory("esp-loader-boards", scratch))
        return cli::reportError(
            kTool, cli::makeError("cannot make a scratch folder: %s", code.message().c_str()));
    std::vector<loader::BoardJob> jobs;
    for (size_t i = 0; i < ports.size(); ++i) {
        loader::BoardJob job{ports[i], common,
                             (scratch + "/board-" + std::to_string(i) + ".json").str()};
        job.arguments.insert(job.arguments.end(), {"--port", ports[i], "--json", job.report_path});
        job.arguments.insert(job.arguments.end(), args.begin() + ptrdiff_t(command_index),
                             args.end());
        jobs.push_back(std::move(job));
    }
    const std::string executable =
        llvm::sys::fs::getMainExecutable(argv0, reinterpret_cast<void *>(&runOnEveryBoard));
    llvm::outs() << "Running '" << args[command_index] << "' on " << ports.size()
                 << " boards at once...\n";
    llvm::outs().flush();
    const bool terminal = isatty(1);
    std::vector<std::string> lines(ports.size());
    bool drawn = false;
    auto show = [&](const loader::BoardEvent &event) {
        std::string line = ports[event.board] + ": " + event.text;
        if (!terminal) {
            if (event.finished) llvm::outs() << line << "\n";
            llvm::outs().flush();
            return;
        }
        lines[event.board] = line.substr(0, 118);
        if (drawn) llvm::outs() << "\x1b[" << lines.size() << "A";
        for (const auto &text : lines) llvm::outs() << "\x1b[2K" << text << "\n";
        drawn = true;
        llvm::outs().flush();
    };
    auto reports = loader::runBoards(executable, jobs, scratch.str().str(), show);
    llvm::sys::fs::remove_directories(scratch);

    size_t port_width = 4, failures = 0;
    for (const auto &report : reports) port_width = std::max(port_width, report.port.size());
    llvm::outs() << "\n"
                 << llvm::left_justify("Port", port_width) << "  " << llvm::left_justify("Chip", 10)
                 << "  " << llvm::left_justify("MAC", 17) << "  "
                 << llvm::right_justify("Seconds", 7) << "  Result\n";
    for (const auto &report : reports) {
        char seconds[32];
        std::snprintf(seconds, sizeof seconds, "%.1f", report.seconds);
        failures += !report.error.empty();
        llvm::outs() << llvm::left_justify(report.port, port_width) << "  "
                     << llvm::left_justify(report.chip.empty() ? "-" : report.chip, 10) << "  "
                     << llvm::left_justify(report.mac.empty() ? "-" : report.mac, 17) << "  "
                     << llvm::right_justify(seconds, 7) << "  "
                     << (report.error.empty() ? "ok" : "FAILED: " + report.error) << "\n";
    }
    llvm::outs() << (failures ? std::to_string(failures) + " of " + std::to_string(reports.size()) +
                                    " boards failed.\n"
                              : "All " + std::to_string(reports.size()) + " boards succeeded.\n");
    if (json_path)
        if (auto failure = loader::writeBoardReports(*json_path, reports))
            return cli::reportError(kTool, std::move(failure));
    return failures ? cli::kExitFatal : cli::kExitSuccess;
}
} // namespace esptools::loader_cli
