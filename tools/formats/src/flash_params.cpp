#include "esptools/formats/flash_params.h"

#include "esptools/formats/digest.h"
#include "esptools/formats/image.h"

#include <llvm/ADT/StringExtras.h>

namespace esptools::formats {
namespace {

std::string names(std::span<const chipdb::FlashCode> table) {
    std::string out;
    for (const auto &entry : table) out += (out.empty() ? "" : ", ") + std::string(entry.name);
    return out;
}

} // namespace

llvm::Expected<PatchResult> patchFlashParams(std::vector<uint8_t> &image, uint32_t address,
                                             const chipdb::ChipDescription &chip,
                                             const FlashParams &params) {
    PatchResult result;
    if (image.size() < kCommonHeaderSize || address != chip.bootloader_flash_offset ||
        params.keepsAll())
        return result;
    auto where = "0x" + llvm::utohexstr(address, true);
    if (image[0] != kImageMagic) {
        result.warnings.push_back(
            "Image file at " + where +
            " doesn't look like an image file, so not changing any flash settings.");
        return result;
    }
    // Encrypted data can start with the magic byte by chance: only a whole valid image is changed.
    auto parsed = parseImage(image, chip, "image");
    if (!parsed) {
        llvm::consumeError(parsed.takeError());
        result.warnings.push_back("Image file at " + where + " is not a valid " +
                                  std::string(chip.display_name) +
                                  " image, so not changing any flash settings.");
        return result;
    }

    uint8_t mode = image[2];
    uint8_t freq = image[3] & 0x0F;
    uint8_t size = image[3] & 0xF0;
    if (params.mode != "keep") {
        auto code = chipdb::flashModeCode(params.mode);
        if (!code)
            return llvm::createStringError(
                llvm::inconvertibleErrorCode(),
                "Invalid flash mode '%s' (choose from qio, qout, dio, dout)", params.mode.c_str());
        mode = *code;
    }
    if (params.freq != "keep") {
        auto code = chipdb::flashFrequencyCode(chip, params.freq);
        if (!code)
            return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                           "Flash frequency '%s' is not supported by this chip "
                                           "type. Supported frequencies: %s",
                                           params.freq.c_str(),
                                           names(chip.flash_frequencies).c_str());
        freq = *code;
    }
    if (params.size != "keep") {
        auto code = chipdb::flashSizeCode(chip, params.size);
        if (!code)
            return llvm::createStringError(
                llvm::inconvertibleErrorCode(),
                "Flash size '%s' is not supported by this chip type. Supported sizes: %s",
                params.size.c_str(), names(chip.flash_sizes).c_str());
        size = *code;
    }
    uint8_t size_freq = static_cast<uint8_t>(size + freq);
    if (image[2] != mode || image[3] != size_freq) {
        image[2] = mode;
        image[3] = size_freq;
        char note[64];
        std::snprintf(note, sizeof note, "Flash parameters set to 0x%04x.", mode << 8 | size_freq);
        result.notes.push_back(note);
    }
    // The header is not covered by the checksum, but it is covered by an appended digest.
    if (chip.image_format == chipdb::ImageFormat::Esp32 && image[kCommonHeaderSize + 15] == 1 &&
        parsed->data_length + kDigestSize <= image.size()) {
        auto digest = sha256(std::span<const uint8_t>(image.data(), parsed->data_length));
        std::copy(digest.begin(), digest.end(), image.begin() + parsed->data_length);
        result.notes.push_back("SHA digest in image updated.");
    }
    return result;
}

} // namespace esptools::formats
