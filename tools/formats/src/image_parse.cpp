// Reading images as esptool's LoadFirmwareImage does (image-format.md §1-§3), but every fault is an
// error naming the file and offset instead of a Python exception.
#include "esptools/formats/digest.h"
#include "esptools/formats/image.h"

#include <llvm/ADT/StringExtras.h>

#include <cstdarg>
#include <cstdio>
#include <string>

namespace esptools::formats {
namespace {

[[gnu::format(printf, 2, 3)]] llvm::Error fault(llvm::StringRef file, const char *format, ...) {
    char text[512];
    va_list args;
    va_start(args, format);
    std::vsnprintf(text, sizeof text, format, args);
    va_end(args);
    return llvm::createStringError(llvm::inconvertibleErrorCode(), (file + ": " + text).str());
}

class Reader {
public:
    Reader(std::span<const uint8_t> bytes, llvm::StringRef file) : bytes_(bytes), file_(file) {}

    size_t position() const { return position_; }
    size_t remaining() const { return bytes_.size() - position_; }

    llvm::Expected<CommonHeader> commonHeader(uint8_t expected_magic) {
        if (remaining() < kCommonHeaderSize)
            return fault(file_, "truncated image header at offset 0x%zx (%zu bytes left, need 8)",
                         position_, remaining());
        CommonHeader header = CommonHeader::parse(bytes_.data() + position_);
        if (header.magic != expected_magic)
            return fault(file_, "invalid image magic 0x%02x at offset 0x%zx (expected 0x%02x)",
                         header.magic, position_, expected_magic);
        position_ += kCommonHeaderSize;
        return header;
    }

    llvm::Expected<ExtendedHeader> extendedHeader() {
        if (remaining() < kExtendedHeaderSize)
            return fault(file_,
                         "truncated extended header at offset 0x%zx (%zu bytes left, need 16)",
                         position_, remaining());
        ExtendedHeader header = ExtendedHeader::parse(bytes_.data() + position_);
        if (header.hash_appended > 1)
            return fault(file_,
                         "invalid hash-appended byte 0x%02x at offset 0x%zx (should be 0 or 1)",
                         header.hash_appended, position_ + 15);
        position_ += kExtendedHeaderSize;
        return header;
    }

    llvm::Expected<Segment> segment(size_t index) {
        size_t header_offset = position_;
        if (remaining() < kSegmentHeaderSize)
            return fault(file_, "segment %zu: truncated segment header at offset 0x%zx", index,
                         header_offset);
        Segment segment;
        segment.address = readLE32(bytes_.data() + position_);
        uint32_t length = readLE32(bytes_.data() + position_ + 4);
        position_ += kSegmentHeaderSize;
        if (length > remaining())
            return fault(file_,
                         "segment %zu at offset 0x%zx (load address 0x%08x) claims 0x%x bytes but "
                         "only 0x%zx remain: the image is truncated",
                         index, header_offset, segment.address, length, remaining());
        segment.data.assign(bytes_.begin() + position_, bytes_.begin() + position_ + length);
        segment.file_offset = header_offset;
        position_ += length;
        return segment;
    }

    // The checksum byte sits at the next offset that is 15 modulo 16.
    llvm::Expected<uint8_t> checksum() {
        size_t offset = position_ | 15;
        if (offset >= bytes_.size())
            return fault(file_, "truncated image: no checksum byte at offset 0x%zx", offset);
        position_ = offset + 1;
        return bytes_[offset];
    }

private:
    std::span<const uint8_t> bytes_;
    llvm::StringRef file_;
    size_t position_ = 0;
};

llvm::Error readSegments(Reader &reader, Image &image, size_t count, llvm::StringRef file) {
    for (size_t i = 0; i < count; ++i) {
        auto segment = reader.segment(image.segments.size());
        if (!segment) return segment.takeError();
        image.segments.push_back(std::move(*segment));
    }
    if (image.segments.size() > kMaxSegments)
        return fault(file, "invalid segment count %zu (max 16)", image.segments.size());
    return llvm::Error::success();
}

uint8_t computeChecksum(const Image &image) {
    uint8_t value = kChecksumSeed;
    for (const auto &segment : image.segments)
        if (segment.in_checksum) value = checksum(segment.data, value);
    return value;
}

void warnIfUnusualEsp8266Segment(Image &image, const Segment &segment) {
    if (segment.address > 0x40200000 || segment.address < 0x3FFE0000 || segment.data.size() > 65536)
        image.warnings.push_back("Suspicious segment 0x" + llvm::utohexstr(segment.address, true) +
                                 ", length " + std::to_string(segment.data.size()));
}

llvm::Expected<Image> parseEsp8266(std::span<const uint8_t> bytes, llvm::StringRef file) {
    Reader reader(bytes, file);
    Image image;
    if (bytes[0] == kEsp8266V2Magic) {
        image.kind = ImageKind::Esp8266V2;
        auto first = reader.commonHeader(kEsp8266V2Magic);
        if (!first) return first.takeError();
        if (first->segment_count != 4)
            image.warnings.push_back("V2 header has unexpected \"segment\" count " +
                                     std::to_string(first->segment_count) + " (usually 4)");
        // The IROM segment comes before the second header; it is stored at address 0 and is not
        // part of the checksum.
        auto irom = reader.segment(0);
        if (!irom) return irom.takeError();
        irom->address = 0;
        irom->in_checksum = false;
        image.segments.push_back(std::move(*irom));
        auto second = reader.commonHeader(kImageMagic);
        if (!second) return second.takeError();
        if (first->flash_mode != second->flash_mode)
            image.warnings.push_back(
                "Flash mode value in first header disagrees with second. Using second value.");
        if (first->flash_size_freq != second->flash_size_freq)
            image.warnings.push_back(
                "Flash size/freq value in first header disagrees with second. Using second value.");
        if (first->entry != second->entry)
            image.warnings.push_back("Entrypoint address in first header disagrees with second "
                                     "header. Using second value.");
        image.header = *second;
    } else {
        image.kind = ImageKind::Esp8266V1;
        auto header = reader.commonHeader(kImageMagic);
        if (!header) return header.takeError();
        image.header = *header;
    }
    size_t first_normal = image.segments.size();
    if (auto error = readSegments(reader, image, image.header.segment_count, file)) return error;
    for (size_t i = first_normal; i < image.segments.size(); ++i)
        warnIfUnusualEsp8266Segment(image, image.segments[i]);
    auto stored = reader.checksum();
    if (!stored) return stored.takeError();
    image.stored_checksum = *stored;
    image.computed_checksum = computeChecksum(image);
    image.data_length = reader.position();
    return image;
}

llvm::Expected<Image> parseEsp32(std::span<const uint8_t> bytes,
                                 const chipdb::ChipDescription &chip, llvm::StringRef file) {
    Reader reader(bytes, file);
    Image image;
    image.kind = ImageKind::Esp32;
    auto header = reader.commonHeader(kImageMagic);
    if (!header) return header.takeError();
    image.header = *header;
    auto extended = reader.extendedHeader();
    if (!extended) return extended.takeError();
    image.extended = *extended;
    if (chip.image_chip_id && image.extended.chip_id != *chip.image_chip_id)
        image.warnings.push_back("Unexpected chip ID in image. Expected " +
                                 std::to_string(*chip.image_chip_id) + " but value was " +
                                 std::to_string(image.extended.chip_id) +
                                 ". Is this image for a different chip model?");
    if (auto error = readSegments(reader, image, image.header.segment_count, file)) return error;
    auto stored = reader.checksum();
    if (!stored) return stored.takeError();
    image.stored_checksum = *stored;
    image.computed_checksum = computeChecksum(image);
    image.data_length = reader.position();
    if (image.extended.hash_appended) {
        image.computed_digest = sha256(bytes.first(image.data_length));
        if (reader.remaining() < kDigestSize)
            return fault(
                file,
                "truncated image: the SHA-256 digest at offset 0x%zx needs 32 bytes, %zu remain",
                image.data_length, reader.remaining());
        std::array<uint8_t, kDigestSize> digest{};
        std::copy_n(bytes.begin() + image.data_length, kDigestSize, digest.begin());
        image.stored_digest = digest;
    }
    return image;
}

} // namespace

llvm::Expected<Image> parseImage(std::span<const uint8_t> bytes,
                                 const chipdb::ChipDescription &chip, llvm::StringRef file_name) {
    if (bytes.empty()) return fault(file_name, "Image is empty.");
    if (chip.image_format == chipdb::ImageFormat::Esp8266) {
        if (bytes[0] != kImageMagic && bytes[0] != kEsp8266V2Magic)
            return fault(file_name,
                         "invalid image magic 0x%02x at offset 0x0 (expected 0xe9 or 0xea)",
                         bytes[0]);
        return parseEsp8266(bytes, file_name);
    }
    return parseEsp32(bytes, chip, file_name);
}

llvm::Expected<const chipdb::ChipDescription *> detectImageChip(std::span<const uint8_t> bytes,
                                                                llvm::StringRef file_name) {
    if (bytes.empty()) return fault(file_name, "Image is empty.");
    if (bytes[0] != kImageMagic && bytes[0] != kEsp8266V2Magic)
        return fault(file_name, "This is not a valid image (invalid magic number: 0x%x).",
                     bytes[0]);
    const chipdb::ChipDescription *esp8266 = nullptr;
    for (const auto &chip : chipdb::allChips())
        if (chip.image_format == chipdb::ImageFormat::Esp8266) esp8266 = &chip;
    // esptool compares only byte 12 (the low byte of the chip id) and needs byte 23 to be 0 or 1.
    if (bytes.size() >= kCommonHeaderSize + kExtendedHeaderSize && bytes[23] <= 1) {
        for (const auto &chip : chipdb::allChips())
            if (chip.image_chip_id && (*chip.image_chip_id & 0xFF) == bytes[12]) return &chip;
    }
    return esp8266;
}

} // namespace esptools::formats
