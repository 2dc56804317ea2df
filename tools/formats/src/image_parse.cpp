#include "esptools/formats/image.h"


namespace esptools::formats {
// Placeholder: replaced by the real parser.
llvm::Expected<Image> parseImage(std::span<const uint8_t>, const chipdb::ChipDescription &,
                                 llvm::StringRef file_name) {
    return llvm::createStringError(llvm::inconvertibleErrorCode(), "%s: image parsing is not implemented yet", file_name.str().c_str());
}
llvm::Expected<const chipdb::ChipDescription *> detectImageChip(std::span<const uint8_t>,
                                                                llvm::StringRef file_name) {
    return llvm::createStringError(llvm::inconvertibleErrorCode(), "%s: image parsing is not implemented yet", file_name.str().c_str());
}
} // namespace esptools::formats
