#include "esptools/loader/boards.h"

#include "esptools/cli/cli.h"
#include "esptools/cli/json.h"

#include <llvm/ADT/StringRef.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/Program.h>

#include <chrono>
#include <cstdlib>
#include <thread>

namespace esptools::loader {

std::string boardReportsJson(std::span<const BoardReport> reports) {
    std::string text;
    cli::JsonWriter json(text);
    json.open('[');
    for (const auto &report : reports) {
        json.open('{')
            .field("port", std::string_view(report.port))
            .field("chip", std::string_view(report.chip))
            .field("mac", std::string_view(report.mac))
            .field("command", std::string_view(report.command))
            .field("bytes", report.bytes)
            .field("sectors_written", report.sectors_written)
            .field("sectors_skipped", report.sectors_skipped)
            .field("seconds", report.seconds);
        json.key("verified");
        if (report.verified)
            json.value(*report.verified);
        else
            json.null();
        json.field("error", report.error.empty() ? std::nullopt
                                                 : std::optional<std::string_view>(report.error));
        json.close('}');
    }
    json.close(']');
    return text + "\n";
}

namespace {

BoardReport boardReportFromRecord(const cli::JsonRecord &record) {
    auto text = [&](const char *key) {
        auto found = record.find(key);
        return found != record.end() && found->second.kind == cli::JsonScalar::Kind::String
                   ? found->second.text
                   : std::string();
    };
    auto number = [&](const char *key) {
        auto found = record.find(key);
        return found != record.end() && found->second.kind == cli::JsonScalar::Kind::Number
                   ? std::strtod(found->second.text.c_str(), nullptr)
                   : 0.0;
    };
    BoardReport report;
    report.port = text("port");
    report.chip = text("chip");
    report.mac = text("mac");
    report.command = text("command");
    report.bytes = uint64_t(number("bytes"));
    report.sectors_written = uint64_t(number("sectors_written"));
    report.sectors_skipped = uint64_t(number("sectors_skipped"));
    report.seconds = number("seconds");
    if (auto found = record.find("verified");
        found != record.end() && found->second.kind == cli::JsonScalar::Kind::Bool)
        report.verified = found->second.flag;
    report.error = text("error");
    return report;
}

} // namespace

llvm::Error writeBoardReports(const std::string &path, std::span<const BoardReport> reports) {
    const std::string text = boardReportsJson(reports);
    return cli::writeFileAtomically(path, std::vector<uint8_t>(text.begin(), text.end()));
}

std::vector<std::string> splitPortList(const std::string &list) {
    std::vector<std::string> ports;
    llvm::StringRef rest(list);
    while (!rest.empty()) {
        size_t end = 0;
        if (rest.startswith("socket://") || rest.startswith("rfc2217://")) {
            // HOST:PORT: the ':' after the host belongs to the name, the next one ends it.
            const size_t host = rest.find("://") + 3;
            const size_t port = rest.find(':', host);
            end = port == llvm::StringRef::npos ? rest.size() : rest.find(':', port + 1);
        } else if (rest.startswith("vchip:")) {
            end = rest.find(':', 6);
        } else {
            end = rest.find(':');
        }
        if (end == llvm::StringRef::npos) end = rest.size();
        if (end > 0) ports.push_back(rest.substr(0, end).str());
        rest = rest.substr(std::min(end + 1, rest.size()));
    }
    return ports;
}

namespace {

// The last non-empty line of a log (progress on a terminal ends lines with '\r').
std::string lastLine(const std::string &path) {
    auto buffer = llvm::MemoryBuffer::getFile(path);
    if (!buffer) return "";
    llvm::StringRef text = (*buffer)->getBuffer();
    text = text.rtrim(" \t\r\n");
    size_t start = text.find_last_of("\r\n");
    return (start == llvm::StringRef::npos ? text : text.substr(start + 1)).trim().str();
}

} // namespace

std::vector<BoardReport> runBoards(const std::string &executable, const std::vector<BoardJob> &jobs,
                                   const std::string &scratch_dir,
                                   const std::function<void(const BoardEvent &)> &on_event) {
    struct Running {
        llvm::sys::ProcessInfo process;
        std::string log, status;
        bool done = false;
        int exit_code = 0;
        std::chrono::steady_clock::time_point start;
    };
    std::vector<Running> runs(jobs.size());
    std::vector<BoardReport> reports(jobs.size());
    for (size_t i = 0; i < jobs.size(); ++i) {
        Running &run = runs[i];
        run.log = scratch_dir + "/board-" + std::to_string(i) + ".log";
        std::vector<llvm::StringRef> argv{executable};
        for (const auto &argument : jobs[i].arguments) argv.push_back(argument);
        llvm::Optional<llvm::StringRef> redirects[] = {
            llvm::StringRef(""), llvm::StringRef(run.log), llvm::StringRef(run.log)};
        std::string error;
        bool failed = false;
        run.start = std::chrono::steady_clock::now();
        run.process =
            llvm::sys::ExecuteNoWait(executable, argv, llvm::None, redirects, 0, &error, &failed);
        if (failed) {
            run.done = true;
            reports[i].port = jobs[i].port;
            reports[i].error = "could not start " + executable + ": " + error;
            on_event({i, true, reports[i].error});
        }
    }
    for (;;) {
        bool any_running = false;
        for (size_t i = 0; i < jobs.size(); ++i) {
            Running &run = runs[i];
            if (run.done) continue;
            llvm::sys::ProcessInfo waited = llvm::sys::Wait(run.process, 0, false);
            if (waited.Pid == 0) { // still running
                any_running = true;
                if (std::string status = lastLine(run.log); status != run.status) {
                    run.status = status;
                    on_event({i, false, status});
                }
                continue;
            }
            run.done = true;
            run.exit_code = waited.ReturnCode;
            BoardReport &report = reports[i];
            auto text = llvm::MemoryBuffer::getFile(jobs[i].report_path);
            auto records =
                text ? cli::parseJsonRecords((*text)->getBuffer().str(), jobs[i].report_path)
                     : llvm::Expected<std::vector<cli::JsonRecord>>(cli::makeError("no record"));
            if (records && records->size() == 1) {
                report = boardReportFromRecord(records->front());
            } else {
                if (!records) llvm::consumeError(records.takeError());
                report.port = jobs[i].port;
                report.seconds =
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - run.start)
                        .count();
                report.error = "esp-loader ended with exit code " + std::to_string(run.exit_code) +
                               " and no record: " + lastLine(run.log);
            }
            if (report.error.empty() && run.exit_code != 0)
                report.error = "exit code " + std::to_string(run.exit_code);
            on_event({i, true, report.error.empty() ? "done" : report.error});
        }
        if (!any_running) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return reports;
}

} // namespace esptools::loader
