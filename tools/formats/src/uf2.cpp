#include "esptools/formats/uf2.h"

#include "esptools/formats/image.h"

#include <llvm/Support/MD5.h>

namespace esptools::formats {
namespace {

constexpr uint32_t kFirstMagic = 0x0A324655;
constexpr uint32_t kSecondMagic = 0x9E5D5157;
constexpr uint32_t kFinalMagic = 0x0AB16F30;
constexpr uint32_t kFlagFamilyId = 0x00002000;
constexpr uint32_t kFlagMd5 = 0x00004000;
constexpr size_t kBlockSize = 512;
constexpr size_t kDataSize = 476;
constexpr size_t kMd5PartSize = 24;

} // namespace

std::vector<uint8_t> writeUf2(std::span<const HexRegion> regions, const Uf2Options &options) {
    const size_t md5_part = options.md5 ? kMd5PartSize : 0;
    const size_t chunk = options.chunk_size ? options.chunk_size : kDataSize - md5_part;
    std::vector<uint8_t> out;
    for (const auto &region : regions) {
        const size_t blocks = (region.data.size() + chunk - 1) / chunk;
        uint32_t address = region.address;
        for (size_t block = 0; block < blocks; ++block) {
            size_t start = block * chunk;
            size_t length = std::min(chunk, region.data.size() - start);
            size_t block_start = out.size();
            for (uint32_t word :
                 {kFirstMagic, kSecondMagic, kFlagFamilyId | (options.md5 ? kFlagMd5 : 0u), address,
                  static_cast<uint32_t>(length), static_cast<uint32_t>(block),
                  static_cast<uint32_t>(blocks), options.family_id})
                appendLE32(out, word);
            auto payload = std::span<const uint8_t>(region.data).subspan(start, length);
            out.insert(out.end(), payload.begin(), payload.end());
            if (options.md5) {
                appendLE32(out, address);
                appendLE32(out, static_cast<uint32_t>(length));
                llvm::MD5 md5;
                md5.update(llvm::ArrayRef<uint8_t>(payload.data(), payload.size()));
                llvm::MD5::MD5Result digest;
                md5.final(digest);
                const std::array<uint8_t, 16> bytes =
                    digest; // LLVM 14 and 15+ spell this differently
                out.insert(out.end(), bytes.begin(), bytes.end());
            }
            out.resize(block_start + kBlockSize - 4, 0);
            appendLE32(out, kFinalMagic);
            address += static_cast<uint32_t>(length);
        }
    }
    return out;
}

} // namespace esptools::formats
