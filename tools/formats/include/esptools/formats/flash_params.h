// Rewriting the flash mode, frequency and size of a bootloader image written at the chip's
// bootloader offset, as esptool's write-flash and merge-bin do (image-format.md §6).
#pragma once

#include "esptools/chipdb/chip.h"

#include <llvm/Support/Error.h>

#include <cstdint>
#include <string>
#include <vector>

namespace esptools::formats {

struct FlashParams {
    std::string mode = "keep"; // "keep" or a mode name
    std::string freq = "keep";
    std::string size = "keep";
    bool keepsAll() const { return mode == "keep" && freq == "keep" && size == "keep"; }
    bool operator==(const FlashParams &) const = default;
};

struct PatchResult {
    std::vector<std::string>
        notes; // "Flash parameters set to 0x0220.", "SHA digest in image updated."
    std::vector<std::string> warnings; // why an image at the bootloader offset was left alone
};

// Patches image in place when it is written at the chip's bootloader offset and is a valid image;
// otherwise leaves it unchanged (with a warning when it looked like one). Errors only for a flash
// parameter name the chip does not know.
llvm::Expected<PatchResult> patchFlashParams(std::vector<uint8_t> &image, uint32_t address,
                                             const chipdb::ChipDescription &chip,
                                             const FlashParams &params);

} // namespace esptools::formats
