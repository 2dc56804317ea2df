// The layout rules here are esptool's (bin_image.py), summarised in
// ../shared/reference/image-format.md §2-§4; tests compare the output with esptool's own.
#include "esptools/imagegen/elf2image.h"
#include "esptools/formats/descriptors.h"
#include "esptools/formats/digest.h"

#include "esptools/formats/image.h"

#include <llvm/ADT/StringExtras.h>
#include <llvm/Support/raw_ostream.h>

#include <zlib.h>

#include <algorithm>

namespace esptools::imagegen {
namespace {

using chipdb::ChipDescription;

template <typename... Args> llvm::Error fatal(const char *format, Args &&...args) {
    return llvm::createStringError(llvm::inconvertibleErrorCode(), format,
                                   std::forward<Args>(args)...);
}

// Python's % for a positive modulus: never negative.
int64_t floorMod(int64_t value, int64_t modulus) {
    return ((value % modulus) + modulus) % modulus;
}

struct WorkSegment {
    uint32_t address = 0;
    std::vector<uint8_t> data;
    std::string name; // empty for segments esptool creates itself (padding)
    uint32_t align = 4;
    bool in_checksum = true;

    // esptool pads every segment with a non-zero address to a multiple of 4 when it creates it.
    static WorkSegment fromChunk(const ElfChunk &chunk) {
        WorkSegment segment{chunk.address,
                            std::vector<uint8_t>(chunk.data.begin(), chunk.data.end()), chunk.name,
                            chunk.align};
        segment.padTo(4);
        return segment;
    }
    static WorkSegment padding(size_t length) {
        return WorkSegment{0, std::vector<uint8_t>(length, 0), "", 4};
    }
    void padTo(size_t alignment) {
        if (address != 0 || alignment != 4)
            data.resize((data.size() + alignment - 1) / alignment * alignment, 0);
    }
    uint32_t end() const { return address + static_cast<uint32_t>(data.size()); }
    // Splits the first length bytes off into a new segment at this segment's address.
    WorkSegment splitFront(size_t length) {
        length = std::min(length, data.size());
        WorkSegment front{address, std::vector<uint8_t>(data.begin(), data.begin() + length), name,
                          align, in_checksum};
        data.erase(data.begin(), data.begin() + length);
        address += static_cast<uint32_t>(length);
        return front;
    }
};

std::vector<std::string_view> memoryTypesOf(const ChipDescription &chip, uint32_t address) {
    std::string_view names[32];
    size_t count = chipdb::memoryTypes(chip, address, names);
    return {names, names + count};
}

// Appends segments to an image file, optionally patching the ELF's SHA-256 into the segment that
// covers a given file offset (as esptool does for esp_app_desc_t.app_elf_sha256).
class ImageWriter {
public:
    std::vector<uint8_t> bytes;
    std::optional<uint32_t> sha_offset;
    std::array<uint8_t, 32> elf_sha256{};
    // ESP32: flash segments ending less than this past an MMU page start are extended (0 = off).
    uint32_t flash_min_page_tail = 0;
    uint32_t mmu_page_size = 0x10000;

    size_t position() const { return bytes.size(); }

    llvm::Error saveSegment(const WorkSegment &segment, uint8_t *checksum) {
        const size_t length = segment.data.size();
        if (auto error = checkElfShaPlacement(segment.data)) return error;
        if (length & 3)
            return fatal("Invalid %s segment length %#zx. It has to be multiple of 4.",
                         segment.name.c_str(), length);
        if (length >= formats::kMaxSegmentLength)
            return fatal("Invalid %s segment length %#zx. The 16 MB limit has been exceeded.",
                         segment.name.c_str(), length);
        const size_t header_position = position();
        formats::appendLE32(bytes, segment.address);
        formats::appendLE32(bytes, static_cast<uint32_t>(length));
        bytes.insert(bytes.end(), segment.data.begin(), segment.data.end());
        if (sha_offset && *sha_offset >= header_position && *sha_offset < header_position + length)
            std::copy(elf_sha256.begin(), elf_sha256.end(), bytes.begin() + *sha_offset);
        if (checksum)
            *checksum = formats::checksum(std::span<const uint8_t>(bytes).subspan(
                                              header_position + formats::kSegmentHeaderSize),
                                          *checksum);
        return llvm::Error::success();
    }

    llvm::Error saveFlashSegment(WorkSegment &segment, uint8_t *checksum) {
        if (flash_min_page_tail != 0) {
            size_t end = position() + segment.data.size() + formats::kSegmentHeaderSize;
            size_t remainder = end % mmu_page_size;
            if (remainder < flash_min_page_tail)
                segment.data.resize(segment.data.size() + flash_min_page_tail - remainder, 0);
        }
        return saveSegment(segment, checksum);
    }

    void appendChecksum(uint8_t checksum) {
        while (bytes.size() % 16 != 15) bytes.push_back(0);
        bytes.push_back(checksum);
    }

    void appendDigest(size_t length) {
        auto digest = formats::sha256(std::span<const uint8_t>(bytes.data(), length));
        bytes.insert(bytes.end(), digest.begin(), digest.end());
    }

private:
    // The digest goes into the segment whose [header, header + data length) span holds
    // sha_offset (esptool's rule, quirks included); it may only replace zero bytes.
    llvm::Error checkElfShaPlacement(const std::vector<uint8_t> &data) const {
        size_t header_position = position();
        size_t length = data.size();
        if (!sha_offset || *sha_offset < header_position || *sha_offset >= header_position + length)
            return llvm::Error::success();
        size_t relative = *sha_offset - header_position;
        if (relative < formats::kSegmentHeaderSize || relative + 32 > length)
            return fatal("Cannot place SHA256 digest on segment boundary"
                         "(elf_sha256_offset=%u, file_pos=%zu, segment_size=%zu)",
                         *sha_offset, header_position, length);
        relative -= formats::kSegmentHeaderSize;
        if (std::any_of(data.begin() + relative, data.begin() + relative + 32,
                        [](uint8_t b) { return b != 0; }))
            return fatal("Contents of segment at SHA256 digest offset %#x are not zero. "
                         "Refusing to overwrite.",
                         *sha_offset);
        return llvm::Error::success();
    }
};

// The settings of one elf2image run, resolved from the options and the chip.
struct Layout {
    const ChipDescription *chip; // whose tables encode flash parameters and name memory types
    formats::ImageKind kind;
    int esp8266_version;
    uint32_t mmu_page_size;
    bool ram_only_header;
    bool append_digest;
    int secure_pad; // 0, 1 or 2
    uint8_t flash_mode;
    uint8_t flash_size_freq;
    uint32_t entry;
    uint8_t min_rev = 0;
    uint16_t min_rev_full = 0;
    uint16_t max_rev_full = 0xFFFF;
};

bool isFlashSegment(const Layout &layout, uint32_t address) {
    // A v3 ESP8266 image calls everything above the IROM window's start "flash".
    if (layout.esp8266_version == 3) return address > layout.chip->irom_map.start;
    return chipdb::isFlashAddress(*layout.chip, address);
}

void mergeAdjacentSegments(std::vector<WorkSegment> &segments, const Layout &layout,
                           std::vector<std::string> &notes) {
    if (segments.empty()) return;
    std::vector<WorkSegment> merged;
    bool pad_gaps = layout.ram_only_header && layout.kind == formats::ImageKind::Esp32;
    for (size_t i = segments.size() - 1; i > 0; --i) {
        WorkSegment &current = segments[i - 1];
        WorkSegment &next = segments[i];
        if (pad_gaps) {
            uint32_t alignment = std::max<uint32_t>(next.align, 1);
            uint32_t aligned_end = (current.end() + alignment - 1) / alignment * alignment;
            if (aligned_end != current.end() && aligned_end == next.address) {
                notes.push_back("Inserting " + std::to_string(next.address - current.end()) +
                                " bytes padding between " + current.name + " and " + next.name);
                current.data.resize(current.data.size() + (next.address - current.end()), 0);
            }
        }
        if (memoryTypesOf(*layout.chip, current.address) ==
                memoryTypesOf(*layout.chip, next.address) &&
            current.in_checksum == next.in_checksum && next.address == current.end()) {
            current.data.insert(current.data.end(), next.data.begin(), next.data.end());
        } else {
            merged.insert(merged.begin(), std::move(next));
        }
    }
    merged.insert(merged.begin(), std::move(segments[0]));
    segments = std::move(merged);
}

void moveNamedToFront(std::vector<WorkSegment> &segments, std::string_view name) {
    auto found = std::find_if(segments.begin(), segments.end(),
                              [&](const WorkSegment &s) { return s.name == name; });
    if (found != segments.end()) std::rotate(segments.begin(), found, found + 1);
}

llvm::Expected<std::vector<uint8_t>> saveEsp32Image(std::vector<WorkSegment> segments,
                                                    const Layout &layout, ImageWriter &writer) {
    const ChipDescription &chip = *layout.chip;
    const uint32_t page = layout.mmu_page_size;
    writer.mmu_page_size = page;
    writer.flash_min_page_tail = chip.flash_segment_min_page_tail;

    size_t payload = 0;
    for (const auto &segment : segments)
        payload += segment.data.size() + formats::kSegmentHeaderSize;
    writer.bytes.reserve(payload + 2 * size_t(page) * (segments.size() + 1)); // room for padding

    formats::CommonHeader header{formats::kImageMagic, static_cast<uint8_t>(segments.size()),
                                 layout.flash_mode, layout.flash_size_freq, layout.entry};
    header.appendTo(writer.bytes);
    if (layout.esp8266_version != 3) {
        formats::ExtendedHeader extended;
        extended.chip_id = chip.image_chip_id.value_or(0);
        extended.hash_appended = layout.append_digest ? 1 : 0;
        extended.min_rev = layout.min_rev;
        extended.min_rev_full = layout.min_rev_full;
        extended.max_rev_full = layout.max_rev_full;
        extended.appendTo(writer.bytes);
    }

    std::stable_sort(
        segments.begin(), segments.end(),
        [](const WorkSegment &a, const WorkSegment &b) { return a.address < b.address; });
    std::vector<WorkSegment> flash, ram;
    for (auto &segment : segments) {
        if (layout.esp8266_version == 3 && segment.data.empty()) continue;
        (isFlashSegment(layout, segment.address) ? flash : ram).push_back(std::move(segment));
    }
    if (layout.esp8266_version != 3) {
        moveNamedToFront(flash, ".flash.appdesc");
        moveNamedToFront(ram, ".dram0.bootdesc");
    }
    for (size_t i = 1; i < flash.size(); ++i)
        if (flash[i].address / page == flash[i - 1].address / page)
            return fatal("Segment loaded at %#010x lands in same %u KB flash mapping as segment "
                         "loaded at %#010x. Can't generate binary. Suggest changing linker "
                         "script or ELF to merge sections.",
                         flash[i].address, page / 1024, flash[i - 1].address);

    uint8_t checksum = formats::kChecksumSeed;
    size_t total_segments = 0;
    size_t ram_segment_count = ram.size();

    if (layout.esp8266_version == 3) {
        for (auto &segment : flash) {
            if (segment.name == ".flash.rodata") // room esptool leaves for a header, dropped
                segment.data.erase(segment.data.begin(),
                                   segment.data.begin() + std::min<size_t>(8, segment.data.size()));
            if (auto error = writer.saveSegment(segment, &checksum)) return error;
            ++total_segments;
        }
        for (auto &segment : ram) {
            if (auto error = writer.saveSegment(segment, &checksum)) return error;
            ++total_segments;
        }
    } else if (layout.ram_only_header) {
        for (auto &segment : ram) {
            if (auto error = writer.saveSegment(segment, &checksum)) return error;
            ++total_segments;
        }
        writer.appendChecksum(checksum);
        std::reverse(flash.begin(), flash.end());
        for (auto &segment : flash) {
            int64_t pad = floorMod(int64_t(segment.address) - int64_t(writer.position()) -
                                       2 * int64_t(formats::kSegmentHeaderSize),
                                   page);
            if (pad < int64_t(chip.bootloader_flash_offset)) pad += page;
            pad -= chip.bootloader_flash_offset;
            WorkSegment padding = WorkSegment::padding(static_cast<size_t>(pad));
            padding.name = segment.name;
            if (auto error = writer.saveSegment(padding, nullptr)) return error;
            if (auto error = writer.saveFlashSegment(segment, nullptr)) return error;
            total_segments += 2;
        }
    } else {
        auto padNeeded = [&](const WorkSegment &segment) -> size_t {
            int64_t align_past =
                int64_t(segment.address % page) - int64_t(formats::kSegmentHeaderSize);
            int64_t pad = int64_t(page - writer.position() % page) + align_past;
            if (pad == 0 || pad == int64_t(page)) return 0;
            pad -= formats::kSegmentHeaderSize;
            if (pad < 0) pad += page;
            return static_cast<size_t>(pad);
        };
        size_t next_flash = 0;
        while (next_flash < flash.size()) {
            WorkSegment &segment = flash[next_flash];
            size_t pad = padNeeded(segment);
            if (pad > 0) {
                WorkSegment padding;
                if (!ram.empty() && pad > formats::kSegmentHeaderSize) {
                    padding = ram.front().splitFront(pad);
                    if (ram.front().data.empty()) ram.erase(ram.begin());
                } else {
                    padding = WorkSegment::padding(pad);
                }
                if (auto error = writer.saveSegment(padding, &checksum)) return error;
            } else {
                if (auto error = writer.saveFlashSegment(segment, &checksum)) return error;
                ++next_flash;
            }
            ++total_segments;
        }
        for (auto &segment : ram) {
            if (auto error = writer.saveSegment(segment, &checksum)) return error;
            ++total_segments;
        }
    }

    size_t space_after_checksum = 0;
    if (layout.secure_pad) {
        if (!layout.append_digest)
            return fatal(
                "secure_pad only applies if a SHA-256 digest is also appended to the image");
        int64_t align_past = int64_t((writer.position() + formats::kSegmentHeaderSize) % page);
        const int64_t checksum_space = 16;
        space_after_checksum = layout.secure_pad == 1 ? 32 + 4 + 64 + 12 : 32;
        int64_t pad = floorMod(
            int64_t(page) - align_past - checksum_space - int64_t(space_after_checksum), page);
        if (auto error = writer.saveSegment(WorkSegment::padding(size_t(pad)), &checksum))
            return error;
        ++total_segments;
    }
    if (!layout.ram_only_header) writer.appendChecksum(checksum);
    size_t image_length = writer.position();

    writer.bytes[1] =
        static_cast<uint8_t>(layout.ram_only_header ? ram_segment_count : total_segments);
    if (layout.append_digest) writer.appendDigest(image_length);
    return std::move(writer.bytes);
}

llvm::Expected<std::vector<uint8_t>> saveEsp8266V1(const std::vector<WorkSegment> &normal,
                                                   const Layout &layout, ImageWriter &writer) {
    formats::CommonHeader{formats::kImageMagic, static_cast<uint8_t>(normal.size()),
                          layout.flash_mode, layout.flash_size_freq, layout.entry}
        .appendTo(writer.bytes);
    uint8_t checksum = formats::kChecksumSeed;
    for (const auto &segment : normal)
        if (auto error = writer.saveSegment(segment, &checksum)) return error;
    writer.appendChecksum(checksum);
    return std::move(writer.bytes);
}

uint32_t esp8266Crc32(std::span<const uint8_t> data) {
    uint32_t crc = static_cast<uint32_t>(crc32(0L, data.data(), static_cast<uInt>(data.size())));
    return (crc & 0x80000000u) ? crc ^ 0xFFFFFFFFu : crc + 1;
}

llvm::Expected<std::vector<uint8_t>> saveEsp8266V2(const std::optional<WorkSegment> &irom,
                                                   const std::vector<WorkSegment> &normal,
                                                   const Layout &layout, ImageWriter &writer) {
    constexpr uint8_t kV2SegmentField = 4; // a constant, not a count
    formats::CommonHeader{formats::kEsp8266V2Magic, kV2SegmentField, layout.flash_mode,
                          layout.flash_size_freq, layout.entry}
        .appendTo(writer.bytes);
    if (irom) {
        WorkSegment relocated{0, irom->data, irom->name, 4};
        relocated.data.resize((relocated.data.size() + 15) / 16 * 16, 0);
        if (auto error = writer.saveSegment(relocated, nullptr)) return error;
    }
    auto rest = saveEsp8266V1(normal, layout, writer);
    if (!rest) return rest.takeError();
    formats::appendLE32(*rest, esp8266Crc32(*rest));
    return rest;
}

llvm::Expected<uint32_t> chooseMmuPageSize(const ElfInput &elf, const Elf2ImageOptions &options,
                                           const ChipDescription &chip,
                                           std::vector<std::string> &notes,
                                           std::vector<std::string> &warnings) {
    const auto &allowed = chip.configurable_mmu_page_sizes;
    uint32_t page = chip.default_mmu_page_size;
    auto apply = [&](uint32_t size) -> llvm::Error {
        if (allowed.empty()) {
            if (size != page)
                warnings.push_back("Changing MMU page size is not supported on " +
                                   std::string(chip.display_name) + "! Defaulting to " +
                                   std::to_string(page / 1024) + "KB.");
            return llvm::Error::success();
        }
        if (std::find(allowed.begin(), allowed.end(), size) == allowed.end()) {
            std::string valid;
            for (uint32_t candidate : allowed)
                valid += (valid.empty() ? "" : ", ") + std::to_string(candidate / 1024) + "KB";
            return fatal("%u bytes is not a valid %s page size, select from %s.", size,
                         std::string(chip.display_name).c_str(), valid.c_str());
        }
        page = size;
        return llvm::Error::success();
    };

    if (options.flash_mmu_page_size) {
        if (auto error = apply(*options.flash_mmu_page_size)) return error;
        return page;
    }
    auto appdesc = std::find_if(elf.sections.begin(), elf.sections.end(), [](const ElfChunk &s) {
        return llvm::StringRef(s.name).contains(".flash.appdesc");
    });
    if (appdesc == elf.sections.end() || allowed.empty() ||
        !chipdb::isFlashAddress(chip, appdesc->address))
        return page;
    auto descriptor = formats::parseAppDescriptor(appdesc->data);
    if (!descriptor) return page;
    if (uint8_t log2 = descriptor->mmu_page_size_log2; log2 != 0) {
        uint64_t bytes = (uint64_t(1) << std::min<uint8_t>(log2, 40)) / 1024 * 1024;
        if (auto error = apply(static_cast<uint32_t>(std::min<uint64_t>(bytes, UINT32_MAX))))
            return error;
        return page;
    }
    for (auto it = allowed.rbegin(); it != allowed.rend(); ++it) {
        if ((int64_t(appdesc->address) - 24 - 8) % int64_t(*it) == 0) {
            page = *it;
            notes.push_back("MMU page size not specified, set to " + std::to_string(page / 1024) +
                            " KB");
            return page;
        }
    }
    warnings.push_back("App description segment is not aligned to MMU page size, probably linker "
                       "script issue or wrong MMU page size. Try to set MMU page size parameter "
                       "manually.");
    return page;
}

llvm::Expected<BuiltImage> buildImage(const ElfInput &elf, const Elf2ImageOptions &options) {
    const ChipDescription &chip = *options.chip;
    BuiltImage result;
    result.notes.push_back("Creating " + std::string(chip.display_name) + " image...");

    Layout layout{};
    layout.chip = &chip;
    layout.kind = chip.image_format == chipdb::ImageFormat::Esp8266 ? formats::ImageKind::Esp8266V1
                                                                    : formats::ImageKind::Esp32;
    layout.esp8266_version =
        chip.image_format == chipdb::ImageFormat::Esp8266 ? options.esp8266_version : 0;
    if (layout.esp8266_version == 2) layout.kind = formats::ImageKind::Esp8266V2;
    if (layout.esp8266_version == 3) {
        // esptool makes v3 images with ESP32's loader tables (flash codes, memory types).
        layout.kind = formats::ImageKind::Esp32;
        layout.chip = chipdb::findChip("esp32");
    }
    const bool esp32_family =
        layout.kind == formats::ImageKind::Esp32 && layout.esp8266_version == 0;
    layout.ram_only_header = esp32_family && options.ram_only_header;
    layout.append_digest = layout.esp8266_version == 3 ||
                           (esp32_family && !layout.ram_only_header && options.append_digest);
    layout.secure_pad = !esp32_family                                       ? 0
                        : options.secure_pad_v2                             ? 2
                        : options.secure_pad && chip.supports_secure_pad_v1 ? 1
                                                                            : 0;
    layout.entry = elf.entry;
    if (options.min_rev > 0xFF || options.min_rev_full > 0xFFFF || options.max_rev_full > 0xFFFF)
        return fatal("chip revision out of range (--min-rev 0-255, --min-rev-full and "
                     "--max-rev-full 0-65535)");
    layout.min_rev = static_cast<uint8_t>(options.min_rev);
    layout.min_rev_full = static_cast<uint16_t>(options.min_rev_full);
    layout.max_rev_full = static_cast<uint16_t>(options.max_rev_full);

    auto mode = chipdb::flashModeCode(options.flash_mode);
    if (!mode)
        return fatal("Invalid flash mode '%s' (choose from qio, qout, dio, dout)",
                     options.flash_mode.c_str());
    layout.flash_mode = *mode;
    auto size = chipdb::flashSizeCode(*layout.chip, options.flash_size);
    if (!size) {
        std::string valid;
        for (const auto &entry : layout.chip->flash_sizes)
            valid += (valid.empty() ? "" : ", ") + std::string(entry.name);
        return fatal("Flash size '%s' is not supported by this chip type. Supported sizes: %s",
                     options.flash_size.c_str(), valid.c_str());
    }
    uint8_t freq = 0;
    if (!options.flash_freq.empty()) {
        auto code = chipdb::flashFrequencyCode(*layout.chip, options.flash_freq);
        if (!code) {
            std::string valid;
            for (const auto &entry : layout.chip->flash_frequencies)
                valid += (valid.empty() ? "" : ", ") + std::string(entry.name);
            return fatal("Flash frequency '%s' is not supported by this chip type. Supported "
                         "frequencies: %s",
                         options.flash_freq.c_str(), valid.c_str());
        }
        freq = *code;
    }
    layout.flash_size_freq = static_cast<uint8_t>(*size + freq);

    layout.mmu_page_size =
        layout.kind == formats::ImageKind::Esp32 ? layout.chip->default_mmu_page_size : 0;
    if (esp32_family) {
        auto page = chooseMmuPageSize(elf, options, chip, result.notes, result.warnings);
        if (!page) return page.takeError();
        layout.mmu_page_size = *page;
    }

    const auto &chunks = options.use_segments ? elf.segments : elf.sections;
    std::vector<WorkSegment> segments;
    for (const auto &chunk : chunks) segments.push_back(WorkSegment::fromChunk(chunk));

    ImageWriter writer;
    if (options.elf_sha256_offset && *options.elf_sha256_offset != 0) {
        writer.sha_offset = options.elf_sha256_offset;
    } else {
        auto appdesc = std::find_if(segments.begin(), segments.end(), [](const WorkSegment &s) {
            return llvm::StringRef(s.name).contains(".flash.appdesc");
        });
        if (appdesc != segments.end() && isFlashSegment(layout, appdesc->address))
            writer.sha_offset = 0xB0; // headers 0x18 + segment header 8 + app_elf_sha256 at 0x90
    }
    // Hashing a large ELF is a third of elf2image's time: done only for an image that carries it.
    if (writer.sha_offset) writer.elf_sha256 = formats::sha256(elf.file);

    if (layout.ram_only_header) {
        result.notes.push_back("Image has only RAM segments visible. ROM segments are hidden and "
                               "SHA256 digest is not appended.");
        std::stable_sort(
            segments.begin(), segments.end(),
            [](const WorkSegment &a, const WorkSegment &b) { return a.address < b.address; });
    }
    size_t before = segments.size();
    mergeAdjacentSegments(segments, layout, result.notes);
    if (segments.size() != before) {
        size_t delta = before - segments.size();
        result.notes.push_back("Merged " + std::to_string(delta) + " ELF section" +
                               (delta > 1 ? "s" : "") + ".");
    }
    if (segments.size() > formats::kMaxSegments)
        return fatal("Invalid segment count %zu (max 16). Usually this indicates a linker script "
                     "problem.",
                     segments.size());
    // An address the chip does not have means the ELF was linked for another chip. Program
    // headers may also cover ELF headers just below the first section, so they only get a warning.
    for (const auto &segment : segments) {
        if (!memoryTypesOf(*layout.chip, segment.address).empty()) continue;
        const auto &beyond = layout.chip->loadable_beyond_map;
        if (std::any_of(beyond.begin(), beyond.end(), [&](const chipdb::AddressRange &range) {
                return range.contains(segment.address);
            }))
            continue;
        std::string what = (options.use_segments ? std::string("segment at ")
                                                 : "section '" + segment.name + "' at ") +
                           "0x" + llvm::utohexstr(segment.address, true);
        if (options.use_segments) {
            result.warnings.push_back(options.input_name + ": " + what + " is outside " +
                                      std::string(layout.chip->display_name) + "'s memory map");
            continue;
        }
        return fatal("%s is outside %s's memory map (linked for another chip?)", what.c_str(),
                     std::string(layout.chip->display_name).c_str());
    }
    result.notes.push_back("Successfully created " + std::string(chip.display_name) + " image.");

    llvm::Expected<std::vector<uint8_t>> bytes = std::vector<uint8_t>();
    if (layout.kind == formats::ImageKind::Esp32) {
        bytes = saveEsp32Image(std::move(segments), layout, writer);
    } else {
        std::optional<WorkSegment> irom;
        std::vector<WorkSegment> normal;
        size_t irom_count = 0;
        for (auto &segment : segments) {
            if (chip.irom_map.contains(segment.address)) {
                ++irom_count;
                irom = segment;
            } else {
                normal.push_back(segment);
            }
        }
        if (irom_count > 1)
            return fatal("Found %zu segments that could be irom0. Bad ELF file?", irom_count);
        if (irom) result.irom_offset = irom->address - chip.irom_map.start;
        if (layout.kind == formats::ImageKind::Esp8266V1) {
            if (irom) result.irom_data = irom->data;
            bytes = saveEsp8266V1(normal, layout, writer);
        } else {
            bytes = saveEsp8266V2(irom, normal, layout, writer);
        }
    }
    if (!bytes) return bytes.takeError();
    if (options.pad_to_size && *options.pad_to_size && layout.kind == formats::ImageKind::Esp32 &&
        layout.esp8266_version == 0) {
        size_t remainder = bytes->size() % *options.pad_to_size;
        if (remainder) bytes->resize(bytes->size() + *options.pad_to_size - remainder, 0xFF);
    }
    result.image = std::move(*bytes);
    return result;
}

} // namespace

llvm::Expected<BuiltImage> elf2image(const ElfInput &elf, const Elf2ImageOptions &options) {
    auto built = buildImage(elf, options);
    if (built || options.input_name.empty()) return built;
    return fatal("%s: %s", options.input_name.c_str(), llvm::toString(built.takeError()).c_str());
}

std::vector<ElfChunk> flashMappedChunks(const ElfInput &elf, const Elf2ImageOptions &options) {
    std::vector<ElfChunk> flash;
    for (const auto &chunk : options.use_segments ? elf.segments : elf.sections)
        if (chipdb::isFlashAddress(*options.chip, chunk.address)) flash.push_back(chunk);
    return flash;
}

std::string esp8266FileName(const std::string &prefix, uint32_t offset) {
    char suffix[32];
    std::snprintf(suffix, sizeof suffix, "0x%05x.bin", offset);
    return prefix + suffix;
}

llvm::Expected<BuiltImage> makeEsp8266Image(std::vector<RawSegment> raw_segments, uint32_t entry) {
    const ChipDescription &chip = *chipdb::findChip("esp8266");
    Layout layout{};
    layout.chip = &chip;
    layout.kind = formats::ImageKind::Esp8266V1;
    layout.esp8266_version = 1;
    layout.entry = entry;
    BuiltImage result;
    std::vector<WorkSegment> normal;
    std::optional<WorkSegment> irom;
    size_t irom_count = 0;
    for (auto &raw : raw_segments) {
        WorkSegment segment{raw.address, std::move(raw.data), "", 4};
        segment.padTo(4);
        if (chip.irom_map.contains(segment.address)) {
            ++irom_count;
            irom = segment;
        } else {
            normal.push_back(std::move(segment));
        }
    }
    if (irom_count > 1)
        return fatal("Found %zu segments that could be irom0. Bad ELF file?", irom_count);
    if (normal.size() + irom_count > formats::kMaxSegments)
        return fatal("Invalid segment count %zu (max 16).", normal.size() + irom_count);
    ImageWriter writer;
    auto bytes = saveEsp8266V1(normal, layout, writer);
    if (!bytes) return bytes.takeError();
    result.image = std::move(*bytes);
    if (irom) {
        result.irom_offset = irom->address - chip.irom_map.start;
        result.irom_data = irom->data;
    }
    return result;
}

} // namespace esptools::imagegen
