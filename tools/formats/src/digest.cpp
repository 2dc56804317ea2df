#include "esptools/formats/digest.h"

#include <openssl/evp.h>

namespace esptools::formats {

std::array<uint8_t, 32> sha256(std::span<const uint8_t> data) {
    std::array<uint8_t, 32> digest{};
    unsigned int length = 0;
    EVP_Digest(data.data(), data.size(), digest.data(), &length, EVP_sha256(), nullptr);
    return digest;
}

} // namespace esptools::formats
