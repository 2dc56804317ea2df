// Digests used across image formats. SHA-256 comes from OpenSSL's libcrypto, whose SHA-NI/AVX2
// code hashes a multi-megabyte ELF in about a millisecond (LLVM's portable SHA256 takes ~10 ms,
// half of elf2image's time budget).
#pragma once

#include <array>
#include <cstdint>
#include <span>

namespace esptools::formats {

std::array<uint8_t, 32> sha256(std::span<const uint8_t> data);

} // namespace esptools::formats
