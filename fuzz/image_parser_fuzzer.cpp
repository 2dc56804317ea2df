// Any bytes, parsed as an image of every chip: an error is fine, a crash or hang is not.
#include "esptools/formats/image.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    std::span<const uint8_t> bytes(data, size);
    for (const auto &chip : esptools::chipdb::allChips()) {
        auto image = esptools::formats::parseImage(bytes, chip, "fuzz.bin");
        if (!image) llvm::consumeError(image.takeError());
    }
    auto detected = esptools::formats::detectImageChip(bytes, "fuzz.bin");
    if (!detected) llvm::consumeError(detected.takeError());
    return 0;
}
