// merge-bin: several binaries at their flash offsets into one raw file, Intel HEX or UF2, with the
// bootloader's flash parameters rewritten as esptool does.
#include "esptools/cli/cli.h"
#include "esptools/formats/flash_params.h"
#include "esptools/formats/ihex.h"
#include "esptools/formats/uf2.h"
#include "esptools/imagegen/commands.h"

#include "command_options.h"

#include <boost/program_options.hpp>
#include <llvm/ADT/StringExtras.h>
#include <llvm/Support/raw_ostream.h>

#include <algorithm>
#include <cstdlib>
#include <sstream>

namespace po = boost::program_options;

namespace esptools::imagegen {
namespace {

constexpr const char *kTool = "esp-imagegen";
constexpr uint32_t kSectorSize = 0x1000;

// An input's bytes: a view of its mapped file, or of `owned` (Intel HEX regions, patched images).
struct Input {
    uint32_t address = 0;
    std::span<const uint8_t> data;
    std::string name;
    std::shared_ptr<std::vector<uint8_t>> owned;
};

std::string envOr(const char *name, const char *fallback) {
    const char *value = std::getenv(name);
    return value ? value : fallback;
}

// ADDR FILE pairs; an Intel HEX file brings its own addresses (one input per contiguous region).
llvm::Expected<std::vector<Input>> readInputs(const std::vector<std::string> &words,
                                              std::vector<cli::MappedFile> &files) {
    if (words.empty() || words.size() % 2)
        return cli::makeError(
            "Must be pairs of an address and the binary filename to write there.");
    std::vector<Input> inputs;
    for (size_t i = 0; i < words.size(); i += 2) {
        auto address = cli::parseInteger(words[i]);
        if (!address) {
            llvm::consumeError(address.takeError());
            return cli::makeError("Address \"%s\" must be a number.", words[i].c_str());
        }
        if (*address > UINT32_MAX)
            return cli::makeError("Address \"%s\" is beyond 4 GiB.", words[i].c_str());
        auto file = cli::MappedFile::open(words[i + 1]);
        if (!file) return file.takeError();
        auto bytes = file->bytes();
        files.push_back(std::move(*file));
        if (formats::looksLikeIntelHex(bytes)) {
            auto regions = formats::parseIntelHex(bytes, words[i + 1]);
            if (regions) {
                for (auto &region : *regions) {
                    auto owned = std::make_shared<std::vector<uint8_t>>(std::move(region.data));
                    inputs.push_back(Input{region.address, *owned, words[i + 1], owned});
                }
                continue;
            }
            llvm::consumeError(regions.takeError()); // esptool then takes the file as binary
        }
        inputs.push_back(Input{static_cast<uint32_t>(*address), bytes, words[i + 1], nullptr});
    }
    std::stable_sort(inputs.begin(), inputs.end(),
                     [](const Input &a, const Input &b) { return a.address < b.address; });
    // Flash is erased by 4 KiB sectors, so two inputs may not share one.
    uint64_t previous_end = 0;
    const Input *previous = nullptr;
    for (const auto &input : inputs) {
        uint64_t sector_start = input.address & ~uint64_t(kSectorSize - 1);
        uint64_t sector_end = (uint64_t(input.address) + input.data.size() + kSectorSize - 1) /
                              kSectorSize * kSectorSize;
        if (previous && sector_start < previous_end)
            return cli::makeError(
                "Detected overlap at address: 0x%x for file: %s (it shares flash sectors with %s).",
                input.address, input.name.c_str(), previous->name.c_str());
        previous_end = std::max(previous_end, sector_end);
        previous = &input;
    }
    return inputs;
}

} // namespace

int runMergeBin(const CommandContext &context) {
    po::options_description described("merge-bin options");
    described.add_options()("help,h", "show this help")("output,o", po::value<std::string>(),
                                                        "output file")(
        "format,f", po::value<std::string>()->default_value("raw"), "raw, uf2 or hex")(
        "flash-freq", po::value<std::string>()->default_value(envOr("ESPTOOL_FF", "keep")),
        "flash frequency or keep")(
        "flash-mode", po::value<std::string>()->default_value(envOr("ESPTOOL_FM", "keep")),
        "flash mode or keep")(
        "flash-size", po::value<std::string>()->default_value(envOr("ESPTOOL_FS", "keep")),
        "flash size or keep")("target-offset,t", po::value<std::string>()->default_value("0"),
                              "raw: flash offset of the output's first byte")(
        "pad-to-size", po::value<std::string>(),
        "raw: pad with 0xFF up to this flash size (e.g. 4MB)")(
        "fill-flash-size", po::value<std::string>(), "esptool v4's name for --pad-to-size")(
        "chunk-size", po::value<std::string>(), "uf2: payload bytes per block (multiple of 4)")(
        "md5-disable", po::bool_switch(),
        "uf2: leave out the MD5 of each block")("spi-connection", po::value<std::string>(),
                                                "accepted for esptool v4 compatibility; no effect")(
        "pairs", po::value<std::vector<std::string>>(), "ADDR FILE pairs");
    po::positional_options_description positional;
    positional.add("pairs", -1);
    po::variables_map vm;
    if (auto done = parseCommandOptions(
            context, "merge-bin",
            "esp-imagegen --chip CHIP merge-bin -o OUTPUT [options] ADDR FILE [ADDR FILE ...]",
            described, positional, vm))
        return *done;
    if (!context.chip)
        return cli::reportError(kTool,
                                cli::makeError("Specify the --chip argument (choose from %s).",
                                               std::string(chipdb::chipNameList()).c_str()));
    const auto &chip = *context.chip;
    if (!vm.count("output"))
        return cli::reportError(kTool, cli::makeError("merge-bin: --output/-o is required"));
    const std::string output = vm["output"].as<std::string>();
    const std::string format = vm["format"].as<std::string>();
    if (format != "raw" && format != "uf2" && format != "hex")
        return cli::reportError(
            kTool, cli::makeError("Invalid format: '%s', choose from 'raw', 'uf2', 'hex'.",
                                  format.c_str()));
    auto target_offset = cli::parseInteger(vm["target-offset"].as<std::string>());
    if (!target_offset) return cli::reportError(kTool, target_offset.takeError());
    std::optional<uint64_t> pad_to_size;
    for (const char *name : {"pad-to-size", "fill-flash-size"}) {
        if (!vm.count(name)) continue;
        auto size = cli::parsePaddingSize(std::string("--") + name, vm[name].as<std::string>());
        if (!size) return cli::reportError(kTool, size.takeError());
        pad_to_size = *size;
    }
    formats::Uf2Options uf2{chip.uf2_family_id, !vm["md5-disable"].as<bool>(), 0};
    if (vm.count("chunk-size")) {
        auto chunk = cli::parseInteger(vm["chunk-size"].as<std::string>());
        if (!chunk) return cli::reportError(kTool, chunk.takeError());
        if (*chunk == 0 || *chunk % 4 || *chunk > 476 - (uf2.md5 ? 24 : 0))
            return cli::reportError(
                kTool, cli::makeError("--chunk-size: Chunk size should be a 4-byte aligned number "
                                      "from 4 to %d.",
                                      476 - (uf2.md5 ? 24 : 0)));
        uf2.chunk_size = static_cast<uint32_t>(*chunk);
    }
    std::vector<cli::MappedFile> files; // the inputs point into these
    auto inputs = readInputs(vm.count("pairs") ? vm["pairs"].as<std::vector<std::string>>()
                                               : std::vector<std::string>{},
                             files);
    if (!inputs) return cli::reportError(kTool, inputs.takeError());
    if (inputs->front().address < *target_offset)
        return cli::reportError(
            kTool,
            cli::makeError(
                "Output data target offset is 0x%llx. Input data offset 0x%x is before this.",
                static_cast<unsigned long long>(*target_offset), inputs->front().address));

    formats::FlashParams params{vm["flash-mode"].as<std::string>(),
                                vm["flash-freq"].as<std::string>(),
                                vm["flash-size"].as<std::string>()};
    for (auto &input : *inputs) {
        if (format == "uf2")
            context.out << "Adding '" << input.name << "' at 0x"
                        << llvm::utohexstr(input.address, true) << "...\n";
        if (input.address == chip.bootloader_flash_offset && !params.keepsAll()) {
            input.owned =
                std::make_shared<std::vector<uint8_t>>(input.data.begin(), input.data.end());
            auto patched = formats::patchFlashParams(*input.owned, input.address, chip, params);
            if (!patched) return cli::reportError(kTool, patched.takeError());
            for (const auto &warning : patched->warnings)
                llvm::errs() << "WARNING: " << warning << "\n";
            for (const auto &note : patched->notes) context.out << note << "\n";
            input.data = *input.owned;
        }
    }

    std::vector<formats::HexRegion> regions;
    if (format != "raw")
        for (const auto &input : *inputs)
            regions.push_back(
                formats::HexRegion{input.address, {input.data.begin(), input.data.end()}});
    std::vector<uint8_t> bytes;
    if (format == "uf2") {
        bytes = formats::writeUf2(regions, uf2);
    } else if (format == "hex") {
        if (regions.size() == 1)
            llvm::errs() << "WARNING: Only one input file specified, output may include additional "
                            "padding if input "
                            "file was previously merged.\n";
        bytes = formats::writeIntelHex(regions);
    } else {
        context.out << "HINT: Consider using --format hex to avoid flashing unused 0xFF padding "
                       "between input regions.\n";
        uint64_t total = inputs->back().address + inputs->back().data.size() - *target_offset;
        if (pad_to_size && *pad_to_size > *target_offset)
            total = std::max<uint64_t>(total, *pad_to_size - *target_offset);
        bytes.reserve(total); // one allocation: page faults dominate a multi-megabyte merge
        for (const auto &input : *inputs) {
            bytes.resize(input.address - *target_offset, 0xFF);
            bytes.insert(bytes.end(), input.data.begin(), input.data.end());
        }
        if (pad_to_size && *pad_to_size > *target_offset + bytes.size())
            bytes.resize(*pad_to_size - *target_offset, 0xFF);
    }
    if (auto error = cli::writeFileAtomically(output, bytes))
        return cli::reportError(kTool, std::move(error));
    context.out << "Wrote 0x" << llvm::utohexstr(bytes.size(), true) << " bytes to file '" << output
                << "', "
                << (format == "uf2" ? std::string("ready to be flashed with any ESP USB Bridge.")
                                    : "ready to flash to offset 0x" +
                                          llvm::utohexstr(*target_offset, true) + ".")
                << "\n";
    return cli::kExitSuccess;
}

} // namespace esptools::imagegen
