#include "command_table.h"

#include "esptools/cli/cli.h"
#include "esptools/cli/options.h"
#include "monitor_command.h"

#include <llvm/ADT/StringExtras.h>
#include <llvm/Support/raw_ostream.h>

#include <algorithm>
#include <cstdlib>

namespace esptools::loader_cli {

std::string envOr(const char *name, const std::string &fallback) {
    const char *value = std::getenv(name);
    return value && *value ? value : fallback;
}

llvm::Expected<std::optional<uint32_t>> sizeOrAll(const std::string &text) {
    if (llvm::StringRef(text).equals_insensitive("all")) return std::nullopt;
    auto value = cli::parseSize(text);
    if (!value) return value.takeError();
    if (*value > UINT32_MAX) return cli::makeError("'%s' does not fit in 32 bits", text.c_str());
    return static_cast<uint32_t>(*value);
}

llvm::Expected<uint32_t> number(const std::string &text, bool size) {
    auto value = size ? cli::parseSize(text) : cli::parseInteger(text);
    if (!value) return value.takeError();
    if (*value > UINT32_MAX) return cli::makeError("'%s' does not fit in 32 bits", text.c_str());
    return static_cast<uint32_t>(*value);
}

std::string canonicalChoice(std::string value) {
    std::replace(value.begin(), value.end(), '_', '-');
    return value;
}

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

void addCommand(CommandTable &table, const std::string &name, std::vector<std::string> positional,
                bool repeat_last, std::function<void(po::options_description &)> options,
                RunCommand run) {
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
}

CommandTable commands(loader::WriteFlashStats &stats) {
    CommandTable table;
    addFlashCommands(table, stats);
    addDeviceCommands(table);
    // The monitor opens the port itself (no loader session): see main().
    addCommand(
        table, "monitor", {}, false, [](po::options_description &o) { addMonitorOptions(o, true); },
        [](loader::Device &, const po::variables_map &) -> llvm::Error {
            return cli::makeError("the monitor runs without a loader session");
        });
    for (const char *name : {"write-flash", "run", "load-ram"})
        addMonitorOptions(table.at(name).options, false);
    return table;
}

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

} // namespace esptools::loader_cli
