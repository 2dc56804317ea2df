// esp-loader: esptool's device commands through the chip's ROM loader.
#include "esptools/cli/cli.h"
#include "esptools/cli/options.h"
#include "esptools/loader/boards.h"
#include "esptools/loader/commands.h"
#include "esptools/loader/config.h"
#include "esptools/loader/reset.h"
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

namespace {

constexpr const char *kTool = "esp-loader";
constexpr const char *kVersionBanner = "esp-loader v0.1.0 (esptool v5.3 compatible)";
constexpr const char *kVersion = "0.1.0";

std::string envOr(const char *name, const std::string &fallback) {
    const char *value = std::getenv(name);
    return value && *value ? value : fallback;
}

// A size, or ALL (any case, as esptool's AutoSizeType): to the end of the flash.
llvm::Expected<std::optional<uint32_t>> sizeOrAll(const std::string &text) {
    if (llvm::StringRef(text).equals_insensitive("all")) return std::nullopt;
    auto value = cli::parseSize(text);
    if (!value) return value.takeError();
    if (*value > UINT32_MAX) return cli::makeError("'%s' does not fit in 32 bits", text.c_str());
    return static_cast<uint32_t>(*value);
}

llvm::Expected<uint32_t> number(const std::string &text, bool size = false) {
    auto value = size ? cli::parseSize(text) : cli::parseInteger(text);
    if (!value) return value.takeError();
    if (*value > UINT32_MAX) return cli::makeError("'%s' does not fit in 32 bits", text.c_str());
    return static_cast<uint32_t>(*value);
}

std::string canonicalChoice(std::string value) {
    std::replace(value.begin(), value.end(), '_', '-');
    return value;
}

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

using PreparedFiles = llvm::Expected<std::vector<loader::PreparedFlashFile>>;

// What write-flash did in this run, for the record --json writes.
loader::WriteFlashStats write_stats;

formats::FlashParams flashParams(const po::variables_map &vm) {
    return {vm["flash-mode"].as<std::string>(), vm["flash-freq"].as<std::string>(),
            vm["flash-size"].as<std::string>()};
}

void addFlashParams(po::options_description &options) {
    options.add_options()("flash-mode",
                          po::value<std::string>()->default_value(envOr("ESPTOOL_FM", "keep")),
                          "qio, qout, dio, dout or keep")(
        "flash-freq", po::value<std::string>()->default_value(envOr("ESPTOOL_FF", "keep")),
        "flash frequency or keep")(
        "flash-size", po::value<std::string>()->default_value(envOr("ESPTOOL_FS", "keep")),
        "flash size, keep or detect");
}

std::map<std::string, Command> commands() {
    std::map<std::string, Command> table;
    auto add = [&](const std::string &name, std::vector<std::string> positional, bool repeat_last,
                   std::function<void(po::options_description &)> options,
                   std::function<llvm::Error(loader::Device &, const po::variables_map &)> run) {
        Command command{po::options_description(name + " options"),
                        std::move(positional),
                        repeat_last,
                        false,
                        false,
                        std::move(run),
                        nullptr};
        command.options.add_options()("spi-connection", po::value<std::string>(),
                                      "SPI, HSPI or CLK,Q,D,HD,CS");
        if (options) options(command.options);
        table.emplace(name, std::move(command));
    };
    auto pairs = [](const po::variables_map &vm) {
        return vm["args"].as<std::vector<std::string>>();
    };
    auto early_files = std::make_shared<std::future<PreparedFiles>>();

    add(
        "write-flash", {"args"}, true,
        [](po::options_description &o) {
            addFlashParams(o);
            o.add_options()("erase-all,e", po::bool_switch(), "erase all flash first")(
                "no-progress,p", po::bool_switch(), "no progress")("compress,z", po::bool_switch(),
                                                                   "compress (default)")(
                "no-compress,u", po::bool_switch(), "do not compress")(
                "force", po::bool_switch(), "skip checks")("encrypt", po::bool_switch(),
                                                           "(not supported: refused)")(
                "encrypt-files", po::value<std::vector<std::string>>()->multitoken(),
                "(not supported: refused)")("ignore-flash-enc-efuse", po::bool_switch(),
                                            "(not supported: refused)");
            o.add_options()("diff-with", po::value<std::vector<std::string>>()->multitoken(),
                            "files the flash holds now, one per file written, or 'skip': only "
                            "changed sectors are written")(
                "trust-flash-content", po::bool_switch(),
                "no MD5 check of files found unchanged (with --diff-with)")(
                "skip-flashed,s", po::bool_switch(), "skip files the flash already holds")(
                "write-all", po::bool_switch(),
                "write every sector (by default the sectors the chip already holds, as its "
                "digests show, are skipped)");
        },
        [pairs, early_files](loader::Device &device, const po::variables_map &vm) -> llvm::Error {
            if (vm["compress"].as<bool>() && vm["no-compress"].as<bool>())
                return cli::makeError("Illegal usage: --no-compress is mutually exclusive with "
                                      "arguments: --compress.");
            loader::WriteFlashOptions options;
            options.compress = !vm["no-compress"].as<bool>();
            options.erase_all = vm["erase-all"].as<bool>();
            options.force = vm["force"].as<bool>();
            options.trust_flash_content = vm["trust-flash-content"].as<bool>();
            options.skip_flashed = vm["skip-flashed"].as<bool>();
            options.skip_unchanged_sectors = !vm["write-all"].as<bool>();
            options.stats = &write_stats;
            if (vm.count("diff-with"))
                for (const auto &name : vm["diff-with"].as<std::vector<std::string>>()) {
                    if (name == "skip") {
                        options.diff_with.emplace_back();
                        continue;
                    }
                    auto old = cli::readFile(name);
                    if (!old) return old.takeError();
                    options.diff_with.emplace_back(std::move(*old));
                }
            options.progress = !vm["no-progress"].as<bool>();
            options.params = flashParams(vm);
            auto prepare = [&](const formats::FlashParams &resolved)
                -> llvm::Expected<std::vector<loader::PreparedFlashFile>> {
                if (early_files->valid() && resolved == options.params) return early_files->get();
                auto files = loader::readFlashFiles(pairs(vm));
                if (!files) return files.takeError();
                return loader::prepareFlashFiles(*device.chip(), std::move(*files), resolved,
                                                 options.compress);
            };
            return loader::writeFlash(device, prepare, options);
        });
    // Patching and compressing a megabyte takes a tenth of a second: it runs while the stub is
    // uploaded. Not for flash size "detect", whose patch needs the size the flash reports.
    table.at("write-flash").prepare = [pairs, early_files](const chipdb::ChipDescription &chip,
                                                           const po::variables_map &vm) {
        formats::FlashParams params = flashParams(vm);
        if (params.size == "detect") return;
        *early_files = std::async(std::launch::async,
                                  [&chip, words = pairs(vm), params,
                                   compress = !vm["no-compress"].as<bool>()]() -> PreparedFiles {
                                      auto files = loader::readFlashFiles(words);
                                      if (!files) return files.takeError();
                                      return loader::prepareFlashFiles(chip, std::move(*files),
                                                                       params, compress);
                                  });
    };
    add(
        "read-flash", {"address", "size", "output"}, false,
        [](po::options_description &o) {
            o.add_options()("no-progress,p", po::bool_switch(), "no progress")(
                "flash-size", po::value<std::string>()->default_value("keep"), "flash size");
        },
        [](loader::Device &device, const po::variables_map &vm) -> llvm::Error {
            auto address = number(vm["address"].as<std::string>());
            if (!address) return address.takeError();
            auto size = sizeOrAll(vm["size"].as<std::string>());
            if (!size) return size.takeError();
            return loader::readFlash(device, *address, *size, vm["output"].as<std::string>(),
                                     !vm["no-progress"].as<bool>());
        });
    add(
        "verify-flash", {"args"}, true,
        [](po::options_description &o) {
            addFlashParams(o);
            o.add_options()("diff,d", po::bool_switch(), "show the differing bytes");
        },
        [pairs](loader::Device &device, const po::variables_map &vm) -> llvm::Error {
            auto words = pairs(vm);
            bool diff = vm["diff"].as<bool>();
            // esptool v4 spelled it "--diff yes|no".
            if (!words.empty() && (words.front() == "yes" || words.front() == "no")) {
                diff = diff || words.front() == "yes";
                words.erase(words.begin());
            }
            auto files = loader::readFlashFiles(words);
            if (!files) return files.takeError();
            return loader::verifyFlash(device, std::move(*files), flashParams(vm), diff);
        });
    add(
        "erase-flash", {}, false,
        [](po::options_description &o) {
            o.add_options()("force", po::bool_switch(), "skip checks");
        },
        [](loader::Device &device, const po::variables_map &) {
            return loader::eraseFlash(device);
        });
    add(
        "erase-region", {"address", "size"}, false,
        [](po::options_description &o) {
            o.add_options()("force", po::bool_switch(), "skip checks");
        },
        [](loader::Device &device, const po::variables_map &vm) -> llvm::Error {
            auto address = number(vm["address"].as<std::string>());
            if (!address) return address.takeError();
            auto size = sizeOrAll(vm["size"].as<std::string>());
            if (!size) return size.takeError();
            return loader::eraseRegion(device, *address, *size);
        });
    add("read-mac", {}, false, nullptr,
        [](loader::Device &device, const po::variables_map &) { return loader::readMac(device); });
    add("chip-id", {}, false, nullptr,
        [](loader::Device &device, const po::variables_map &) { return loader::chipId(device); });
    add("flash-id", {}, false, nullptr,
        [](loader::Device &device, const po::variables_map &) { return loader::flashId(device); });
    add("read-flash-sfdp", {"address", "length"}, false, nullptr,
        [](loader::Device &device, const po::variables_map &vm) -> llvm::Error {
            auto address = number(vm["address"].as<std::string>());
            if (!address) return address.takeError();
            auto length = number(vm["length"].as<std::string>());
            if (!length) return length.takeError();
            return loader::readFlashSfdp(device, *address, *length);
        });
    add("get-security-info", {}, false, nullptr,
        [](loader::Device &device, const po::variables_map &) {
            return loader::securityInfo(device);
        });
    add("read-mem", {"address"}, false, nullptr,
        [](loader::Device &device, const po::variables_map &vm) -> llvm::Error {
            auto address = number(vm["address"].as<std::string>());
            if (!address) return address.takeError();
            return loader::readMem(device, *address);
        });
    add("write-mem", {"address", "value"}, false, nullptr, // MASK is optional: added in main

        [](loader::Device &device, const po::variables_map &vm) -> llvm::Error {
            auto address = number(vm["address"].as<std::string>());
            if (!address) return address.takeError();
            auto value = number(vm["value"].as<std::string>());
            if (!value) return value.takeError();
            auto mask = number(vm.count("mask") ? vm["mask"].as<std::string>() : "0xFFFFFFFF");
            if (!mask) return mask.takeError();
            return loader::writeMem(device, *address, *value, *mask);
        });
    add("dump-mem", {"address", "size", "output"}, false, nullptr,
        [](loader::Device &device, const po::variables_map &vm) -> llvm::Error {
            auto address = number(vm["address"].as<std::string>());
            if (!address) return address.takeError();
            auto size = number(vm["size"].as<std::string>(), true);
            if (!size) return size.takeError();
            return loader::dumpMem(device, *address, *size, vm["output"].as<std::string>());
        });
    add("load-ram", {"filename"}, false, nullptr,
        [](loader::Device &device, const po::variables_map &vm) {
            return loader::loadRam(device, vm["filename"].as<std::string>());
        });
    add(
        "read-flash-status", {}, false,
        [](po::options_description &o) {
            o.add_options()("bytes", po::value<unsigned>()->default_value(2), "1, 2 or 3");
        },
        [](loader::Device &device, const po::variables_map &vm) -> llvm::Error {
            unsigned bytes = vm["bytes"].as<unsigned>();
            if (bytes < 1 || bytes > 3) return cli::makeError("--bytes must be 1, 2 or 3");
            return loader::readFlashStatus(device, bytes);
        });
    add(
        "write-flash-status", {"value"}, false,
        [](po::options_description &o) {
            o.add_options()("bytes", po::value<unsigned>()->default_value(2),
                            "1, 2 or 3")("non-volatile", po::bool_switch(),
                                         "make the change permanent (WREN instead of WEVSR)");
        },
        [](loader::Device &device, const po::variables_map &vm) -> llvm::Error {
            unsigned bytes = vm["bytes"].as<unsigned>();
            if (bytes < 1 || bytes > 3) return cli::makeError("--bytes must be 1, 2 or 3");
            auto value = number(vm["value"].as<std::string>());
            if (!value) return value.takeError();
            return loader::writeFlashStatus(device, bytes, *value, vm["non-volatile"].as<bool>());
        });
    add("run", {}, false, nullptr,
        [](loader::Device &device, const po::variables_map &) { return loader::run(device); });
    // Partitions by name, as ESP-IDF's parttool.py spells its option.
    auto table_offset = [](po::options_description &o) {
        o.add_options()("partition-table-offset", po::value<std::string>()->default_value("0x8000"),
                        "where the device's partition table is");
    };
    auto offsetOf = [](const po::variables_map &vm) {
        return number(vm["partition-table-offset"].as<std::string>());
    };
    add(
        "read-partition", {"name", "output"}, false,
        [table_offset](po::options_description &o) {
            table_offset(o);
            o.add_options()("no-progress,p", po::bool_switch(), "no progress");
        },
        [offsetOf](loader::Device &device, const po::variables_map &vm) -> llvm::Error {
            auto offset = offsetOf(vm);
            if (!offset) return offset.takeError();
            return loader::readPartition(device, *offset, vm["name"].as<std::string>(),
                                         vm["output"].as<std::string>(),
                                         !vm["no-progress"].as<bool>());
        });
    add(
        "write-partition", {"name", "input"}, false,
        [table_offset](po::options_description &o) {
            table_offset(o);
            o.add_options()("no-progress,p", po::bool_switch(),
                            "no progress")("no-compress,u", po::bool_switch(), "do not compress")(
                "write-all", po::bool_switch(), "write every sector, changed or not");
        },
        [offsetOf](loader::Device &device, const po::variables_map &vm) -> llvm::Error {
            auto offset = offsetOf(vm);
            if (!offset) return offset.takeError();
            loader::WriteFlashOptions options;
            options.compress = !vm["no-compress"].as<bool>();
            options.progress = !vm["no-progress"].as<bool>();
            options.skip_unchanged_sectors = !vm["write-all"].as<bool>();
            options.stats = &write_stats;
            return loader::writePartition(device, *offset, vm["name"].as<std::string>(),
                                          vm["input"].as<std::string>(), options);
        });
    add("erase-partition", {"name"}, false, table_offset,
        [offsetOf](loader::Device &device, const po::variables_map &vm) -> llvm::Error {
            auto offset = offsetOf(vm);
            if (!offset) return offset.takeError();
            return loader::erasePartition(device, *offset, vm["name"].as<std::string>());
        });
    // The monitor opens the port itself (no loader session): see main().
    add(
        "monitor", {}, false,
        [](po::options_description &o) { loader_cli::addMonitorOptions(o, true); },
        [](loader::Device &, const po::variables_map &) -> llvm::Error {
            return cli::makeError("the monitor runs without a loader session");
        });
    for (const char *name : {"write-flash", "run", "load-ram"})
        loader_cli::addMonitorOptions(table.at(name).options, false);
    for (const char *name :
         {"read-mac", "chip-id", "flash-id", "read-flash-sfdp", "get-security-info", "read-mem",
          "write-mem", "dump-mem", "read-flash-status", "write-flash-status"})
        table.at(name).rom_serves = true;
    return table;
}

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

// esptool's --spi-connection: SPI, HSPI, or five GPIO numbers CLK,Q,D,HD,CS.
llvm::Expected<uint32_t> spiConnection(const std::string &text,
                                       const chipdb::ChipDescription &chip) {
    if (text == "SPI") return 0;
    if (text == "HSPI") return 1;
    llvm::SmallVector<llvm::StringRef, 5> pins;
    llvm::StringRef(text).split(pins, ',');
    if (pins.size() != 5)
        return cli::makeError("--spi-connection: '%s' is not SPI, HSPI or CLK,Q,D,HD,CS",
                              text.c_str());
    if (!chip.rom.spi_attach)
        return cli::makeError("Setting --spi-connection is not supported by %s.",
                              std::string(chip.display_name).c_str());
    uint32_t value[5] = {};
    for (size_t i = 0; i < 5; ++i)
        if (pins[i].trim().getAsInteger(0, value[i]) || value[i] > 63)
            return cli::makeError("--spi-connection: '%s' is not a GPIO number",
                                  pins[i].str().c_str());
    llvm::outs() << "Configuring SPI NOR flash mode (CLK:" << value[0] << ", Q:" << value[1]
                 << ", D:" << value[2] << ", HD:" << value[3] << ", CS:" << value[4] << ")...\n";
    return value[3] << 24 | value[4] << 18 | value[2] << 12 | value[1] << 6 | value[0];
}

// Every argument and input file is checked before the port is opened: a usage error never
// connects to or resets a board.
llvm::Error checkArguments(const std::string &command, const po::variables_map &vm) {
    auto named = [&](const char *name, llvm::Error failure) -> llvm::Error {
        if (!failure) return failure;
        return cli::makeError("%s: %s: %s", command.c_str(), llvm::StringRef(name).upper().c_str(),
                              llvm::toString(std::move(failure)).c_str());
    };
    for (const char *option : {"encrypt", "encrypt-files", "ignore-flash-enc-efuse"})
        if (vm.count(option) && !vm[option].defaulted())
            return cli::makeError("%s: --%s: flash encryption is not supported by esp-loader yet "
                                  "(nothing was written; use esptool for encrypted writes)",
                                  command.c_str(), option);
    if (vm.count("trust-flash-content") && vm["trust-flash-content"].as<bool>() &&
        !vm.count("diff-with"))
        return cli::makeError("Option --trust-flash-content requires --diff-with.");
    if (vm.count("skip-flashed") && vm["skip-flashed"].as<bool>() && vm.count("diff-with"))
        return cli::makeError("Options --diff-with and --skip-flashed are mutually exclusive.");
    if (vm.count("diff-with"))
        for (const auto &name : vm["diff-with"].as<std::vector<std::string>>())
            if (name != "skip")
                if (auto old = cli::readFile(name); !old)
                    return cli::makeError("--diff-with: %s",
                                          llvm::toString(old.takeError()).c_str());
    for (const char *name : {"address", "value", "mask", "length"})
        if (vm.count(name))
            if (auto parsed = number(vm[name].as<std::string>()); !parsed)
                return named(name, parsed.takeError());
    if (vm.count("size")) {
        const std::string text = vm["size"].as<std::string>();
        if (command == "read-flash" || command == "erase-region") {
            if (auto parsed = sizeOrAll(text); !parsed) return named("size", parsed.takeError());
        } else if (auto parsed = number(text, true); !parsed) {
            return named("size", parsed.takeError());
        }
    }
    if (vm.count("length"))
        if (auto length = number(vm["length"].as<std::string>());
            length && (*length < 1 || *length > 4))
            return cli::makeError("%s: Invalid number of bytes to read from SFDP (1-4).",
                                  command.c_str());
    if (vm.count("bytes") && (vm["bytes"].as<unsigned>() < 1 || vm["bytes"].as<unsigned>() > 3))
        return cli::makeError("%s: --bytes must be 1, 2 or 3", command.c_str());
    if (vm.count("output") && vm["output"].as<std::string>().empty())
        return cli::makeError("%s: the output file name is empty", command.c_str());
    if (vm.count("flash-mode")) {
        const std::string mode = vm["flash-mode"].as<std::string>();
        if (mode != "keep" && !chipdb::flashModeCode(mode))
            return cli::makeError("%s: --flash-mode: '%s' is not one of keep, qio, qout, dio, dout",
                                  command.c_str(), mode.c_str());
    }
    std::optional<uint32_t> flash_size;
    if (vm.count("flash-size")) {
        const std::string size = vm["flash-size"].as<std::string>();
        if (size != "keep" && size != "detect") {
            flash_size = chipdb::flashSizeBytes(size);
            if (!flash_size)
                return cli::makeError("%s: --flash-size: '%s' is not a flash size (e.g. 4MB, "
                                      "keep, detect)",
                                      command.c_str(), size.c_str());
        }
    }
    if (vm.count("filename"))
        if (auto bytes = cli::readFile(vm["filename"].as<std::string>()); !bytes)
            return bytes.takeError();
    if (vm.count("args")) {
        auto words = vm["args"].as<std::vector<std::string>>();
        if (command == "verify-flash" && !words.empty() &&
            (words.front() == "yes" || words.front() == "no"))
            words.erase(words.begin());
        auto files = loader::readFlashFiles(words); // pairs, numbers, files, overlaps
        if (!files) return files.takeError();
        if (flash_size)
            for (const auto &file : *files)
                if (uint64_t(file.address) + file.data.size() > *flash_size)
                    return cli::makeError("File '%s' (length %zu) at offset 0x%08x will not fit "
                                          "in %u bytes of flash. Change the flash_size argument "
                                          "or flashing address.",
                                          file.name.c_str(), file.data.size(), file.address,
                                          *flash_size);
    }
    return llvm::Error::success();
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

// How many words a global option takes on the command line (1, or 2 with its value), read from
// its description rather than kept in a second list.
size_t optionWords(const std::string &arg, const po::options_description &global,
                   const po::option_description **found = nullptr) {
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

// Many boards: esp-loader again for each port, side by side, with the same arguments but the
// port selection; a status line per board while they run (plain lines when output is not a
// terminal), then a summary. Exit 0 only when every board succeeded.
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
    auto table = commands();
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
