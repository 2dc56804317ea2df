// Any bytes as Intel HEX; whatever parses must write back to HEX that parses to the same regions.
#include "esptools/formats/ihex.h"

#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    auto regions =
        esptools::formats::parseIntelHex(std::span<const uint8_t>(data, size), "fuzz.hex");
    if (!regions) {
        llvm::consumeError(regions.takeError());
        return 0;
    }
    auto written = esptools::formats::writeIntelHex(*regions);
    auto again = esptools::formats::parseIntelHex(written, "rewritten.hex");
    if (!again) std::abort();
    if (again->size() != regions->size()) std::abort();
    return 0;
}
