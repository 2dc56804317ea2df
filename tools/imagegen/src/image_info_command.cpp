// image-info: esptool v5's text, byte for byte, or the same facts as JSON (--json, our addition).
#include "esptools/cli/cli.h"
#include "esptools/cli/json.h"
#include "esptools/formats/descriptors.h"
#include "esptools/formats/ihex.h"
#include "esptools/formats/image.h"
#include "esptools/imagegen/commands.h"

#include "command_options.h"

#include <boost/program_options.hpp>
#include <llvm/ADT/StringExtras.h>
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

using Json = cli::JsonWriter;

// JSON fields: chip, image_size, image_version, entry, flash_size/flash_freq/flash_mode (null when
// the code is unknown), extended_header {wp_pin, drive_settings, chip_id, min_rev, min_rev_full,
// max_rev_full} (ESP32 family), segments [{index, address, length, file_offset, memory_types,
// flash_mapped}], checksum {stored, calculated, valid}, digest {stored, calculated, valid} (when
// appended), app_descriptor / bootloader_descriptor (when present).
void toJson(Json &json, const formats::Image &image, const chipdb::ChipDescription &chip,
            size_t size) {
    json.open('{')
        .field("chip", chip.name)
        .field("image_size", uint64_t(size))
        .field("image_version", uint64_t(image.kind == formats::ImageKind::Esp8266V2 ? 2 : 1))
        .field("entry", uint64_t(image.header.entry))
        .field("flash_size", chipdb::flashSizeName(chip, image.header.flash_size_freq & 0xF0))
        .field("flash_freq", chipdb::flashFrequencyName(chip, image.header.flash_size_freq & 0x0F))
        .field("flash_mode", chipdb::flashModeName(image.header.flash_mode));
    if (chip.image_format == chipdb::ImageFormat::Esp32) {
        const auto &ext = image.extended;
        json.key("extended_header").open('{').field("wp_pin", uint64_t(ext.wp_pin));
        json.key("drive_settings").open('[');
        for (uint8_t drive : ext.drive_settings) json.value(uint64_t(drive));
        json.close(']')
            .field("chip_id", uint64_t(ext.chip_id))
            .field("min_rev", uint64_t(ext.min_rev))
            .field("min_rev_full", uint64_t(ext.min_rev_full))
            .field("max_rev_full", uint64_t(ext.max_rev_full))
            .close('}');
    }
    json.key("segments").open('[');
    for (size_t i = 0; i < image.segments.size(); ++i) {
        const auto &segment = image.segments[i];
        json.open('{')
            .field("index", uint64_t(i))
            .field("address", uint64_t(segment.address))
            .field("length", uint64_t(segment.data.size()))
            .field("file_offset", uint64_t(segment.file_offset));
        json.key("memory_types").open('[');
        for (auto type : memoryTypes(chip, segment.address)) json.value(type);
        json.close(']')
            .field("flash_mapped", chipdb::isFlashAddress(chip, segment.address))
            .close('}');
    }
    json.close(']');
    json.key("checksum")
        .open('{')
        .field("stored", uint64_t(image.stored_checksum))
        .field("calculated", uint64_t(image.computed_checksum))
        .field("valid", image.checksumValid())
        .close('}');
    if (image.stored_digest)
        json.key("digest")
            .open('{')
            .field("stored", std::string_view(llvm::toHex(*image.stored_digest, true)))
            .field("calculated", std::string_view(llvm::toHex(image.computed_digest, true)))
            .field("valid", image.digestValid())
            .close('}');
    Descriptors found = findDescriptors(image, chip);
    if (found.app) {
        const auto &app = *found.app;
        json.key("app_descriptor")
            .open('{')
            .field("project_name", std::string_view(app.project_name))
            .field("version", std::string_view(app.version))
            .field("compile_date", std::string_view(app.date))
            .field("compile_time", std::string_view(app.time))
            .field("idf_version", std::string_view(app.idf_version))
            .field("elf_sha256", std::string_view(llvm::toHex(app.elf_sha256, true)))
            .field("secure_version", uint64_t(app.secure_version))
            .field("min_efuse_block_revision", uint64_t(app.min_efuse_block_revision))
            .field("max_efuse_block_revision", uint64_t(app.max_efuse_block_revision))
            .field("mmu_page_size_log2", uint64_t(app.mmu_page_size_log2))
            .close('}');
    } else if (found.bootloader) {
        json.key("bootloader_descriptor")
            .open('{')
            .field("version", uint64_t(found.bootloader->version))
            .field("idf_version", std::string_view(found.bootloader->idf_version))
            .field("compile_time", std::string_view(found.bootloader->date_time))
            .close('}');
    }
    json.close('}');
}

// One image (or one region of a merged .hex file): returns false when it is not a valid image.
bool showImage(llvm::raw_ostream &out, std::span<const uint8_t> bytes,
               const chipdb::ChipDescription *chip, const std::string &name, Json *json,
               bool print_size) {
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
        toJson(*json, *image, *detected, bytes.size());
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
    if (auto done = parseCommandOptions(context, "image-info",
                                        "esp-imagegen [--chip CHIP] image-info [--json] FILE",
                                        described, positional, vm))
        return *done;
    if (!vm.count("input"))
        return cli::reportError(kTool, cli::makeError("image-info: missing the FILE argument"));
    const std::string input = vm["input"].as<std::string>();
    const bool json = vm["json"].as<bool>();
    auto bytes = cli::readFile(input);
    if (!bytes) return cli::reportError(kTool, bytes.takeError());

    std::string json_text;
    Json json_writer(json_text);
    Json *json_out = json ? &json_writer : nullptr;
    bool ok = true;
    if (formats::looksLikeIntelHex(*bytes)) {
        auto regions = formats::parseIntelHex(*bytes, input);
        if (!regions) return cli::reportError(kTool, regions.takeError());
        if (regions->size() == 1) {
            ok = showImage(context.out, (*regions)[0].data, context.chip, input, json_out, true);
        } else {
            if (json)
                json_writer.open('[');
            else
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
                               input + "@0x" + llvm::utohexstr(region.address, true), json_out,
                               false))
                    llvm::errs() << "Probably not a valid firmware image (e.g. partition table).\n";
            }
        }
    } else {
        ok = showImage(context.out, *bytes, context.chip, input, json_out, true);
    }
    if (json && !json_text.empty()) {
        if (json_text.front() == '[') json_writer.close(']');
        context.out << json_text << "\n";
    }
    return ok ? cli::kExitSuccess : cli::kExitFatal;
}

} // namespace esptools::imagegen
