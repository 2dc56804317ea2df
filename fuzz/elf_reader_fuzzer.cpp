// Any bytes as an ELF file, then through elf2image for one chip of each image format.
#include "esptools/imagegen/elf2image.h"
#include "esptools/imagegen/elf_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    auto elf = esptools::imagegen::readElf(std::span<const uint8_t>(data, size), "fuzz.elf");
    if (!elf) {
        llvm::consumeError(elf.takeError());
        return 0;
    }
    for (const char *chip : {"esp8266", "esp32", "esp32c6"}) {
        esptools::imagegen::Elf2ImageOptions options;
        options.chip = esptools::chipdb::findChip(chip);
        auto image = esptools::imagegen::elf2image(*elf, options);
        if (!image) llvm::consumeError(image.takeError());
    }
    return 0;
}
