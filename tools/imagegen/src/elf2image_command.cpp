#include "esptools/cli/cli.h"
#include "esptools/imagegen/commands.h"

#include "command_options.h"
#include "esptools/imagegen/elf2image.h"

#include <boost/program_options.hpp>
#include <llvm/ADT/StringExtras.h>
#include <llvm/Support/Path.h>
#include <llvm/Support/raw_ostream.h>

#include <cstdlib>
#include <sstream>

namespace po = boost::program_options;

namespace esptools::imagegen {
namespace {

constexpr const char *kTool = "esp-imagegen";

std::string withoutExtension(const std::string &path) {
    llvm::SmallString<256> result(path);
    llvm::sys::path::replace_extension(result, "");
    return std::string(result);
}

std::string envOr(const char *name, const char *fallback) {
    const char *value = std::getenv(name);
    return value ? value : fallback;
}

llvm::Expected<uint32_t> integerOption(const po::variables_map &vm, const char *name,
                                       uint64_t max) {
    auto value = cli::parseInteger(vm[name].as<std::string>());
    if (!value) return value.takeError();
    if (*value > max)
        return cli::makeError("--%s: %llu is out of range (0-%llu)", name,
                              static_cast<unsigned long long>(*value),
                              static_cast<unsigned long long>(max));
    return static_cast<uint32_t>(*value);
}

} // namespace

int runElf2Image(const CommandContext &context) {
    po::options_description described("elf2image options");
    described.add_options()("help,h", "show this help")(
        "output,o", po::value<std::string>(), "output file (ESP8266 v1: file name prefix)")(
        "version,e", po::value<std::string>()->default_value("1"),
        "ESP8266 image version: 1, 2 or 3")(
        "min-rev,r", po::value<std::string>()->default_value("0"), "legacy minimum chip revision")(
        "min-rev-full", po::value<std::string>()->default_value("0"),
        "minimum chip revision (major*100+minor)")(
        "max-rev-full", po::value<std::string>()->default_value("65535"), "maximum chip revision")(
        "secure-pad", po::bool_switch(), "pad for Secure Boot v1 signing (ESP32 only)")(
        "secure-pad-v2", po::bool_switch(), "pad for Secure Boot v2 signing")(
        "elf-sha256-offset", po::value<std::string>(),
        "insert the ELF's SHA-256 at this image offset")("dont-append-digest", po::bool_switch(),
                                                         "do not append a SHA-256 digest")(
        "use-segments", po::bool_switch(), "use ELF program headers instead of sections")(
        "flash-mmu-page-size", po::value<std::string>(),
        "64KB, 32KB, 16KB or 8KB")("pad-to-size", po::value<std::string>(),
                                   "pad the image with 0xFF to a multiple of this size (e.g. 1MB)")(
        "ram-only-header", po::bool_switch(), "header lists RAM segments only (no digest)")(
        "require-ram-only", po::bool_switch(),
        "fail, naming them, if any segment is flash-mapped (for load-ram images; not in esptool)")(
        "flash-freq", po::value<std::string>()->default_value(envOr("ESPTOOL_FF", "")),
        "flash frequency")("flash-mode",
                           po::value<std::string>()->default_value(envOr("ESPTOOL_FM", "qio")),
                           "qio, qout, dio, dout")(
        "flash-size", po::value<std::string>()->default_value(envOr("ESPTOOL_FS", "1MB")),
        "flash size")("spi-connection", po::value<std::string>(),
                      "accepted for esptool v4 compatibility; no effect")(
        "input", po::value<std::string>(), "ELF file");
    po::positional_options_description positional;
    positional.add("input", 1);
    po::variables_map vm;
    if (auto done = parseCommandOptions(context, "elf2image",
                                        "esp-imagegen --chip CHIP elf2image [options] FILE.elf",
                                        described, positional, vm))
        return *done;
    if (!context.chip)
        return cli::reportError(kTool,
                                cli::makeError("Specify the --chip argument (choose from %s).",
                                               std::string(chipdb::chipNameList()).c_str()));
    if (!vm.count("input"))
        return cli::reportError(kTool, cli::makeError("elf2image: missing the ELF file argument"));

    Elf2ImageOptions options;
    options.chip = context.chip;
    options.input_name = vm["input"].as<std::string>();
    const std::string version = vm["version"].as<std::string>();
    if (version != "1" && version != "2" && version != "3")
        return cli::reportError(
            kTool, cli::makeError("--version: '%s' is not one of 1, 2, 3", version.c_str()));
    options.esp8266_version = version[0] - '0';
    auto min_rev = integerOption(vm, "min-rev", 256);
    if (!min_rev) return cli::reportError(kTool, min_rev.takeError());
    auto min_rev_full = integerOption(vm, "min-rev-full", 65536);
    if (!min_rev_full) return cli::reportError(kTool, min_rev_full.takeError());
    auto max_rev_full = integerOption(vm, "max-rev-full", 65536);
    if (!max_rev_full) return cli::reportError(kTool, max_rev_full.takeError());
    options.min_rev = *min_rev;
    options.min_rev_full = *min_rev_full;
    options.max_rev_full = *max_rev_full;
    options.secure_pad = vm["secure-pad"].as<bool>();
    options.secure_pad_v2 = vm["secure-pad-v2"].as<bool>();
    options.append_digest = !vm["dont-append-digest"].as<bool>();
    options.use_segments = vm["use-segments"].as<bool>();
    options.ram_only_header = vm["ram-only-header"].as<bool>();
    options.flash_freq = vm["flash-freq"].as<std::string>();
    options.flash_mode = vm["flash-mode"].as<std::string>();
    options.flash_size = vm["flash-size"].as<std::string>();
    if (vm.count("elf-sha256-offset")) {
        auto offset = cli::parseInteger(vm["elf-sha256-offset"].as<std::string>());
        if (!offset) return cli::reportError(kTool, offset.takeError());
        options.elf_sha256_offset = static_cast<uint32_t>(*offset);
    }
    if (vm.count("flash-mmu-page-size")) {
        std::string value = vm["flash-mmu-page-size"].as<std::string>();
        if (value != "64KB" && value != "32KB" && value != "16KB" && value != "8KB")
            return cli::reportError(
                kTool,
                cli::makeError("--flash-mmu-page-size: '%s' is not one of 64KB, 32KB, 16KB, 8KB",
                               value.c_str()));
        options.flash_mmu_page_size = static_cast<uint32_t>(*cli::parseFlashSizeString(value));
    }
    if (vm.count("pad-to-size")) {
        auto size = cli::parsePaddingSize("--pad-to-size", vm["pad-to-size"].as<std::string>());
        if (!size) return cli::reportError(kTool, size.takeError());
        options.pad_to_size = static_cast<uint32_t>(*size);
    }

    const std::string input = vm["input"].as<std::string>();
    auto file = cli::MappedFile::open(input);
    if (!file) return cli::reportError(kTool, file.takeError());
    auto elf = readElf(file->bytes(), input);
    if (!elf) return cli::reportError(kTool, elf.takeError());
    if (auto error = checkElfMachine(*elf, *context.chip, input))
        return cli::reportError(kTool, std::move(error));
    if (vm["require-ram-only"].as<bool>()) {
        auto flash = flashMappedChunks(*elf, options);
        if (!flash.empty()) {
            std::string list;
            for (const auto &chunk : flash)
                list += "\n  " + chunk.name + " at 0x" + llvm::utohexstr(chunk.address, true) +
                        " (" + std::to_string(chunk.data.size()) + " bytes)";
            return cli::reportError(kTool,
                                    cli::makeError("%s: a load-ram image must have RAM segments "
                                                   "only, but these are flash-mapped:%s",
                                                   input.c_str(), list.c_str()));
        }
    }
    for (const auto &warning : elf->warnings) llvm::errs() << "WARNING: " << warning << "\n";

    auto built = elf2image(*elf, options);
    if (!built) return cli::reportError(kTool, built.takeError());
    for (const auto &warning : built->warnings) llvm::errs() << "WARNING: " << warning << "\n";
    for (const auto &note : built->notes) context.out << note << "\n";

    const bool esp8266_v1 =
        context.chip->image_format == chipdb::ImageFormat::Esp8266 && options.esp8266_version == 1;
    const bool esp8266_v2 =
        context.chip->image_format == chipdb::ImageFormat::Esp8266 && options.esp8266_version == 2;
    std::string output = vm.count("output") ? vm["output"].as<std::string>() : std::string();
    if (esp8266_v1) {
        std::string prefix = output.empty() ? input + "-" : output;
        if (built->irom_offset) {
            std::string irom_name = esp8266FileName(prefix, *built->irom_offset);
            if (auto error = cli::writeFileAtomically(irom_name, built->irom_data))
                return cli::reportError(kTool, std::move(error));
        }
        if (auto error = cli::writeFileAtomically(esp8266FileName(prefix, 0), built->image))
            return cli::reportError(kTool, std::move(error));
        return cli::kExitSuccess;
    }
    if (output.empty()) {
        if (esp8266_v2)
            output = esp8266FileName(withoutExtension(input) + "-",
                                     built->irom_offset.value_or(0) & ~0xFFFu);
        else
            output = withoutExtension(input) + ".bin";
    }
    if (auto error = cli::writeFileAtomically(output, built->image))
        return cli::reportError(kTool, std::move(error));
    return cli::kExitSuccess;
}

} // namespace esptools::imagegen
