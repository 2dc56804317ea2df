#include "esptools/loader/monitor.h"

#include "esptools/cli/cli.h"

#include <llvm/DebugInfo/Symbolize/Symbolize.h>
#include <llvm/Object/ELFObjectFile.h>
#include <llvm/Support/FileSystem.h>
#include <llvm/Support/Format.h>
#include <llvm/Support/raw_ostream.h>

#include <array>
#include <regex>

namespace esptools::loader {

struct AddressDecoder::State {
    struct CodeRange {
        uint64_t start, end;
        size_t file; // index into elf_files
    };
    llvm::symbolize::LLVMSymbolizer symbolizer;
    std::vector<std::string> elf_files;
    // Only addresses in an ELF's executable sections are named: a register or stack word that
    // holds a data pointer or a small number is not code, whatever symbol lies below it.
    std::vector<CodeRange> code;
};

AddressDecoder::AddressDecoder() : state_(std::make_unique<State>()) {}
AddressDecoder::AddressDecoder(AddressDecoder &&) noexcept = default;
AddressDecoder &AddressDecoder::operator=(AddressDecoder &&) noexcept = default;
AddressDecoder::~AddressDecoder() = default;

llvm::Expected<AddressDecoder> AddressDecoder::open(std::vector<std::string> elf_files) {
    AddressDecoder decoder;
    for (size_t index = 0; index < elf_files.size(); ++index) {
        const std::string &file = elf_files[index];
        // Read here, so that a wrong path is an error before the port is touched.
        auto binary = llvm::object::createBinary(file);
        if (!binary)
            return cli::makeError("--elf %s: %s", file.c_str(),
                                  llvm::toString(binary.takeError()).c_str());
        auto *object = llvm::dyn_cast<llvm::object::ELFObjectFileBase>(binary->getBinary());
        if (!object) return cli::makeError("--elf %s: not an ELF file", file.c_str());
        for (const llvm::object::SectionRef &section : object->sections())
            if (section.isText() && section.getSize() != 0)
                decoder.state_->code.push_back(
                    {section.getAddress(), section.getAddress() + section.getSize(), index});
    }
    decoder.state_->elf_files = std::move(elf_files);
    return decoder;
}

std::optional<std::string> AddressDecoder::describe(uint64_t address) {
    for (const State::CodeRange &range : state_->code) {
        if (address < range.start || address >= range.end) continue;
        auto info = state_->symbolizer.symbolizeCode(
            state_->elf_files[range.file], {address, llvm::object::SectionedAddress::UndefSection});
        if (!info) {
            llvm::consumeError(info.takeError());
            continue;
        }
        // An assembler's local label (".Lpcrel_hi2") names no function.
        std::string function = info->FunctionName;
        if (function == llvm::DILineInfo::BadString || function.rfind(".L", 0) == 0)
            function.clear();
        std::string where;
        if (info->FileName != llvm::DILineInfo::BadString && info->Line != 0)
            where = info->FileName + ":" + std::to_string(info->Line);
        if (function.empty() && where.empty()) continue;
        if (function.empty()) return "?? at " + where;
        return where.empty() ? function : function + " at " + where;
    }
    return std::nullopt;
}

std::vector<std::string> AddressDecoder::describeLine(const std::string &line) {
    // 8 hex digits after 0x, as ESP-IDF's panic handler and backtraces print them (also in
    // "PC:SP" pairs); only those that land in an ELF's code are named.
    static const std::regex kAddress("0x([0-9a-fA-F]{8})\\b");
    // A RISC-V dump's RA and its stack words are return addresses: the call is the instruction
    // before, so its line is the one looked up (as addr2line users subtract 1). ("3fc8e6e0: 0x...")
    static const std::regex kStackRow("^[0-9a-fA-F]{8}:");
    const bool stack_row = std::regex_search(line, kStackRow);
    std::vector<std::string> notes;
    for (auto it = std::sregex_iterator(line.begin(), line.end(), kAddress);
         it != std::sregex_iterator(); ++it) {
        uint64_t address = std::stoull((*it)[1].str(), nullptr, 16);
        std::string before = line.substr(0, size_t(it->position()));
        while (!before.empty() && (before.back() == ' ' || before.back() == ':')) before.pop_back();
        const bool returns_here =
            stack_row || (before.size() >= 2 && before.compare(before.size() - 2, 2, "RA") == 0);
        auto described = describe(returns_here && address > 0 ? address - 1 : address);
        if (described) notes.push_back((*it)[0].str() + ": " + *described);
    }
    return notes;
}

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
    const auto start = Clock::now();
    std::optional<Clock::time_point> panic_deadline;
    std::string line;
    bool ctrl_t = false;

    // Returns an end when the line (complete or not) decides one.
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
            if (options.fail_on && std::regex_search(line, *options.fail_on))
                return MonitorEnd::FailOn;
            if (options.until && std::regex_search(line, *options.until)) return MonitorEnd::Until;
            // The decoded names are output too: a test may look for a function in a panic.
            if (decoder)
                for (const std::string &note : decoder->describeLine(line)) {
                    if (events.note) events.note("--- " + note);
                    if (options.fail_on && std::regex_search(note, *options.fail_on))
                        return MonitorEnd::FailOn;
                    if (options.until && std::regex_search(note, *options.until))
                        return MonitorEnd::Until;
                }
            if (startsPanicReport(line) && !panic_deadline)
                panic_deadline = Clock::now() + options.panic_grace;
            // ESP-IDF ends a panic report with "Rebooting..." (or waits for a debugger).
            if (panic_deadline && line.find("Rebooting...") != std::string::npos)
                return MonitorEnd::Panic;
            line.clear();
        }
        show(text.size());
        // A prompt that ends no line still counts.
        if (options.fail_on && std::regex_search(line, *options.fail_on)) return MonitorEnd::FailOn;
        if (options.until && std::regex_search(line, *options.until)) return MonitorEnd::Until;
        return std::nullopt;
    };

    if (!initial.empty())
        if (auto end = take(initial)) return *end;
    std::array<uint8_t, 4096> buffer;
    for (;;) {
        auto now = Clock::now();
        if (panic_deadline && now >= *panic_deadline) return MonitorEnd::Panic;
        if (options.timeout && now - start >= *options.timeout) return MonitorEnd::Timeout;
        auto got = port.read(buffer, std::chrono::milliseconds(options.interactive ? 10 : 50));
        if (!got) {
            llvm::consumeError(got.takeError());
            return MonitorEnd::PortClosed;
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
            if (auto failure =
                    port.write({reinterpret_cast<const uint8_t *>(to_chip.data()), to_chip.size()}))
                return failure;
    }
}

} // namespace esptools::loader
