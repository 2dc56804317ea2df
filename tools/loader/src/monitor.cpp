#include "esptools/loader/monitor.h"

#include <llvm/Support/FileSystem.h>
#include <llvm/Support/Format.h>
#include <llvm/Support/raw_ostream.h>

#include <array>
#include <regex>

namespace esptools::loader {

bool startsPanicReport(const std::string &line) {
    // ESP-IDF components/esp_system/panic.c: "Guru Meditation Error: Core  N panic'ed (...)", and
    // abort(): "abort() was called at PC 0x... on core N".
    return line.find("Guru Meditation Error") != std::string::npos ||
           line.find("abort() was called at PC") != std::string::npos;
}

llvm::Expected<MonitorEnd> runMonitor(Port &port, const MonitorOptions &options,
                                      AddressDecoder *decoder, const MonitorEvents &events,
                                      std::string_view initial) {
    using Clock = std::chrono::steady_clock;
    Port *current = &port;
    const auto start = Clock::now();
    std::optional<Clock::time_point> panic_deadline;
    std::string line;
    bool ctrl_t = false;

    // The end a line (or a decoded name) decides, if any.
    auto decides = [&](const std::string &text) -> std::optional<MonitorEnd> {
        if (options.fail_on && std::regex_search(text, *options.fail_on)) return MonitorEnd::FailOn;
        if (options.until && std::regex_search(text, *options.until)) return MonitorEnd::Until;
        return std::nullopt;
    };
    // Shows the text a line at a time, each line followed by the names of its code addresses, and
    // returns an end when a line (complete or not) decides one.
    auto take = [&](std::string_view text) -> std::optional<MonitorEnd> {
        size_t shown = 0;
        auto show = [&](size_t upto) {
            if (upto > shown && events.output) events.output(text.substr(shown, upto - shown));
            shown = upto;
        };
        for (size_t i = 0; i < text.size(); ++i) {
            if (text[i] != '\n') {
                line.push_back(text[i]);
                continue;
            }
            show(i + 1);
            if (!line.empty() && line.back() == '\r') line.pop_back();
            if (auto end = decides(line)) return end;
            if (events.line) events.line(line);
            // The decoded names are output too: a test may look for a function in a panic.
            if (decoder)
                for (const std::string &note : decoder->describeLine(line)) {
                    if (events.note) events.note("--- " + note);
                    if (auto end = decides(note)) return end;
                }
            if (startsPanicReport(line) && !panic_deadline)
                panic_deadline = Clock::now() + options.panic_grace;
            // ESP-IDF ends a panic report with "Rebooting..." (or waits for a debugger).
            if (panic_deadline && line.find("Rebooting...") != std::string::npos)
                return MonitorEnd::Panic;
            line.clear();
        }
        show(text.size());
        return decides(line); // a prompt that ends no line still counts
    };

    if (!initial.empty())
        if (auto end = take(initial)) return *end;
    std::array<uint8_t, 4096> buffer;
    for (;;) {
        auto now = Clock::now();
        if (panic_deadline && now >= *panic_deadline) return MonitorEnd::Panic;
        if (options.timeout && now - start >= *options.timeout) return MonitorEnd::Timeout;
        auto got = current->read(buffer, std::chrono::milliseconds(options.interactive ? 10 : 50));
        if (!got) {
            llvm::consumeError(got.takeError());
            const auto give_up_at =
                options.timeout ? start + *options.timeout : Clock::time_point::max();
            current = events.reconnect ? events.reconnect(give_up_at) : nullptr;
            if (!current)
                return Clock::now() >= give_up_at ? MonitorEnd::Timeout : MonitorEnd::PortClosed;
            continue;
        }
        if (*got)
            if (auto end = take({reinterpret_cast<const char *>(buffer.data()), *got})) return *end;
        if (!options.interactive || !events.keys) continue;
        std::string typed = events.keys(std::chrono::milliseconds(0));
        std::string to_chip;
        for (char key : typed) {
            if (ctrl_t) {
                ctrl_t = false;
                if (key == '\x12' && events.reset) { // Ctrl-T Ctrl-R
                    events.reset();
                    continue;
                }
                if (key == '\x1d') return MonitorEnd::UserExit; // Ctrl-T Ctrl-]
                to_chip.push_back(key);                         // Ctrl-T then the key itself
                continue;
            }
            if (key == '\x1d') return MonitorEnd::UserExit; // Ctrl-]
            if (key == '\x14') {
                ctrl_t = true;
                continue;
            }
            to_chip.push_back(key == '\n' ? '\r' : key);
            if (key == '\n') to_chip.push_back('\n');
        }
        if (!to_chip.empty())
            if (auto failure = current->write(
                    {reinterpret_cast<const uint8_t *>(to_chip.data()), to_chip.size()}))
                return failure;
    }
}

} // namespace esptools::loader
