// image-info: esptool v5's text, byte for byte, or the same facts as JSON (--json, our addition).
#include "esptools/cli/cli.h"
#include "esptools/formats/descriptors.h"
#include "esptools/formats/ihex.h"
#include "esptools/formats/image.h"
#include "esptools/imagegen/commands.h"

#include <boost/program_options.hpp>
#include <llvm/ADT/StringExtras.h>
#include <llvm/Support/JSON.h>
#include <llvm/Support/raw_ostream.h>

#include <sstream>

namespace po = boost::program_options;

namespace esptools::imagegen {
namespace {

constexpr const char *kTool = "esp-imagegen";

std::string hex(uint64_t value, int width = 0) {
    char text[32];
    std::snprintf(text, sizeof text, "0x%0*llx", width, static_cast<unsigned long long>(value));
    return text;
}

std::string revision(uint16_t full) {
    return std::to_string(full / 100) + "." + std::to_string(full % 100);
}

std::vector<std::string_view> memoryTypes(const chipdb::ChipDescription &chip, uint32_t address) {
    std::string_view names[32];
    size_t count = chipdb::memoryTypes(chip, address, names);
    return {names, names + count};
}

std::string joined(const std::vector<std::string_view> &names) {
    std::string out;
    for (auto name : names) out += (out.empty() ? "" : ", ") + std::string(name);
    return out;
}

bool contains(const std::vector<std::string_view> &names, std::string_view name) {
    return std::find(names.begin(), names.end(), name) != names.end();
}

// What image-info reports beyond the headers: the descriptor esptool finds.
struct Descriptors {
    std::optional<formats::AppDescriptor> app;
    std::optional<formats::BootloaderDescriptor> bootloader;
};

Descriptors findDescriptors(const formats::Image &image, const chipdb::ChipDescription &chip) {
    // The app descriptor starts the first DROM segment; a bootloader's starts the last DRAM
    // segment of at least 80 bytes, looked at only when there is no app descriptor.
    const std::vector<uint8_t> *app_segment = nullptr;
    const std::vector<uint8_t> *bootloader_segment = nullptr;
    for (const auto &segment : image.segments) {
        auto types = memoryTypes(chip, segment.address);
        if (contains(types, "DROM") && !app_segment)
            app_segment = &segment.data;
        else if (contains(types, "DRAM") &&
                 segment.data.size() >= formats::kBootloaderDescriptorSize)
            bootloader_segment = &segment.data;
    }
    Descriptors found;
    if (app_segment && !app_segment->empty())
        found.app = formats::parseAppDescriptor(*app_segment);
    else if (bootloader_segment)
        found.bootloader = formats::parseBootloaderDescriptor(*bootloader_segment);
    return found;
}

void title(llvm::raw_ostream &out, const std::string &text) {
    out << text << "\n" << std::string(text.size(), '=') << "\n";
}

void printText(llvm::raw_ostream &out, const formats::Image &image,
               const chipdb::ChipDescription &chip) {
    const std::string name(chip.display_name);
    const bool esp8266 = chip.image_format == chipdb::ImageFormat::Esp8266;
    out << "\n";
    title(out, name + " Image Header");
    out << "Image version: " << (image.kind == formats::ImageKind::Esp8266V2 ? 2 : 1) << "\n";
    if (image.header.entry != 0)
        out << "Entry point: " << hex(image.header.entry, 8) << "\n";
    else
        out << "Entry point not set\n";
    out << "Segments: " << image.segments.size() << "\n";
    uint8_t size_bits = image.header.flash_size_freq & 0xF0;
    uint8_t freq_bits = image.header.flash_size_freq & 0x0F;
    if (auto size = chipdb::flashSizeName(chip, size_bits))
        out << "Flash size: " << *size << "\n";
    else
        llvm::errs() << "WARNING: Invalid flash size (" << hex(size_bits) << ")\n";
    if (auto freq = chipdb::flashFrequencyName(chip, freq_bits))
        out << "Flash freq: " << *freq << "\n";
    else
        llvm::errs() << "WARNING: Invalid flash frequency (" << hex(freq_bits) << ")\n";
    if (auto mode = chipdb::flashModeName(image.header.flash_mode))
        out << "Flash mode: " << llvm::StringRef(*mode).upper() << "\n";
    else
        llvm::errs() << "WARNING: Invalid flash mode (" << int(image.header.flash_mode) << ")\n";

    if (!esp8266) {
        const auto &ext = image.extended;
        out << "\n";
        title(out, name + " Extended Image Header");
        out << "WP pin: " << hex(ext.wp_pin)
            << (ext.wp_pin == formats::kWpPinDisabled ? " (disabled)" : "") << "\n";
        out << "Flash pins drive settings: clk_drv: " << hex(ext.drive_settings[0] & 0xF)
            << ", q_drv: " << hex(ext.drive_settings[0] >> 4)
            << ", d_drv: " << hex(ext.drive_settings[1] & 0xF)
            << ", cs0_drv: " << hex(ext.drive_settings[1] >> 4)
            << ", hd_drv: " << hex(ext.drive_settings[2] & 0xF)
            << ", wp_drv: " << hex(ext.drive_settings[2] >> 4) << "\n";
        const chipdb::ChipDescription *owner = nullptr;
        for (const auto &candidate : chipdb::allChips())
            if (candidate.image_chip_id == ext.chip_id && !owner) owner = &candidate;
        out << "Chip ID: " << ext.chip_id << " ("
            << (owner ? std::string(owner->display_name) : std::string("Unknown ID")) << ")\n";
        out << "Minimal chip revision: v" << revision(ext.min_rev_full)
            << ", (legacy min_rev = " << int(ext.min_rev) << ")\n";
        out << "Maximal chip revision: v" << revision(ext.max_rev_full) << "\n";
    }
    out << "\n";
    title(out, "Segments Information");
    out << "Segment   Length   Load addr   File offs  Memory types\n";
    out << "-------  -------  ----------  ----------  ------------\n";
    for (size_t i = 0; i < image.segments.size(); ++i) {
        const auto &segment = image.segments[i];
        char row[96];
        std::snprintf(row, sizeof row, "%7zu  0x%05zx  0x%08x  0x%08zx  ", i, segment.data.size(),
                      segment.address, segment.file_offset);
        out << row << joined(memoryTypes(chip, segment.address)) << "\n";
    }
    out << "\n";
    title(out, name + " Image Footer");
    out << "Checksum: " << hex(image.stored_checksum, 2) << " ("
        << (image.checksumValid() ? std::string("valid")
                                  : "invalid - calculated " + hex(image.computed_checksum, 2))
        << ")\n";
    if (!esp8266 && image.stored_digest)
        out << "Validation hash: " << llvm::toHex(image.computed_digest, true) << " ("
            << (image.digestValid() ? "valid" : "invalid") << ")\n";

    Descriptors found = findDescriptors(image, chip);
    if (found.app) {
        const auto &app = *found.app;
        out << "\n";
        title(out, "Application Information");
        out << "Project name: " << app.project_name << "\n"
            << "App version: " << app.version << "\n"
            << "Compile time: " << app.date << " " << app.time << "\n"
            << "ELF file SHA256: " << llvm::toHex(app.elf_sha256, true) << "\n"
            << "ESP-IDF: " << app.idf_version << "\n"
            << "Minimal eFuse block revision: " << revision(app.min_efuse_block_revision) << "\n"
            << "Maximal eFuse block revision: " << revision(app.max_efuse_block_revision) << "\n";
        if (app.mmu_page_size_log2)
            out << "MMU page size: "
                << ((uint64_t(1) << std::min<int>(app.mmu_page_size_log2, 40)) / 1024) << " KB\n";
        out << "Secure version: " << app.secure_version << "\n";
    } else if (found.bootloader) {
        out << "\n";
        title(out, "Bootloader Information");
        out << "Bootloader version: " << found.bootloader->version << "\n"
            << "ESP-IDF: " << found.bootloader->idf_version << "\n"
            << "Compile time: " << found.bootloader->date_time << "\n";
    }
}

// JSON fields: chip, image_size, image_version, entry, flash_size/flash_freq/flash_mode (null when
// the code is unknown), extended_header {wp_pin, drive_settings, chip_id, min_rev, min_rev_full,
// max_rev_full} (ESP32 family), segments [{index, address, length, file_offset, memory_types,
// flash_mapped}], checksum {stored, calculated, valid}, digest {stored, calculated, valid} (when
// appended), app_descriptor / bootloader_descriptor (when present).
llvm::json::Object toJson(const formats::Image &image, const chipdb::ChipDescription &chip,
                          size_t size) {
    using llvm::json::Array;
    using llvm::json::Object;
    using llvm::json::Value;
    auto optionalName = [](std::optional<std::string_view> name) -> Value {
        return name ? Value(std::string(*name)) : Value(nullptr);
    };
    Object json{{"chip", std::string(chip.name)},
                {"image_size", int64_t(size)},
                {"image_version", image.kind == formats::ImageKind::Esp8266V2 ? 2 : 1},
                {"entry", int64_t(image.header.entry)},
                {"flash_size",
                 optionalName(chipdb::flashSizeName(chip, image.header.flash_size_freq & 0xF0))},
                {"flash_freq", optionalName(chipdb::flashFrequencyName(
                                   chip, image.header.flash_size_freq & 0x0F))},
                {"flash_mode", optionalName(chipdb::flashModeName(image.header.flash_mode))}};
    if (chip.image_format == chipdb::ImageFormat::Esp32) {
        const auto &ext = image.extended;
        json["extended_header"] =
            Object{{"wp_pin", int64_t(ext.wp_pin)},
                   {"drive_settings",
                    Array{ext.drive_settings[0], ext.drive_settings[1], ext.drive_settings[2]}},
                   {"chip_id", int64_t(ext.chip_id)},
                   {"min_rev", int64_t(ext.min_rev)},
                   {"min_rev_full", int64_t(ext.min_rev_full)},
                   {"max_rev_full", int64_t(ext.max_rev_full)}};
    }
    Array segments;
    for (size_t i = 0; i < image.segments.size(); ++i) {
        const auto &segment = image.segments[i];
        Array types;
        for (auto type : memoryTypes(chip, segment.address)) types.push_back(std::string(type));
        segments.push_back(Object{{"index", int64_t(i)},
                                  {"address", int64_t(segment.address)},
                                  {"length", int64_t(segment.data.size())},
                                  {"file_offset", int64_t(segment.file_offset)},
                                  {"memory_types", std::move(types)},
                                  {"flash_mapped", chipdb::isFlashAddress(chip, segment.address)}});
    }
    json["segments"] = std::move(segments);
    json["checksum"] = Object{{"stored", int64_t(image.stored_checksum)},
                              {"calculated", int64_t(image.computed_checksum)},
                              {"valid", image.checksumValid()}};
    if (image.stored_digest)
        json["digest"] = Object{{"stored", llvm::toHex(*image.stored_digest, true)},
                                {"calculated", llvm::toHex(image.computed_digest, true)},
                                {"valid", image.digestValid()}};
    Descriptors found = findDescriptors(image, chip);
    if (found.app)
        json["app_descriptor"] =
            Object{{"project_name", found.app->project_name},
                   {"version", found.app->version},
                   {"compile_date", found.app->date},
                   {"compile_time", found.app->time},
                   {"idf_version", found.app->idf_version},
                   {"elf_sha256", llvm::toHex(found.app->elf_sha256, true)},
                   {"secure_version", int64_t(found.app->secure_version)},
                   {"min_efuse_block_revision", int64_t(found.app->min_efuse_block_revision)},
                   {"max_efuse_block_revision", int64_t(found.app->max_efuse_block_revision)},
                   {"mmu_page_size_log2", int64_t(found.app->mmu_page_size_log2)}};
    else if (found.bootloader)
        json["bootloader_descriptor"] = Object{{"version", int64_t(found.bootloader->version)},
                                               {"idf_version", found.bootloader->idf_version},
                                               {"compile_time", found.bootloader->date_time}};
    return json;
}

// One image (or one region of a merged .hex file): returns false when it is not a valid image.
bool showImage(llvm::raw_ostream &out, std::span<const uint8_t> bytes,
               const chipdb::ChipDescription *chip, const std::string &name, bool json,
               bool print_size, llvm::json::Array *json_parts) {
    const chipdb::ChipDescription *detected = chip;
    if (!detected) {
        auto found = formats::detectImageChip(bytes, name);
        if (!found) {
            cli::reportError(kTool, found.takeError());
            return false;
        }
        detected = *found;
    } else if (bytes.empty() ||
               (bytes[0] != formats::kImageMagic && bytes[0] != formats::kEsp8266V2Magic)) {
        cli::reportError(
            kTool,
            cli::makeError(bytes.empty()
                               ? "%s: Image is empty."
                               : "%s: This is not a valid image (invalid magic number: 0x%x).",
                           name.c_str(), bytes.empty() ? 0 : bytes[0]));
        return false;
    }
    auto image = formats::parseImage(bytes, *detected, name);
    if (!image) {
        cli::reportError(kTool, image.takeError());
        return false;
    }
    for (const auto &warning : image->warnings) llvm::errs() << "WARNING: " << warning << "\n";
    if (json) {
        json_parts->push_back(toJson(*image, *detected, bytes.size()));
        return true;
    }
    if (print_size) out << "Image size: " << bytes.size() << " bytes\n";
    if (!chip)
        out << "Detected image type: " << llvm::StringRef(detected->display_name).upper() << "\n";
    printText(out, *image, *detected);
    return true;
}

} // namespace

int runImageInfo(const CommandContext &context) {
    po::options_description described("image-info options");
    described.add_options()("help,h", "show this help")(
        "json", po::bool_switch(), "print JSON (not in esptool)")("input", po::value<std::string>(),
                                                                  "image file (.bin or Intel HEX)");
    po::positional_options_description positional;
    positional.add("input", 1);
    po::variables_map vm;
    try {
        po::store(
            po::command_line_parser(context.args).options(described).positional(positional).run(),
            vm);
        po::notify(vm);
    } catch (const po::error &error) {
        return cli::reportError(kTool, cli::makeError("image-info: %s", error.what()));
    }
    if (vm.count("help")) {
        std::ostringstream text;
        text << described;
        context.out << "usage: esp-imagegen [--chip CHIP] image-info [--json] FILE\n" << text.str();
        return cli::kExitSuccess;
    }
    if (!vm.count("input"))
        return cli::reportError(kTool, cli::makeError("image-info: missing the FILE argument"));
    const std::string input = vm["input"].as<std::string>();
    const bool json = vm["json"].as<bool>();
    auto bytes = cli::readFile(input);
    if (!bytes) return cli::reportError(kTool, bytes.takeError());

    llvm::json::Array parts;
    bool ok = true;
    if (formats::looksLikeIntelHex(*bytes)) {
        auto regions = formats::parseIntelHex(*bytes, input);
        if (!regions) return cli::reportError(kTool, regions.takeError());
        if (regions->size() == 1) {
            ok =
                showImage(context.out, (*regions)[0].data, context.chip, input, json, true, &parts);
        } else {
            if (!json)
                context.out << "Merged binary image detected. Processing each file individually.\n";
            const chipdb::ChipDescription *chip = context.chip;
            for (size_t i = 0; i < regions->size(); ++i) {
                const auto &region = (*regions)[i];
                std::string line = "Processing file " + std::to_string(i + 1) + "/" +
                                   std::to_string(regions->size()) + ", offset: 0x" +
                                   llvm::utohexstr(region.address, true) +
                                   ", size: " + std::to_string(region.data.size()) + " bytes";
                if (!json)
                    context.out << "\n"
                                << std::string(line.size(), '=') << "\n"
                                << line << "\n"
                                << std::string(line.size(), '=') << "\n";
                // A part that is not an image (a partition table, say) is reported and skipped.
                if (!showImage(context.out, region.data, chip,
                               input + "@0x" + llvm::utohexstr(region.address, true), json, false,
                               &parts))
                    llvm::errs() << "Probably not a valid firmware image (e.g. partition table).\n";
            }
        }
    } else {
        ok = showImage(context.out, *bytes, context.chip, input, json, true, &parts);
    }
    if (json && !parts.empty()) {
        llvm::json::Value value =
            parts.size() == 1 ? std::move(parts[0]) : llvm::json::Value(std::move(parts));
        context.out << llvm::formatv("{0:2}", value) << "\n";
    }
    return ok ? cli::kExitSuccess : cli::kExitFatal;
}

} // namespace esptools::imagegen
