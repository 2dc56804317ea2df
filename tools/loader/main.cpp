// esp-loader: esptool's device commands through the chip's ROM loader.
#include "command_table.h"
#include "esptools/cli/cli.h"
#include "esptools/cli/options.h"
#include "esptools/loader/boards.h"
#include "esptools/loader/commands.h"
#include "esptools/loader/config.h"
#include "esptools/loader/reset.h"
#include "every_board.h"
#include "monitor_command.h"

#include <boost/program_options.hpp>
#include <llvm/ADT/StringExtras.h>
#include <llvm/Support/FileSystem.h>
#include <llvm/Support/Format.h>
#include <llvm/Support/raw_ostream.h>

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <future>
#include <iostream>
#include <map>
#include <sstream>

namespace po = boost::program_options;
using namespace esptools;
using namespace esptools::loader_cli;

namespace {

constexpr const char *kVersionBanner = "esp-loader v0.1.0 (esptool v5.3 compatible)";
constexpr const char *kVersion = "0.1.0";

void usage(std::ostream &out, const po::options_description &global) {
    out << "usage: esp-loader [--chip CHIP] [--port PORT] [--baud BAUD] COMMAND [ARGS]\n\n"
        << global
        << "\nCommands (both spellings, e.g. write-flash / write_flash): write-flash, read-flash, "
           "verify-flash, erase-flash,\n"
           "  erase-region, read-mac, chip-id, flash-id, read-flash-sfdp, get-security-info, "
           "read-mem, write-mem, "
           "dump-mem, load-ram,\n"
           "  read-flash-status, write-flash-status, run,\n"
           "  read-partition, write-partition, erase-partition (by name, from the device's table)\n"
           "Ports: /dev/ttyUSB0, socket://HOST:PORT, rfc2217://HOST:PORT, "
           "vchip:CHIP[?flash=FILE&size=4MB&...]\n"
           "  (in-process virtual chip); without --port or ESPTOOL_PORT, USB serial ports are "
           "tried in turn.\n"
           "Settings are also read from an esptool.cfg-style file ([esptool] section).\n";
}

// Reset, timeout and retry settings from an esptool.cfg file, applied to the device.
struct SessionSettings {
    loader::ResetSettings reset;
    std::optional<loader::ResetSequence> custom_hard_reset; // else esptool's, for the port
    loader::Timeouts timeouts;
    std::string connect_attempts = "7";
};

llvm::Expected<SessionSettings> settingsFrom(const std::optional<loader::ToolConfig> &config) {
    SessionSettings settings;
    if (!config) return settings;
    auto seconds = [&](const char *key, auto apply) -> llvm::Error {
        auto value = config->number(key);
        if (!value) return value.takeError();
        if (*value) apply(**value);
        return llvm::Error::success();
    };
    using std::chrono::milliseconds;
    auto ms = [](double s) { return milliseconds(static_cast<int64_t>(s * 1000)); };
    auto &t = settings.timeouts;
    if (auto e = seconds("timeout", [&](double v) { t.normal = ms(v); })) return e;
    if (auto e = seconds("sync_timeout", [&](double v) { t.sync = ms(v); })) return e;
    if (auto e = seconds("max_timeout", [&](double v) { t.max = ms(v); })) return e;
    if (auto e = seconds("md5_timeout_per_mb", [&](double v) { t.md5_per_mb_ms = v * 1000; }))
        return e;
    if (auto e =
            seconds("erase_write_timeout_per_mb", [&](double v) { t.erase_per_mb_ms = v * 1000; }))
        return e;
    if (auto e = seconds("reset_delay",
                         [&](double v) { settings.reset.delay = settings.reset.extra_delay = v; }))
        return e;
    if (auto e = seconds("connect_attempts",
                         [&](double v) { settings.connect_attempts = std::to_string(int(v)); }))
        return e;
    if (auto text = config->text("custom_reset_sequence")) {
        if (auto parsed = loader::parseResetSequence(*text); !parsed)
            return cli::makeError("%s: custom_reset_sequence: %s", config->path.c_str(),
                                  llvm::toString(parsed.takeError()).c_str());
        settings.reset.custom_sequence = *text;
    }
    if (auto text = config->text("custom_hard_reset_sequence")) {
        auto parsed = loader::parseResetSequence(*text);
        if (!parsed)
            return cli::makeError("%s: custom_hard_reset_sequence: %s", config->path.c_str(),
                                  llvm::toString(parsed.takeError()).c_str());
        settings.custom_hard_reset = *parsed;
    }
    return settings;
}

void printConfigNotes(const std::optional<loader::ToolConfig> &config) {
    if (!config) return;
    llvm::outs() << "Loaded custom configuration from " << config->path
                 << (config->from_environment ? " (set with ESPTOOL_CFGFILE)" : "") << "\n";
    if (!config->unknown_keys.empty())
        llvm::outs() << "Note: Ignoring unknown config file option"
                     << (config->unknown_keys.size() > 1 ? "s" : "") << ": "
                     << llvm::join(config->unknown_keys, ", ") << "\n";
}

} // namespace

int main(int argc, char **argv) {
    cli::keepOutputInOrder();
    auto parsed_args = cli::commandLine(std::span<char *const>(argv + 1, argc - 1), "esptool");
    if (!parsed_args) return cli::reportError(kTool, parsed_args.takeError());
    const std::vector<std::string> &args = *parsed_args;
    auto config = loader::findToolConfig();
    if (config && !config->invalid.empty()) {
        llvm::outs() << "Note: Ignoring invalid config file " << config->path << ": "
                     << config->invalid << "\n";
        config.reset();
    }
    auto settings = settingsFrom(config);
    if (!settings) return cli::reportError(kTool, settings.takeError());
    po::options_description global("global options");
    global.add_options()("help,h", "show this help")("version", "show the version")(
        "chip,c", po::value<std::string>()->default_value(envOr("ESPTOOL_CHIP", "auto")),
        "chip, or auto")("port,p", po::value<std::vector<std::string>>()->composing(),
                         "serial port, socket://, rfc2217:// or vchip: (repeat it to run the "
                         "command on every board at once; ESPTOOL_PORT takes a list: A:B)")(
        "all-ports", po::bool_switch(),
        "run the command on every port found (that --port-filter matches) at once")(
        "json", po::value<std::string>(),
        "write a record of what each board did (port, chip, MAC, result) to FILE as JSON")(
        "port-filter", po::value<std::vector<std::string>>()->multitoken()->composing(),
        "vid=N, pid=N, name=SUBSTR or serial=SUBSTR (without --port)")(
        "baud,b", po::value<std::string>()->default_value(envOr("ESPTOOL_BAUD", "115200")),
        "baud rate")(
        "before", po::value<std::string>()->default_value(envOr("ESPTOOL_BEFORE", "default-reset")),
        "default-reset, usb-reset, no-reset, no-reset-no-sync")(
        "after,a", po::value<std::string>()->default_value(envOr("ESPTOOL_AFTER", "hard-reset")),
        "hard-reset, soft-reset, no-reset, no-reset-stub, watchdog-reset")(
        "no-stub", po::bool_switch(), "use the ROM loader only")(
        "stub-only", po::bool_switch(),
        "fail when the flasher stub does not start (by default the command goes on through the "
        "ROM loader)")(
        "stub-dir", po::value<std::string>()->default_value(""),
        "load stubs from DIR/<chip>.json (esptool's format) instead of the built-in ones")(
        "trace,t", po::bool_switch(), "show every packet")(
        "connect-attempts",
        po::value<int>()->default_value(
            std::atoi(envOr("ESPTOOL_CONNECT_ATTEMPTS", settings->connect_attempts).c_str())),
        "reset and sync attempts (0: forever)");

    // Global options come before the command name.
    size_t command_index = 0;
    while (command_index < args.size()) {
        const std::string &arg = args[command_index];
        if (!arg.empty() && arg[0] != '-') break;
        command_index += optionWords(arg, global);
    }
    po::variables_map gvm;
    try {
        std::vector<std::string> global_args(args.begin(),
                                             args.begin() + std::min(command_index, args.size()));
        po::store(cli::parseKeepingLast(global_args, global), gvm);
        po::notify(gvm);
    } catch (const po::error &error) {
        return cli::reportError(kTool, cli::makeError("%s", error.what()));
    }
    if (gvm.count("version")) {
        llvm::outs() << kVersionBanner << "\n" << kVersion << "\n";
        return cli::kExitSuccess;
    }
    if (gvm.count("help") || command_index >= args.size()) {
        usage(gvm.count("help") ? std::cout : std::cerr, global);
        return gvm.count("help") ? 0 : cli::kExitFatal;
    }
    std::string command_name = cli::canonicalCommand(args[command_index]);
    cli::warnIfDeprecatedSpelling(args[command_index], command_name);
    if (command_name == "version") {
        printConfigNotes(config);
        llvm::outs() << kVersionBanner << "\n" << kVersion << "\n";
        return cli::kExitSuccess;
    }
    loader::WriteFlashStats write_stats;
    auto table = commands(write_stats);
    auto found = table.find(command_name);
    if (found == table.end())
        return cli::reportError(
            kTool, cli::makeError("unknown command '%s' (try --help)", command_name.c_str()));
    Command &command = found->second;
    // The record --json writes: filled in as the session goes, written however it ends.
    const std::optional<std::string> json_path =
        gvm.count("json") ? std::optional(gvm["json"].as<std::string>()) : std::nullopt;
    loader::BoardReport report;
    report.command = command_name;
    const auto session_start = std::chrono::steady_clock::now();
    bool every_board_run = false; // the boards' own runs write their records
    auto finish = [&](int code) {
        report.seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - session_start).count();
        if (command_name == "write-flash") {
            report.bytes = write_stats.bytes;
            report.sectors_written = write_stats.sectors_written;
            report.sectors_skipped = write_stats.sectors_skipped;
            if (report.error.empty()) report.verified = write_stats.verified;
        }
        if (code != cli::kExitSuccess && report.error.empty())
            report.error = "exit code " + std::to_string(code);
        if (json_path && !every_board_run)
            if (auto failure = loader::writeBoardReports(*json_path, {&report, 1})) {
                cli::reportError(kTool, std::move(failure));
                return cli::kExitFatal;
            }
        return code;
    };
    auto fail = [&](llvm::Error error) {
        report.error = llvm::toString(std::move(error));
        return finish(cli::reportError(kTool, cli::makeError("%s", report.error.c_str())));
    };
    std::vector<std::string> command_args(args.begin() + command_index + 1, args.end());
    po::variables_map vm;
    try {
        po::options_description all;
        all.add(command.options);
        po::positional_options_description positional;
        for (size_t i = 0; i < command.positional.size(); ++i) {
            bool last = i + 1 == command.positional.size();
            po::value_semantic *semantic = nullptr;
            if (command.repeat_last && last)
                semantic = po::value<std::vector<std::string>>()->multitoken()->required();
            else
                semantic = po::value<std::string>()->required();
            all.add_options()(command.positional[i].c_str(), semantic, "");
            positional.add(command.positional[i].c_str(), command.repeat_last && last ? -1 : 1);
        }
        if (command_name == "write-mem") { // MASK is optional
            all.add_options()("mask", po::value<std::string>(), "");
            positional.add("mask", 1);
        }
        all.add_options()("help,h", "show this help");
        po::store(cli::parseKeepingLast(command_args, all, &positional), vm);
        if (vm.count("help")) {
            std::cout << "usage: esp-loader [global options] " << command_name;
            for (const auto &name : command.positional) std::cout << " " << name;
            std::cout << "\n" << command.options;
            return 0;
        }
        po::notify(vm);
    } catch (const po::error &error) {
        return fail(cli::makeError("%s: %s", command_name.c_str(), error.what()));
    }
    if (auto failure = checkArguments(command_name, vm)) return fail(std::move(failure));
    if (command_name == "monitor" || loader_cli::monitorRequested(vm))
        if (auto failure = loader_cli::checkMonitorOptions(vm)) return fail(std::move(failure));

    std::string before = canonicalChoice(gvm["before"].as<std::string>());
    std::string after = canonicalChoice(gvm["after"].as<std::string>());
    cli::warnIfDeprecatedSpelling(gvm["before"].as<std::string>(), before, "--before");
    cli::warnIfDeprecatedSpelling(gvm["after"].as<std::string>(), after, "--after");
    static const std::map<std::string, loader::BeforeReset> kBefore = {
        {"default-reset", loader::BeforeReset::Default},
        {"usb-reset", loader::BeforeReset::Usb},
        {"no-reset", loader::BeforeReset::None},
        {"no-reset-no-sync", loader::BeforeReset::NoneNoSync}};
    static const std::map<std::string, loader::AfterReset> kAfter = {
        {"hard-reset", loader::AfterReset::Hard},
        {"soft-reset", loader::AfterReset::Soft},
        {"no-reset", loader::AfterReset::None},
        {"no-reset-stub", loader::AfterReset::NoneStub},
        {"watchdog-reset", loader::AfterReset::Watchdog}};
    if (!kBefore.count(before))
        return fail(cli::makeError("%s is not a valid reset mode.", before.c_str()));
    if (!kAfter.count(after))
        return fail(cli::makeError("%s is not a valid reset mode.", after.c_str()));
    const chipdb::ChipDescription *expected = nullptr;
    std::string chip_name = gvm["chip"].as<std::string>();
    if (chip_name != "auto") {
        expected = chipdb::findChip(chip_name);
        if (!expected)
            return fail(cli::makeError("invalid --chip '%s' (choose from auto, %s)",
                                       chip_name.c_str(),
                                       std::string(chipdb::chipNameList()).c_str()));
    }
    auto baud = number(gvm["baud"].as<std::string>());
    if (!baud) return fail(cli::makeError("--baud: %s", llvm::toString(baud.takeError()).c_str()));
    printConfigNotes(config);

    std::vector<std::string> candidates = gvm.count("port")
                                              ? gvm["port"].as<std::vector<std::string>>()
                                              : loader::splitPortList(envOr("ESPTOOL_PORT", ""));
    const bool every_board = candidates.size() > 1 || gvm["all-ports"].as<bool>();
    if (candidates.empty()) {
        std::vector<std::string> filters;
        if (gvm.count("port-filter")) filters = gvm["port-filter"].as<std::vector<std::string>>();
        auto found = loader::filterPorts(loader::listSystemSerialPorts(), filters);
        if (!found) return fail(found.takeError());
        for (const auto &port : *found) candidates.push_back(port.device);
        llvm::outs() << "Found " << candidates.size() << " serial ports...\n";
        if (candidates.empty())
            return fail(
                cli::makeError("No serial ports found. Connect a device, or set --port or "
                               "ESPTOOL_PORT (e.g. /dev/ttyUSB0, socket://127.0.0.1:5555 or "
                               "vchip:esp32c3)."));
    }
    // A monitor is a terminal on one board: with several, whose output would it show?
    if ((command_name == "monitor" || loader_cli::monitorRequested(vm)) &&
        (every_board || candidates.size() > 1))
        return fail(cli::makeError("%s: the monitor watches one board; %zu ports were given or "
                                   "found (choose one with --port)",
                                   command_name.c_str(), candidates.size()));
    if (every_board && candidates.size() > 1) {
        every_board_run = true;
        return runOnEveryBoard(argv[0], args, command_index, candidates, global, json_path);
    }

    if (command_name == "monitor") {
        auto opened = loader::openPort(candidates.front(), vm["monitor-baud"].as<uint32_t>());
        if (!opened) return fail(opened.takeError());
        report.port = candidates.front();
        loader_cli::MonitorSetup setup;
        if (expected) setup.chip = std::string(expected->name);
        setup.custom_hard_reset = settings->custom_hard_reset;
        // Into the app: EN pulsed with IO0 released, as esptool's --after hard-reset.
        setup.reset_first = !vm["no-reset"].as<bool>();
        return finish(loader_cli::monitorPort(**opened, vm, {}, setup));
    }
    auto before_mode = kBefore.at(before);
    settings->reset.usb_reset = before_mode == loader::BeforeReset::Usb;
    std::unique_ptr<loader::Port> port;
    std::unique_ptr<loader::Device> connected;
    std::string port_name;
    for (const std::string &candidate : candidates) {
        port_name = candidate;
        const uint32_t opening_baud = before_mode == loader::BeforeReset::NoneNoSync
                                          ? *baud
                                          : std::min<uint32_t>(*baud, 115200);
        auto opened = loader::openPort(candidate, opening_baud);
        if (!opened) {
            if (candidates.size() == 1) return fail(opened.takeError());
            llvm::outs() << llvm::toString(opened.takeError()) << "\n";
            continue;
        }
        auto device = std::make_unique<loader::Device>(**opened, gvm["trace"].as<bool>());
        device->timeouts() = settings->timeouts;
        if (settings->custom_hard_reset) device->setHardResetSequence(*settings->custom_hard_reset);
        llvm::outs() << "esp-loader (esptool v5 compatible)\nSerial port " << candidate
                     << ":\nConnecting...";
        llvm::outs().flush();
        llvm::Error failure = llvm::Error::success();
        if (before_mode != loader::BeforeReset::NoneNoSync) {
            std::vector<loader::ResetSequence> resets;
            if (before_mode != loader::BeforeReset::None && (*opened)->refusesControlLines())
                llvm::outs() << "\nWARNING: Chip was NOT reset. Setting RTS/DTR lines is not "
                                "supported for port '"
                             << candidate
                             << "'. Set --before and --after arguments to 'no-reset' and switch "
                                "to bootloader manually to avoid this warning.\n";
            if (before_mode != loader::BeforeReset::None && (*opened)->hasControlLines()) {
                auto strategies = loader::resetStrategies(**opened, settings->reset);
                if (!strategies) return fail(strategies.takeError());
                resets = std::move(*strategies);
            }
            failure = device->connect(resets, gvm["connect-attempts"].as<int>());
        }
        if (!failure) {
            port = std::move(*opened);
            connected = std::move(device);
            break;
        }
        if (candidates.size() == 1) return fail(std::move(failure));
        llvm::outs() << llvm::toString(std::move(failure)) << "\n";
    }
    if (!connected)
        return fail(cli::makeError("Could not connect to an Espressif device on "
                                   "any of the %zu available serial ports.",
                                   candidates.size()));
    loader::Device &device = *connected;
    llvm::outs() << "\n";
    auto chip = device.detect(expected);
    if (!chip) return fail(chip.takeError());
    report.port = port_name;
    report.chip = (*chip)->display_name;
    if (!expected) llvm::outs() << "Detecting chip type... " << (*chip)->display_name << "\n";
    auto console = loader::romConsole(device);
    if (!console) return fail(console.takeError());
    device.setConsole(*console);
    const bool usb_serial_jtag = *console == loader::Console::UsbSerialJtag;
    if (auto failure = loader::printChipInfo(device)) return fail(std::move(failure));
    // The monitor that follows picks the ROM ELF of this revision (read now: then the app runs).
    loader_cli::MonitorSetup watched{std::string((*chip)->name), std::nullopt,
                                     settings->custom_hard_reset, false};
    if (loader_cli::monitorRequested(vm) && std::getenv("ESP_ROM_ELF_DIR")) {
        auto revision = loader::chipRevision(device);
        if (!revision) return fail(revision.takeError());
        watched.revision = *revision;
    }
    if (json_path) {
        auto mac = loader::readMacAddress(device);
        if (mac)
            report.mac = loader::macText(mac->base);
        else
            llvm::consumeError(mac.takeError());
    }
    // A reset over USB-Serial-JTAG leaves the RTC watchdogs as the app had them: they would reset
    // the chip in the middle of the work (esptool's disable_watchdogs).
    if (usb_serial_jtag && !device.stubAlreadyRunning() &&
        before_mode != loader::BeforeReset::NoneNoSync)
        if (auto failure = device.disableWatchdogs()) return fail(std::move(failure));
    if (command.prepare) command.prepare(**chip, vm);
    bool use_stub = !gvm["no-stub"].as<bool>() && !command.rom_serves;
    if (auto why = port->whyCodeCannotRun(); use_stub && !why.empty()) {
        llvm::outs() << "NOTE: " << why << "; using the ROM loader (as with --no-stub).\n";
        use_stub = false;
    }
    const bool change_baud = before_mode != loader::BeforeReset::NoneNoSync && *baud > 115200;
    bool baud_changed = false;
    // A ROM that can change its rate does so before the stub upload, which then goes at the fast
    // rate; the stub keeps the UART as the ROM left it.
    if (change_baud && use_stub && (*chip)->rom.change_baudrate && !device.stubAlreadyRunning()) {
        if (auto failure = device.changeBaud(*baud)) return fail(std::move(failure));
        baud_changed = true;
    }
    if (use_stub) {
        auto revision = loader::chipRevision(device);
        if (!revision) return fail(revision.takeError());
        const std::string name = loader::stubName(**chip, *revision);
        auto stub = loader::findStub(name, gvm["stub-dir"].as<std::string>());
        if (!stub) return fail(stub.takeError());
        if (*stub && (*stub)->numbers_data_answers && *console == loader::Console::UsbOtg) {
            // Ours answers on UART0 or USB-Serial-JTAG only: uploaded, it would be deaf here.
            llvm::outs() << "NOTE: our flasher stub does not speak USB-OTG; using the ROM loader "
                            "(Espressif's does: give it with --stub-dir).\n";
        } else if (*stub) {
            if (!(*stub)->numbers_data_answers && gvm["stub-dir"].as<std::string>().empty())
                llvm::outs() << "Using Espressif's flasher stub " << (*stub)->origin << "\n";
            auto failure = device.runStub(std::move(**stub));
            if (failure && gvm["stub-only"].as<bool>()) return fail(std::move(failure));
            if (failure) {
                // A stub that does not start must not end the session: the ROM can still do it.
                llvm::outs() << "WARNING: " << llvm::toString(std::move(failure))
                             << " Resetting into download mode to go on with the ROM loader "
                                "(--stub-only makes this an error).\n";
                if (!port->hasControlLines() || before_mode == loader::BeforeReset::None ||
                    before_mode == loader::BeforeReset::NoneNoSync)
                    return fail(cli::makeError("the stub did not start, and the chip cannot be "
                                               "reset into download mode without control lines "
                                               "(--before %s): nothing was written",
                                               gvm["before"].as<std::string>().c_str()));
                auto resets = loader::resetStrategies(*port, settings->reset);
                if (!resets) return fail(resets.takeError());
                if (auto again = device.reconnect(*resets, gvm["connect-attempts"].as<int>()))
                    return fail(std::move(again));
                llvm::outs() << "\n";
                if (usb_serial_jtag)
                    if (auto again = device.disableWatchdogs()) return fail(std::move(again));
                baud_changed = false;
            }
        } else {
            llvm::outs() << "NOTE: there is no flasher stub for " << (*chip)->display_name
                         << (gvm["stub-dir"].as<std::string>().empty()
                                 ? ""
                                 : " in " + gvm["stub-dir"].as<std::string>())
                         << " (" << name << ".json); using the ROM loader.\n";
        }
    }
    if (change_baud && !baud_changed)
        if (auto failure = device.changeBaud(*baud)) return fail(std::move(failure));
    if (vm.count("spi-connection")) {
        auto pins = spiConnection(vm["spi-connection"].as<std::string>(), **chip);
        if (!pins) return fail(pins.takeError());
        device.setSpiConnection(*pins);
    }
    llvm::outs() << "\n";
    llvm::outs().flush();
    auto result = command.run(device, vm);
    int exit_code = cli::kExitSuccess;
    if (result) {
        report.error = llvm::toString(std::move(result));
        exit_code = cli::reportError(kTool, cli::makeError("%s", report.error.c_str()));
    }
    llvm::outs() << "\n";
    // load-ram leaves the loaded code running ("Exiting immediately."); run ends with the
    // after-action, which starts the app where a stub ignored FLASH_END(1).
    if (command_name != "load-ram")
        if (auto failure = device.reset(kAfter.at(after))) {
            std::string text = llvm::toString(std::move(failure));
            if (report.error.empty()) report.error = text;
            int code = cli::reportError(kTool, cli::makeError("%s", text.c_str()));
            if (exit_code == cli::kExitSuccess) exit_code = code;
        }
    // A chip reset by `run` starts again at the boot ROM's 115200 baud, and so does what it boots.
    if (command_name == "run" && after != "no-reset" && after != "no-reset-stub" &&
        device.baud() != 115200)
        if (auto failure = port->setBaudRate(115200)) llvm::consumeError(std::move(failure));
    if (exit_code == cli::kExitSuccess && loader_cli::monitorRequested(vm)) {
        std::string initial;
        bool in_frame = false; // the last reply may still be in flight: not the app's text
        for (uint8_t byte : device.takeUnreadBytes()) {
            if (byte == 0xC0)
                in_frame = !in_frame;
            else if (!in_frame)
                initial.push_back(char(byte));
        }
        llvm::outs().flush();
        exit_code = loader_cli::monitorPort(*port, vm, initial, watched);
    } else if (command_name == "load-ram" || command_name == "run") {
        // Show what the chip prints as it starts (the only way to see it on an in-process chip).
        if (exit_code == cli::kExitSuccess) {
            uint8_t buffer[1024];
            bool in_frame = false; // the ROM's last reply may still be in flight: not text
            auto show = [&](std::span<const uint8_t> bytes) {
                for (uint8_t byte : bytes) {
                    if (byte == 0xC0)
                        in_frame = !in_frame;
                    else if (!in_frame)
                        llvm::outs() << char(byte);
                }
            };
            show(device.takeUnreadBytes());
            auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(300);
            while (std::chrono::steady_clock::now() < until) {
                auto got = port->read(buffer, std::chrono::milliseconds(50));
                if (!got) {
                    llvm::consumeError(got.takeError());
                    break;
                }
                for (size_t i = 0; i < *got; ++i) {
                    if (buffer[i] == 0xC0)
                        in_frame = !in_frame;
                    else if (!in_frame)
                        llvm::outs() << char(buffer[i]);
                }
            }
            llvm::outs().flush();
        }
    }
    return finish(exit_code);
}
