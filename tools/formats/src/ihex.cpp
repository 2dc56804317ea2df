#include "esptools/formats/ihex.h"

#include <llvm/ADT/StringExtras.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <map>

namespace esptools::formats {
namespace {

[[gnu::format(printf, 3, 4)]] llvm::Error fault(llvm::StringRef file, size_t line,
                                                const char *format, ...) {
    char text[256];
    va_list args;
    va_start(args, format);
    std::vsnprintf(text, sizeof text, format, args);
    va_end(args);
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   (file + ":" + llvm::Twine(line) + ": " + text).str());
}

void appendRecord(std::vector<uint8_t> &out, uint8_t type, uint16_t address,
                  std::span<const uint8_t> data) {
    uint8_t sum = static_cast<uint8_t>(data.size() + (address >> 8) + (address & 0xFF) + type);
    for (uint8_t byte : data) sum = static_cast<uint8_t>(sum + byte);
    static constexpr char kDigits[] = "0123456789ABCDEF";
    auto put = [&](uint8_t byte) {
        out.push_back(kDigits[byte >> 4]);
        out.push_back(kDigits[byte & 0xF]);
    };
    out.push_back(':');
    put(static_cast<uint8_t>(data.size()));
    put(static_cast<uint8_t>(address >> 8));
    put(static_cast<uint8_t>(address));
    put(type);
    for (uint8_t byte : data) put(byte);
    put(static_cast<uint8_t>(-sum));
    out.push_back('\n');
}

} // namespace

bool looksLikeIntelHex(std::span<const uint8_t> bytes) {
    return !bytes.empty() && bytes[0] == ':';
}

llvm::Expected<std::vector<HexRegion>> parseIntelHex(std::span<const uint8_t> bytes,
                                                     llvm::StringRef file_name) {
    llvm::StringRef text(reinterpret_cast<const char *>(bytes.data()), bytes.size());
    std::map<uint32_t, std::vector<uint8_t>> records; // address -> data, checked for overlap below
    uint32_t base = 0;
    bool ended = false;
    size_t line_number = 0;
    while (!text.empty()) {
        auto [line, rest] = text.split('\n');
        text = rest;
        ++line_number;
        line = line.rtrim("\r \t");
        if (line.empty()) continue;
        if (ended) return fault(file_name, line_number, "data after the end-of-file record");
        if (line[0] != ':') return fault(file_name, line_number, "a record must start with ':'");
        std::string raw;
        if (line.size() < 11 || (line.size() - 1) % 2 != 0 ||
            !llvm::tryGetFromHex(line.drop_front(), raw))
            return fault(file_name, line_number,
                         "malformed record (not an even number of hex digits, at least 10)");
        const auto *record = reinterpret_cast<const uint8_t *>(raw.data());
        size_t length = record[0];
        if (raw.size() != length + 5)
            return fault(file_name, line_number,
                         "record length %zu does not match its %zu data bytes", length,
                         raw.size() - 5);
        uint8_t sum = 0;
        for (char byte : raw) sum = static_cast<uint8_t>(sum + static_cast<uint8_t>(byte));
        if (sum != 0) return fault(file_name, line_number, "checksum mismatch");
        uint16_t offset = static_cast<uint16_t>(record[1] << 8 | record[2]);
        uint8_t type = record[3];
        std::span<const uint8_t> data(record + 4, length);
        switch (type) {
        case 0x00:
            if (length) {
                uint64_t address = uint64_t(base) + offset;
                if (address + length > 0x100000000ull)
                    return fault(file_name, line_number, "data beyond the 4 GiB address space");
                records[static_cast<uint32_t>(address)].assign(data.begin(), data.end());
            }
            break;
        case 0x01:
            ended = true;
            break;
        case 0x02:
        case 0x04:
            if (length != 2)
                return fault(file_name, line_number, "address record must hold 2 bytes");
            base = type == 0x02 ? uint32_t(data[0] << 8 | data[1]) << 4
                                : uint32_t(data[0] << 8 | data[1]) << 16;
            break;
        case 0x03:
        case 0x05:
            break; // start address: not used for flashing
        default:
            return fault(file_name, line_number, "unknown record type %02x", type);
        }
    }
    std::vector<HexRegion> regions;
    for (auto &[address, data] : records) {
        if (!regions.empty()) {
            HexRegion &last = regions.back();
            uint64_t end = uint64_t(last.address) + last.data.size();
            if (address < end)
                return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                               "%s: data overlap at address 0x%08x",
                                               file_name.str().c_str(), address);
            if (address == end) {
                last.data.insert(last.data.end(), data.begin(), data.end());
                continue;
            }
        }
        regions.push_back(HexRegion{address, std::move(data)});
    }
    return regions;
}

std::vector<uint8_t> writeIntelHex(std::span<const HexRegion> input) {
    std::vector<HexRegion> regions(input.begin(), input.end());
    std::sort(regions.begin(), regions.end(),
              [](const HexRegion &a, const HexRegion &b) { return a.address < b.address; });
    uint64_t highest = 0;
    for (const auto &region : regions)
        if (!region.data.empty())
            highest = std::max<uint64_t>(highest, region.address + region.data.size() - 1);
    const bool extended = highest > 0xFFFF;
    std::vector<uint8_t> out;
    bool have_upper = false;
    uint32_t upper = 0;
    for (const auto &region : regions) {
        size_t done = 0;
        while (done < region.data.size()) {
            uint32_t address = region.address + static_cast<uint32_t>(done);
            if (extended && (!have_upper || (address >> 16) > upper)) {
                upper = address >> 16;
                have_upper = true;
                uint8_t value[2] = {static_cast<uint8_t>(upper >> 8), static_cast<uint8_t>(upper)};
                appendRecord(out, 0x04, 0, value);
            }
            // Up to 16 bytes, never across a 64 KiB boundary.
            size_t length =
                std::min<size_t>({16, region.data.size() - done, 0x10000 - (address & 0xFFFF)});
            appendRecord(out, 0x00, static_cast<uint16_t>(address),
                         std::span<const uint8_t>(region.data).subspan(done, length));
            done += length;
        }
    }
    appendRecord(out, 0x01, 0, {});
    return out;
}

} // namespace esptools::formats
