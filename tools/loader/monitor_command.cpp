#include "monitor_command.h"

#include "esptools/cli/cli.h"
#include "esptools/loader/monitor.h"
#include "esptools/loader/reset.h"
#include "esptools/loader/rom_elf.h"

#include <llvm/Support/Format.h>
#include <llvm/Support/raw_ostream.h>

#include <cstdlib>
#include <thread>

#include <poll.h>
#include <termios.h>
#include <unistd.h>

namespace po = boost::program_options;

namespace esptools::loader_cli {
namespace {

constexpr const char *kTool = "esp-loader";

// The terminal in raw mode while the monitor runs, so that each key goes to the chip as typed.
class RawTerminal {
public:
    RawTerminal() {
        if (tcgetattr(0, &saved_) != 0) return;
        termios raw = saved_;
        cfmakeraw(&raw);
        raw.c_oflag |= OPOST | ONLCR; // the chip's "\n" still starts a line
        active_ = tcsetattr(0, TCSANOW, &raw) == 0;
    }
    ~RawTerminal() {
        if (active_) tcsetattr(0, TCSANOW, &saved_);
    }
    RawTerminal(const RawTerminal &) = delete;
    RawTerminal &operator=(const RawTerminal &) = delete;

private:
    termios saved_{};
    bool active_ = false;
};

std::string typedKeys(std::chrono::milliseconds wait) {
    pollfd input{0, POLLIN, 0};
    if (poll(&input, 1, static_cast<int>(wait.count())) <= 0 || !(input.revents & POLLIN))
        return {};
    char buffer[64];
    ssize_t got = ::read(0, buffer, sizeof buffer);
    return got > 0 ? std::string(buffer, static_cast<size_t>(got)) : std::string();
}

llvm::Expected<std::optional<std::regex>> regexOption(const po::variables_map &vm,
                                                      const char *name) {
    if (!vm.count(name)) return std::nullopt;
    const std::string &text = vm[name].as<std::string>();
    try {
        return std::optional<std::regex>(std::regex(text, std::regex::ECMAScript));
    } catch (const std::regex_error &error) {
        return cli::makeError("--%s '%s': not a valid regular expression (%s)", name, text.c_str(),
                              error.what());
    }
}

std::string revisionText(uint32_t revision) {
    return "v" + std::to_string(revision / 100) + "." + std::to_string(revision % 100);
}

// $ESP_ROM_ELF_DIR (ESP-IDF's export scripts set it to esp-rom-elfs), or empty.
std::string romElfDirectory() {
    const char *directory = std::getenv("ESP_ROM_ELF_DIR");
    return directory ? directory : "";
}

// The ROM ELF in $ESP_ROM_ELF_DIR for the chip and revision, with a line saying which, or why
// none: a panic in ROM code is named only with it.
std::optional<std::string> romElfFor(const std::string &chip, uint32_t revision,
                                     std::vector<std::string> &notes) {
    const std::string directory = romElfDirectory();
    auto found = loader::findRomElf(directory, chip, revision);
    if (!found) {
        notes.push_back("warning: " + llvm::toString(found.takeError()) +
                        " ($ESP_ROM_ELF_DIR); ROM addresses are not named");
        return std::nullopt;
    }
    if (!*found) {
        notes.push_back("no ROM ELF for " + chip + " " + revisionText(revision) + " in " +
                        directory + "; ROM addresses are not named");
        return std::nullopt;
    }
    notes.push_back("ROM ELF " + (*found)->path + " (ROM " + revisionText((*found)->revision) +
                    ") for " + chip + " " + revisionText(revision));
    return (*found)->path;
}

// ESP-IDF's bootloader prints the revision at every boot (bootloader_support/src/
// bootloader_init.c: "chip revision: v%d.%d", major and minor).
std::optional<uint32_t> revisionInBootLog(const std::string &line) {
    static const std::regex kRevision("chip revision: v([0-9]+)\\.([0-9]+)");
    std::smatch match;
    if (!std::regex_search(line, match, kRevision)) return std::nullopt;
    return uint32_t(std::stoul(match[1].str()) * 100 + std::stoul(match[2].str()));
}

} // namespace

void addMonitorOptions(po::options_description &options, bool standalone) {
    if (standalone)
        options.add_options()("no-reset", po::bool_switch(),
                              "attach without resetting the chip into its app")(
            "revision", po::value<uint32_t>(),
            "the chip's revision (major*100+minor, as esp-idf-monitor): picks its ROM ELF from "
            "$ESP_ROM_ELF_DIR (with --chip)");
    else
        options.add_options()("monitor", po::bool_switch(),
                              "go on into the monitor when the command is done");
    options.add_options()("elf", po::value<std::vector<std::string>>()->composing(),
                          "ELF file(s) whose addresses a panic dump names (repeatable)")(
        "monitor-baud", po::value<uint32_t>()->default_value(115200), "the app's baud rate")(
        "until", po::value<std::string>(), "end (exit 0) at the first line this regex matches")(
        "fail-on", po::value<std::string>(), "end (exit 1) at the first line this regex matches")(
        "timeout", po::value<double>(), "end (exit 1) after this many seconds")(
        "log", po::value<std::string>(), "also write what the chip prints to this file");
}

bool monitorRequested(const po::variables_map &vm) {
    return vm.count("monitor") && vm["monitor"].as<bool>();
}

// The app's ELF files, as --elf named them.
llvm::Expected<loader::AddressDecoder> openElfOption(const po::variables_map &vm) {
    std::vector<std::string> elf_files;
    if (vm.count("elf")) elf_files = vm["elf"].as<std::vector<std::string>>();
    auto decoder = loader::AddressDecoder::open(elf_files);
    if (!decoder) return cli::makeError("--elf %s", llvm::toString(decoder.takeError()).c_str());
    return decoder;
}

// Adds the ROM ELF picked for the chip; a file that does not load costs only the ROM's names.
void addRomElf(loader::AddressDecoder &decoder, const std::string &chip, uint32_t revision,
               std::vector<std::string> &notes) {
    auto rom = romElfFor(chip, revision, notes);
    if (!rom) return;
    if (auto failure = decoder.add(*rom))
        notes.push_back("warning: ROM ELF " + llvm::toString(std::move(failure)) +
                        "; ROM addresses are not named");
}

llvm::Error checkMonitorOptions(const po::variables_map &vm) {
    for (const char *name : {"until", "fail-on"}) {
        auto regex = regexOption(vm, name);
        if (!regex) return regex.takeError();
    }
    if (vm.count("timeout") && !(vm["timeout"].as<double>() > 0))
        return cli::makeError("--timeout must be a number of seconds above 0");
    if (auto decoder = openElfOption(vm); !decoder) return decoder.takeError();
    return llvm::Error::success();
}

// How long a port that went away may take to come back: a chip on its own USB is back within
// esptool's 0.2 s after a reset; a network bridge may take seconds to restart.
constexpr std::chrono::seconds kComeBackWithin{10};

int monitorPort(loader::Port &port, const po::variables_map &vm, std::string_view initial,
                const MonitorSetup &setup) {
    loader::MonitorOptions options;
    auto until = regexOption(vm, "until");
    if (!until) return cli::reportError(kTool, until.takeError());
    auto fail_on = regexOption(vm, "fail-on");
    if (!fail_on) return cli::reportError(kTool, fail_on.takeError());
    options.until = std::move(*until);
    options.fail_on = std::move(*fail_on);
    if (vm.count("until")) options.until_text = vm["until"].as<std::string>();
    if (vm.count("fail-on")) options.fail_on_text = vm["fail-on"].as<std::string>();
    if (vm.count("timeout"))
        options.timeout =
            std::chrono::milliseconds(static_cast<int64_t>(vm["timeout"].as<double>() * 1000));
    const bool scripted =
        vm.count("until") || vm.count("fail-on") || vm.count("timeout") || vm.count("log");
    options.interactive = !scripted && isatty(0);

    auto decoder = openElfOption(vm);
    if (!decoder) return cli::reportError(kTool, decoder.takeError());
    std::vector<std::string> notes;
    // The ROM ELF needs the chip and its revision: from the session before, --revision, or else
    // the bootloader's line when the chip boots.
    std::optional<uint32_t> revision = setup.revision;
    if (vm.count("revision")) revision = vm["revision"].as<uint32_t>();
    bool rom_elf_awaits_revision = false;
    if (!romElfDirectory().empty()) {
        if (setup.chip.empty())
            notes.push_back("ROM addresses are not named: give --chip to pick a ROM ELF from "
                            "$ESP_ROM_ELF_DIR");
        else if (revision) {
            addRomElf(*decoder, setup.chip, *revision, notes);
        } else {
            rom_elf_awaits_revision = true;
            notes.push_back("the ROM ELF is picked when the bootloader prints the chip revision "
                            "(or give --revision)");
        }
    }
    std::unique_ptr<llvm::raw_fd_ostream> log;
    if (vm.count("log")) {
        std::error_code error;
        log = std::make_unique<llvm::raw_fd_ostream>(vm["log"].as<std::string>(), error);
        if (error)
            return cli::reportError(kTool, cli::makeError("--log %s: %s",
                                                          vm["log"].as<std::string>().c_str(),
                                                          error.message().c_str()));
    }
    const uint32_t baud = vm["monitor-baud"].as<uint32_t>();
    if (auto failure = port.setBaudRate(baud)) return cli::reportError(kTool, std::move(failure));

    llvm::outs() << "--- esp-loader monitor on " << port.name() << " " << baud << " ---\n";
    for (const std::string &note : notes) llvm::outs() << "--- " << note << " ---\n";
    if (options.interactive)
        llvm::outs() << "--- Quit: Ctrl+] | Reset: Ctrl+T followed by Ctrl+R ---\n";
    llvm::outs().flush();

    // A chip on Espressif's own USB (USB-Serial-JTAG or USB-OTG, vendor 303a) is reset as esptool
    // resets one that leaves the bus: the port may be gone for a moment.
    loader::Port *current = &port;
    std::unique_ptr<loader::Port> reopened;
    auto resetIntoApp = [&] {
        auto usb = current->usbId();
        loader::playResetSequence(*current, setup.custom_hard_reset
                                                ? *setup.custom_hard_reset
                                                : loader::hardReset(usb && usb->espressif()));
    };
    if (setup.reset_first && port.hasControlLines()) resetIntoApp();

    loader::MonitorEvents events;
    events.output = [&](std::string_view text) {
        llvm::outs() << text;
        llvm::outs().flush();
        if (log) *log << text;
    };
    events.note = [&](const std::string &note) {
        llvm::outs() << note << "\n";
        llvm::outs().flush();
        if (log) *log << note << "\n";
    };
    events.reset = [&] {
        llvm::outs() << "\n--- Resetting the chip ---\n";
        if (current->hasControlLines()) resetIntoApp();
    };
    events.reconnect = [&](std::chrono::steady_clock::time_point give_up_at) -> loader::Port * {
        const std::string name = current->name();
        events.note("--- " + name + " went away; waiting up to " +
                    std::to_string(kComeBackWithin.count()) + " s for it to come back ---");
        const auto deadline =
            std::min(give_up_at, std::chrono::steady_clock::now() + kComeBackWithin);
        while (std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
            auto again = loader::openPort(name, baud);
            if (!again) {
                llvm::consumeError(again.takeError());
                continue;
            }
            reopened = std::move(*again);
            current = reopened.get();
            events.note("--- " + name + " is back ---");
            return current;
        }
        return nullptr;
    };
    events.keys = typedKeys;
    std::optional<RawTerminal> terminal;
    if (options.interactive) terminal.emplace();
    events.line = [&](const std::string &line) {
        if (!rom_elf_awaits_revision) return;
        auto booted = revisionInBootLog(line);
        if (!booted) return;
        rom_elf_awaits_revision = false;
        std::vector<std::string> found;
        addRomElf(*decoder, setup.chip, *booted, found);
        for (const std::string &note : found) events.note("--- " + note + " ---");
    };
    auto end = loader::runMonitor(port, options, &*decoder, events, initial);
    terminal.reset();
    llvm::outs() << "\n";
    llvm::outs().flush();
    if (!end) return cli::reportError(kTool, end.takeError());
    switch (*end) {
    case loader::MonitorEnd::Until:
        llvm::outs() << "--- matched --until '" << options.until_text << "' ---\n";
        return cli::kExitSuccess;
    case loader::MonitorEnd::UserExit:
        return cli::kExitSuccess;
    case loader::MonitorEnd::FailOn:
        llvm::errs() << kTool << ": error: the chip printed a line matching --fail-on '"
                     << options.fail_on_text << "'\n";
        return 1;
    case loader::MonitorEnd::Panic:
        llvm::errs() << kTool << ": error: the chip panicked (see the report above)\n";
        return 1;
    case loader::MonitorEnd::Timeout:
        llvm::errs() << kTool << ": error: --timeout "
                     << llvm::format("%g", vm["timeout"].as<double>()) << " s passed"
                     << (options.until
                             ? " without a line matching --until '" + options.until_text + "'"
                             : std::string())
                     << "\n";
        return 1;
    case loader::MonitorEnd::PortClosed:
        llvm::errs() << kTool << ": error: " << port.name()
                     << " went away and did not come back within " << kComeBackWithin.count()
                     << " s\n";
        return 1;
    }
    return 1;
}

} // namespace esptools::loader_cli
