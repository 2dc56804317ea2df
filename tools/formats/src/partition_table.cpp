// The rules here are those of ESP-IDF v6.0.2's components/partition_table/gen_esp32part.py; each
// error keeps that tool's reason and adds the row it is about.
#include "esptools/formats/partition_table.h"

#include "esptools/cli/cli.h"

#include <llvm/ADT/StringExtras.h>
#include <llvm/ADT/StringRef.h>
#include <llvm/Support/ConvertUTF.h>
#include <llvm/Support/Format.h>
#include <llvm/Support/MD5.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <set>

namespace esptools::formats {
namespace {

using cli::makeError;
using Keywords = std::vector<std::pair<std::string, uint8_t>>;

// esp_partition.h's subtypes, and gen_esp32part.py's limits.
constexpr uint8_t kSubtypeDataOta = 0x00;
constexpr uint8_t kSubtypeDataNvs = 0x02;
constexpr uint8_t kSubtypeDataCoredump = 0x03;
constexpr uint8_t kSubtypeDataUndefined = 0x06;
constexpr uint8_t kSubtypeDataTeeOta = 0x90;
constexpr uint8_t kFirstOtaSubtype = 0x10, kOtaSlots = 16;
constexpr uint8_t kFirstTeeSubtype = 0x30, kTeeSlots = 2;
constexpr uint32_t kOtadataSize = 0x2000;
constexpr int64_t kNvsReadWriteMinSize = 0x3000;
constexpr std::array<uint8_t, 2> kEntryMagic = {0xAA, 0x50};
constexpr std::array<uint8_t, 2> kMd5Magic = {0xEB, 0xEB};
constexpr uint32_t kFlagEncrypted = 1u << 0, kFlagReadonly = 1u << 1;

const Keywords kNoKeywords;

std::string hex(int64_t value) {
    std::string text;
    llvm::raw_string_ostream(text)
        << (value < 0 ? "-" : "")
        << llvm::format("0x%llx", static_cast<unsigned long long>(value < 0 ? -value : value));
    return text;
}

// str.strip() for the characters a CSV holds.
std::string_view strip(std::string_view text) {
    auto is_space = [](char c) {
        return c == ' ' || (c >= '\t' && c <= '\r') || (c >= '\x1c' && c <= '\x1f');
    };
    while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
    while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
    return text;
}

std::string lower(std::string_view text) {
    std::string out(text);
    for (char &c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

// Python's int(text, 0), signed.
std::optional<int64_t> pythonInt(std::string_view text) {
    text = strip(text);
    bool negative = false;
    if (!text.empty() && (text[0] == '+' || text[0] == '-')) {
        negative = text[0] == '-';
        text.remove_prefix(1);
        if (text.empty() || strip(text).size() != text.size()) return std::nullopt;
    }
    auto value = cli::parseInteger(llvm::StringRef(text.data(), text.size()));
    if (!value) {
        llvm::consumeError(value.takeError());
        return std::nullopt;
    }
    if (*value > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
    return negative ? -static_cast<int64_t>(*value) : static_cast<int64_t>(*value);
}

// gen_esp32part.py's parse_int: an integer with an optional k/m suffix (each suffix taken off in
// turn), else a keyword, looked up in lower case.
llvm::Expected<int64_t> parseField(std::string_view text, const Keywords &keywords) {
    std::string folded = lower(text);
    for (auto [letter, multiplier] :
         {std::pair{'k', int64_t{1024}}, std::pair{'m', int64_t{1} << 20}}) {
        if (folded.empty() || folded.back() != letter) continue;
        auto inner = parseField(text.substr(0, text.size() - 1), keywords);
        if (!inner) return inner.takeError();
        int64_t product = 0;
        if (__builtin_mul_overflow(*inner, multiplier, &product))
            return makeError("Value '%s' is too large", std::string(text).c_str());
        return product;
    }
    if (auto number = pythonInt(text)) return *number;
    if (keywords.empty()) return makeError("Invalid field value %s", std::string(text).c_str());
    for (const auto &[name, value] : keywords)
        if (name == folded) return value;
    std::string known;
    for (const auto &[name, value] : keywords) known += (known.empty() ? "" : ", ") + name;
    return makeError("Value '%s' is not valid. Known keywords: %s", std::string(text).c_str(),
                     known.c_str());
}

std::string keywordFor(int value, const Keywords &keywords) {
    for (const auto &[name, known] : keywords)
        if (known == value) return name;
    return std::to_string(value);
}

// The text of a CSV file as UTF-8: a byte order mark chooses UTF-16 or UTF-32, as
// gen_esp32part.py's get_encoding does (FF FE is taken for UTF-16 before UTF-32 is tried).
llvm::Expected<std::string> decodeText(std::span<const uint8_t> bytes) {
    auto starts = [&](std::initializer_list<uint8_t> prefix) {
        return bytes.size() >= prefix.size() &&
               std::equal(prefix.begin(), prefix.end(), bytes.begin());
    };
    std::string text;
    if (starts({0xFF, 0xFE}) || starts({0xFE, 0xFF})) {
        if (!llvm::convertUTF16ToUTF8String(
                llvm::ArrayRef<char>(reinterpret_cast<const char *>(bytes.data()), bytes.size()),
                text))
            return makeError("the text is not valid UTF-16");
        return text;
    }
    if (starts({0x00, 0x00, 0xFE, 0xFF})) {
        if (bytes.size() % 4) return makeError("the text is not valid UTF-32");
        std::vector<llvm::UTF32> units;
        for (size_t i = 4; i < bytes.size(); i += 4)
            units.push_back(llvm::UTF32(bytes[i]) << 24 | llvm::UTF32(bytes[i + 1]) << 16 |
                            llvm::UTF32(bytes[i + 2]) << 8 | bytes[i + 3]);
        text.resize(units.size() * 4);
        const llvm::UTF32 *source = units.data();
        auto *target = reinterpret_cast<llvm::UTF8 *>(text.data());
        if (llvm::ConvertUTF32toUTF8(&source, source + units.size(), &target, target + text.size(),
                                     llvm::strictConversion) != llvm::conversionOK)
            return makeError("the text is not valid UTF-32");
        text.resize(reinterpret_cast<char *>(target) - text.data());
        return text;
    }
    if (starts({0xEF, 0xBB, 0xBF})) bytes = bytes.subspan(3);
    const auto *begin = reinterpret_cast<const llvm::UTF8 *>(bytes.data());
    if (!llvm::isLegalUTF8String(&begin, begin + bytes.size()))
        return makeError(
            "the text is not valid UTF-8 (at byte %zu)",
            static_cast<size_t>(begin - reinterpret_cast<const llvm::UTF8 *>(bytes.data())));
    return std::string(reinterpret_cast<const char *>(bytes.data()), bytes.size());
}

// str.splitlines(): \n, \r\n, \r, \v, \f, \x1c-\x1e, and U+0085/U+2028/U+2029 in UTF-8.
std::vector<std::string_view> splitLines(std::string_view text) {
    std::vector<std::string_view> lines;
    size_t start = 0, i = 0;
    while (i < text.size()) {
        size_t length = 0;
        unsigned char c = text[i];
        if (c == '\r')
            length = i + 1 < text.size() && text[i + 1] == '\n' ? 2 : 1;
        else if (c == '\n' || c == '\v' || c == '\f' || (c >= 0x1c && c <= 0x1e))
            length = 1;
        else if (text.substr(i, 2) == "\xc2\x85")
            length = 2;
        else if (text.substr(i, 3) == "\xe2\x80\xa8" || text.substr(i, 3) == "\xe2\x80\xa9")
            length = 3;
        if (length == 0) {
            ++i;
            continue;
        }
        lines.push_back(text.substr(start, i - start));
        i += length;
        start = i;
    }
    if (start < text.size()) lines.push_back(text.substr(start));
    return lines;
}

// os.path.expandvars: $NAME and ${NAME} that the environment defines; others stay as written.
std::string expandVariables(std::string_view line) {
    std::string out;
    auto is_word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
    for (size_t i = 0; i < line.size();) {
        if (line[i] != '$') {
            out.push_back(line[i++]);
            continue;
        }
        size_t end = i + 1;
        std::string name;
        if (end < line.size() && line[end] == '{') {
            size_t close = line.find('}', end);
            if (close == std::string_view::npos) {
                out.push_back(line[i++]);
                continue;
            }
            name = line.substr(end + 1, close - end - 1);
            end = close + 1;
        } else {
            while (end < line.size() && is_word(line[end])) ++end;
            name = line.substr(i + 1, end - i - 1);
        }
        const char *value = name.empty() ? nullptr : std::getenv(name.c_str());
        if (value && end > i + 1)
            out += value;
        else
            out += line.substr(i, std::max(end - i, size_t{1}));
        i = std::max(end, i + 1);
    }
    return out;
}

std::vector<std::string_view> splitOn(std::string_view text, char separator) {
    std::vector<std::string_view> parts;
    size_t start = 0;
    for (size_t comma; (comma = text.find(separator, start)) != std::string_view::npos;
         start = comma + 1)
        parts.push_back(text.substr(start, comma - start));
    parts.push_back(text.substr(start));
    return parts;
}

uint32_t offsetAlignment(uint8_t type) {
    return type == kPartitionTypeApp ? 0x10000 : 0x1000;
}

// A CSV row before it is known to fit the binary entry (Python's integers are unbounded).
struct Row {
    std::string name;
    int64_t type = 0, subtype = 0;
    std::optional<int64_t> offset, size;
    bool encrypted = false, readonly = false;
    unsigned line = 0;
};

std::string joinTypes(const PartitionNames &names) {
    std::string text;
    for (const auto &[name, value] : names.types()) text += (text.empty() ? "" : ", ") + name;
    return text;
}

} // namespace

llvm::Expected<PartitionNames> PartitionNames::make(std::span<const std::string> extra_subtypes) {
    PartitionNames names;
    names.types_ = {{"bootloader", kPartitionTypeBootloader},
                    {"partition_table", kPartitionTypeTable},
                    {"app", kPartitionTypeApp},
                    {"data", kPartitionTypeData}};
    Keywords app = {{"factory", 0x00}, {"test", 0x20}};
    for (uint8_t slot = 0; slot < kOtaSlots; ++slot)
        app.emplace_back("ota_" + std::to_string(slot), kFirstOtaSubtype + slot);
    for (uint8_t slot = 0; slot < kTeeSlots; ++slot)
        app.emplace_back("tee_" + std::to_string(slot), kFirstTeeSubtype + slot);
    names.subtypes_ = {
        {kPartitionTypeBootloader, {{"primary", 0x00}, {"ota", 0x01}, {"recovery", 0x02}}},
        {kPartitionTypeTable, {{"primary", 0x00}, {"ota", 0x01}}},
        {kPartitionTypeApp, std::move(app)},
        {kPartitionTypeData,
         {{"ota", kSubtypeDataOta},
          {"phy", 0x01},
          {"nvs", kSubtypeDataNvs},
          {"coredump", kSubtypeDataCoredump},
          {"nvs_keys", 0x04},
          {"efuse", 0x05},
          {"undefined", kSubtypeDataUndefined},
          {"esphttpd", 0x80},
          {"fat", 0x81},
          {"spiffs", 0x82},
          {"littlefs", 0x83},
          {"tee_ota", kSubtypeDataTeeOta}}},
    };
    for (const std::string &entry : extra_subtypes) {
        auto fields = splitOn(entry, ',');
        auto bad = [&](const char *why) {
            return makeError("--extra-partition-subtypes '%s': %s", entry.c_str(), why);
        };
        if (fields.size() < 3) return bad("expected TYPE,NAME,VALUE");
        std::string type_name(strip(fields[0]));
        std::string name(strip(fields[1]));
        std::string_view digits = strip(fields[2]);
        if (digits.size() > 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X'))
            digits.remove_prefix(2);
        std::string cleaned;
        for (char c : digits)
            if (c != '_') cleaned.push_back(c);
        unsigned value = 0;
        if (cleaned.empty() || llvm::StringRef(cleaned).getAsInteger(16, value) || value > 0xFF)
            return bad("the value is not a hexadecimal byte");
        auto type = std::find_if(names.types_.begin(), names.types_.end(),
                                 [&](const auto &known) { return known.first == type_name; });
        if (type == names.types_.end())
            return bad(("unknown partition type (known: " + joinTypes(names) + ")").c_str());
        for (auto &[known_type, known] : names.subtypes_) {
            if (known_type != type->second) continue;
            bool taken = std::any_of(known.begin(), known.end(),
                                     [&](const auto &pair) { return pair.second == value; });
            if (taken) return bad("Found duplicate value in partition subtype");
            auto same = std::find_if(known.begin(), known.end(),
                                     [&](const auto &pair) { return pair.first == name; });
            if (same != known.end())
                same->second = static_cast<uint8_t>(value);
            else
                known.emplace_back(name, static_cast<uint8_t>(value));
        }
    }
    return names;
}

const Keywords &PartitionNames::subtypes(uint8_t type) const {
    for (const auto &[known_type, keywords] : subtypes_)
        if (known_type == type) return keywords;
    return kNoKeywords;
}

std::optional<uint8_t> PartitionNames::subtypeValue(uint8_t type, std::string_view name) const {
    for (const auto &[known, value] : subtypes(type))
        if (known == name) return value;
    return std::nullopt;
}

bool PartitionTable::looksBinary(std::span<const uint8_t> bytes) {
    return bytes.size() >= 2 && bytes[0] == kEntryMagic[0] && bytes[1] == kEntryMagic[1];
}

llvm::Expected<PartitionTable> PartitionTable::fromCsv(std::span<const uint8_t> bytes,
                                                       const PartitionTableOptions &options) {
    auto names = PartitionNames::make(options.extra_subtypes);
    if (!names) return names.takeError();
    PartitionTable table(options, std::move(*names));
    const PartitionNames &known = table.names_;
    auto text = decodeText(bytes);
    if (!text) return text.takeError();

    auto isPrimary = [&](int64_t type, int64_t subtype) {
        if (type != kPartitionTypeBootloader && type != kPartitionTypeTable) return false;
        auto primary = known.subtypeValue(static_cast<uint8_t>(type), "primary");
        return primary && subtype == *primary;
    };

    std::vector<Row> rows;
    auto lines = splitLines(*text);
    for (size_t index = 0; index < lines.size(); ++index) {
        const unsigned line_no = static_cast<unsigned>(index + 1);
        auto at_line = [&](llvm::Error error) {
            return makeError("line %u: %s", line_no, llvm::toString(std::move(error)).c_str());
        };
        std::string expanded = expandVariables(lines[index]);
        if (expanded.size() > 1 && expanded[0] == '$' &&
            (std::isalpha(static_cast<unsigned char>(expanded[1])) || expanded[1] == '_')) {
            size_t end = 1;
            while (
                end < expanded.size() &&
                (std::isalnum(static_cast<unsigned char>(expanded[end])) || expanded[end] == '_'))
                ++end;
            return at_line(makeError("unknown variable '%s'", expanded.substr(1, end - 1).c_str()));
        }
        std::string_view line = strip(expanded);
        if (line.empty() || line[0] == '#') continue;

        std::string padded = std::string(line) + ",,,,";
        std::vector<std::string_view> fields;
        for (std::string_view field : splitOn(padded, ',')) fields.push_back(strip(field));
        Row row;
        row.line = line_no;
        row.name = fields[0];
        if (fields[1].empty()) return at_line(makeError("Field 'type' can't be left empty."));
        auto type = parseField(fields[1], known.types());
        if (!type) return at_line(type.takeError());
        row.type = *type;
        const Keywords &subtype_names = row.type >= 0 && row.type <= 0xFF
                                            ? known.subtypes(static_cast<uint8_t>(row.type))
                                            : kNoKeywords;
        if (fields[2].empty()) {
            if (row.type == kPartitionTypeApp)
                return at_line(makeError("App partition cannot have an empty subtype"));
            row.subtype = kSubtypeDataUndefined;
        } else {
            auto subtype = parseField(fields[2], subtype_names);
            if (!subtype) return at_line(subtype.takeError());
            row.subtype = *subtype;
        }

        // Where a bootloader or the table itself goes is set by options, not by the row.
        auto subtypeIs = [&](const char *name) {
            auto value = row.type >= 0 && row.type <= 0xFF
                             ? known.subtypeValue(static_cast<uint8_t>(row.type), name)
                             : std::nullopt;
            return value && row.subtype == *value;
        };
        bool placed = false;
        if (row.type == kPartitionTypeBootloader && subtypeIs("primary")) {
            if (!options.primary_bootloader_offset)
                return at_line(makeError("Primary bootloader offset is not defined. Please use "
                                         "--primary-bootloader-offset"));
            row.offset = *options.primary_bootloader_offset;
            placed = true;
        } else if (row.type == kPartitionTypeBootloader && subtypeIs("recovery")) {
            if (!options.recovery_bootloader_offset)
                return at_line(makeError("Recovery bootloader offset is not defined. Please use "
                                         "--recovery-bootloader-offset"));
            row.offset = *options.recovery_bootloader_offset;
            placed = true;
        } else if (row.type == kPartitionTypeTable && subtypeIs("primary")) {
            row.offset = options.table_offset;
            placed = true;
        }
        if (!placed && !fields[3].empty()) {
            auto offset = parseField(fields[3], kNoKeywords);
            if (!offset) return at_line(offset.takeError());
            row.offset = *offset;
        }

        if (row.type == kPartitionTypeBootloader) {
            if (!options.primary_bootloader_offset)
                return at_line(makeError("Primary bootloader offset is not defined. Please use "
                                         "--primary-bootloader-offset"));
            row.size = int64_t{options.table_offset} - *options.primary_bootloader_offset;
        } else if (row.type == kPartitionTypeTable) {
            row.size = kPartitionTableSize;
        } else if (!fields[4].empty()) {
            auto size = parseField(fields[4], kNoKeywords);
            if (!size) return at_line(size.takeError());
            row.size = *size;
        }
        if (!row.size) return at_line(makeError("Size field can't be empty"));

        for (std::string_view flag : splitOn(fields[5], ':')) {
            if (flag == "encrypted")
                row.encrypted = true;
            else if (flag == "readonly")
                row.readonly = true;
            else if (!flag.empty())
                return at_line(makeError("CSV flag column contains unknown flag '%s'",
                                         std::string(flag).c_str()));
        }
        rows.push_back(std::move(row));
    }

    // Missing offsets follow the previous row, aligned for the type; a negative size is the
    // end address. The primary bootloader and table sit where the options put them.
    int64_t last_end = int64_t{options.table_offset} + kPartitionTableSize;
    for (Row &row : rows) {
        if (isPrimary(row.type, row.subtype)) continue;
        if (row.offset && *row.offset < last_end) {
            const Row &first = rows.front();
            bool is_first = row.name == first.name && row.type == first.type &&
                            row.subtype == first.subtype && row.offset == first.offset &&
                            row.size == first.size;
            if (is_first)
                return makeError("line %u: Partitions overlap. Partition sets offset %s. But "
                                 "partition table occupies the whole sector %s. Use a free offset "
                                 "%s or higher.",
                                 row.line, hex(*row.offset).c_str(),
                                 hex(options.table_offset).c_str(), hex(last_end).c_str());
            return makeError("line %u: Partitions overlap. Partition sets offset %s. Previous "
                             "partition ends %s",
                             row.line, hex(*row.offset).c_str(), hex(last_end).c_str());
        }
        if (!row.offset) {
            int64_t pad_to = row.type >= 0 && row.type <= 0xFF
                                 ? offsetAlignment(static_cast<uint8_t>(row.type))
                                 : 0x1000;
            if (last_end % pad_to != 0) last_end += pad_to - (last_end % pad_to);
            row.offset = last_end;
        }
        if (*row.size < 0) row.size = -*row.size - *row.offset;
        last_end = *row.offset + *row.size;
    }

    for (const Row &row : rows) {
        auto out_of_range = [&](const char *what, int64_t value, const char *range) {
            return makeError("line %u: partition '%s': %s %s does not fit the binary entry (%s)",
                             row.line, row.name.c_str(), what, hex(value).c_str(), range);
        };
        if (row.type < 0 || row.type > 0xFF) return out_of_range("type", row.type, "0-0xff");
        if (row.subtype < 0 || row.subtype > 0xFF)
            return out_of_range("subtype", row.subtype, "0-0xff");
        if (*row.offset < 0 || *row.offset > UINT32_MAX)
            return out_of_range("offset", *row.offset, "0-0xffffffff");
        if (*row.size < 0 || *row.size > UINT32_MAX)
            return out_of_range("size", *row.size, "0-0xffffffff");
        table.partitions_.push_back(
            Partition{row.name, static_cast<uint8_t>(row.type), static_cast<uint8_t>(row.subtype),
                      static_cast<uint32_t>(*row.offset), static_cast<uint32_t>(*row.size),
                      row.encrypted, row.readonly, "line " + std::to_string(row.line)});
    }
    return table;
}

llvm::Expected<PartitionTable>
PartitionTable::fromBinary(std::span<const uint8_t> bytes, const PartitionTableOptions &options,
                           const std::function<void(std::string)> &warn) {
    auto names = PartitionNames::make(options.extra_subtypes);
    if (!names) return names.takeError();
    PartitionTable table(options, std::move(*names));
    llvm::MD5 md5;
    for (size_t offset = 0; offset < bytes.size(); offset += 32) {
        if (bytes.size() - offset < 32)
            return makeError("Partition table length must be a multiple of 32 bytes (%zu bytes "
                             "left at offset 0x%zx)",
                             bytes.size() - offset, offset);
        auto entry = bytes.subspan(offset, 32);
        if (std::all_of(entry.begin(), entry.end(), [](uint8_t b) { return b == 0xFF; }))
            return table;
        if (options.md5 && entry[0] == kMd5Magic[0] && entry[1] == kMd5Magic[1]) {
            llvm::MD5 so_far = md5;
            llvm::MD5::MD5Result digest;
            so_far.final(digest);
            if (!std::equal(digest.Bytes.begin(), digest.Bytes.end(), entry.begin() + 16))
                return makeError(
                    "offset 0x%zx: MD5 checksums don't match! (computed: 0x%s, parsed: "
                    "0x%s)",
                    offset, llvm::toHex(digest.Bytes, true).c_str(),
                    llvm::toHex(llvm::ArrayRef<uint8_t>(entry.data() + 16, 16), true).c_str());
            continue;
        }
        md5.update(llvm::ArrayRef<uint8_t>(entry.data(), entry.size()));
        if (entry[0] != kEntryMagic[0] || entry[1] != kEntryMagic[1])
            return makeError(
                "offset 0x%zx: Invalid magic bytes (%02x %02x) for partition definition", offset,
                entry[0], entry[1]);
        const auto *name_begin = reinterpret_cast<const char *>(entry.data() + 12);
        std::string name(name_begin, strnlen(name_begin, 16));
        const auto *utf8 = reinterpret_cast<const llvm::UTF8 *>(name.data());
        if (!llvm::isLegalUTF8String(&utf8, utf8 + name.size()))
            return makeError("offset 0x%zx: the partition name is not valid UTF-8", offset);
        auto word = [&](size_t at) {
            return uint32_t(entry[at]) | uint32_t(entry[at + 1]) << 8 |
                   uint32_t(entry[at + 2]) << 16 | uint32_t(entry[at + 3]) << 24;
        };
        uint32_t flags = word(28);
        Partition partition{name,
                            entry[2],
                            entry[3],
                            word(4),
                            word(8),
                            (flags & kFlagEncrypted) != 0,
                            (flags & kFlagReadonly) != 0,
                            "entry " + std::to_string(offset / 32)};
        if (flags & ~(kFlagEncrypted | kFlagReadonly)) {
            std::string text;
            llvm::raw_string_ostream(text)
                << "WARNING: Partition definition had unknown flag(s) "
                << llvm::format("0x%08x", flags & ~(kFlagEncrypted | kFlagReadonly))
                << ". Newer binary format?";
            warn(text);
        }
        table.partitions_.push_back(std::move(partition));
    }
    return makeError("Partition table is missing an end-of-table marker");
}

llvm::Error PartitionTable::verify(const std::function<void(std::string)> &warn) const {
    for (const Partition &p : partitions_) {
        auto invalid = [&](const std::string &why) {
            return makeError("%s: Partition %s invalid: %s", p.origin.c_str(), p.name.c_str(),
                             why.c_str());
        };
        uint32_t offset_align = offsetAlignment(p.type);
        if (p.offset % offset_align)
            return invalid("Offset " + hex(p.offset) + " is not aligned to " + hex(offset_align));
        if (p.type == kPartitionTypeApp) {
            uint32_t size_align = options_.secure_boot == SecureBootVersion::V1 ? 0x10000 : 0x1000;
            if (p.size % size_align)
                return invalid("Size " + hex(p.size) + " is not aligned to " + hex(size_align));
        }
        for (const auto &[name, value] : names_.types())
            if (name == p.name && value != p.type)
                warn("WARNING: Partition has name '" + p.name +
                     "' which is a partition type, but does not match this partition's type (" +
                     hex(p.type) + "). Mistake in partition table?");
        bool is_subtype_name = false;
        for (const auto &[name, value] : names_.types())
            for (const auto &[subtype_name, subtype] : names_.subtypes(value))
                is_subtype_name |= subtype_name == p.name;
        auto own = names_.subtypeValue(p.type, p.name);
        if (is_subtype_name && !(own && *own == p.subtype))
            warn("WARNING: Partition has name '" + p.name +
                 "' which is a partition subtype, but this partition has non-matching type " +
                 hex(p.type) + " and subtype " + hex(p.subtype) + ". Mistake in partition table?");
        std::string kind =
            "of type " + std::to_string(p.type) + " and subtype " + std::to_string(p.subtype);
        if (p.type == kPartitionTypeData && p.readonly &&
            (p.subtype == kSubtypeDataOta || p.subtype == kSubtypeDataCoredump))
            return invalid("'" + p.name + "' partition " + kind +
                           " is always read-write and cannot be read-only");
        if (p.type == kPartitionTypeData && p.subtype == kSubtypeDataNvs &&
            p.size < kNvsReadWriteMinSize && !p.readonly)
            return invalid("'" + p.name + "' partition " + kind + " of this size (" + hex(p.size) +
                           ") must be flagged as 'readonly' (the size of read/write NVS has to be "
                           "at least " +
                           hex(kNvsReadWriteMinSize) + ")");
    }

    std::set<std::string> seen, duplicates;
    for (const Partition &p : partitions_)
        if (!seen.insert(p.name).second) duplicates.insert(p.name);
    if (!duplicates.empty()) {
        std::string rows;
        for (const Partition &p : partitions_)
            if (duplicates.count(p.name)) rows += (rows.empty() ? "" : ", ") + p.origin;
        return makeError("%s: Partition names must be unique ('%s')", rows.c_str(),
                         duplicates.begin()->c_str());
    }

    std::vector<const Partition *> by_offset;
    for (const Partition &p : partitions_) by_offset.push_back(&p);
    std::stable_sort(by_offset.begin(), by_offset.end(),
                     [](const Partition *a, const Partition *b) { return a->offset < b->offset; });
    const int64_t table_end = int64_t{options_.table_offset} + kPartitionTableSize;
    const Partition *last = nullptr;
    for (const Partition *p : by_offset) {
        bool primary = false;
        if (p->type == kPartitionTypeBootloader || p->type == kPartitionTypeTable) {
            auto value = names_.subtypeValue(p->type, "primary");
            primary = value && *value == p->subtype;
        }
        if (p->offset < table_end && !primary)
            return makeError("%s: Partition offset %s is below %s", p->origin.c_str(),
                             hex(p->offset).c_str(), hex(table_end).c_str());
        if (last && p->offset < int64_t{last->offset} + last->size)
            return makeError("%s: Partition at %s overlaps %s-%s (%s)", p->origin.c_str(),
                             hex(p->offset).c_str(), hex(last->offset).c_str(),
                             hex(int64_t{last->offset} + last->size - 1).c_str(),
                             last->origin.c_str());
        last = p;
    }

    for (auto [subtype, label, spelled] :
         {std::tuple{kSubtypeDataOta, "otadata", "subtype=\"ota\"(0)"},
          std::tuple{kSubtypeDataTeeOta, "TEE otadata", "subtype=\"tee_ota\"(0x90)"}}) {
        std::vector<const Partition *> found;
        for (const Partition &p : partitions_)
            if (p.type == kPartitionTypeData && p.subtype == subtype) found.push_back(&p);
        if (found.size() > 1)
            return makeError("%s, %s: Found multiple %s partitions. Only one partition can be "
                             "defined with type=\"data\"(1) and %s.",
                             found[0]->origin.c_str(), found[1]->origin.c_str(), label, spelled);
        if (found.size() == 1 && found[0]->size != kOtadataSize)
            return makeError("%s: %s partition must have size = 0x2000", found[0]->origin.c_str(),
                             label);
    }
    return llvm::Error::success();
}

llvm::Error PartitionTable::checkFits(uint64_t flash_size) const {
    const Partition *last = nullptr;
    for (const Partition &p : partitions_)
        if (!last || p.offset > last->offset) last = &p;
    uint64_t end = last ? uint64_t{last->offset} + last->size : 0;
    if (flash_size >= end) return llvm::Error::success();
    constexpr double kMiB = 1024.0 * 1024.0;
    std::string text;
    llvm::raw_string_ostream(text)
        << last->origin << ": Partitions tables occupies "
        << llvm::format("%.1f", static_cast<double>(end) / kMiB) << "MB of flash (" << end
        << " bytes) which does not fit in configured flash size " << flash_size / (1024 * 1024)
        << "MB. Change the flash size in menuconfig under the 'Serial Flasher Config' menu.";
    return makeError("%s", text.c_str());
}

llvm::Expected<std::vector<uint8_t>> PartitionTable::toBinary() const {
    std::vector<uint8_t> out;
    auto put32 = [&](uint32_t value) {
        for (int shift = 0; shift < 32; shift += 8)
            out.push_back(static_cast<uint8_t>(value >> shift));
    };
    for (const Partition &p : partitions_) {
        out.insert(out.end(), kEntryMagic.begin(), kEntryMagic.end());
        out.push_back(p.type);
        out.push_back(p.subtype);
        put32(p.offset);
        put32(p.size);
        std::array<uint8_t, 16> name{}; // longer names are cut at 16 bytes, as struct.pack does
        std::copy_n(p.name.begin(), std::min<size_t>(p.name.size(), 16), name.begin());
        out.insert(out.end(), name.begin(), name.end());
        put32((p.encrypted ? kFlagEncrypted : 0) | (p.readonly ? kFlagReadonly : 0));
    }
    if (options_.md5) {
        llvm::MD5 md5;
        md5.update(llvm::ArrayRef<uint8_t>(out));
        llvm::MD5::MD5Result digest;
        md5.final(digest);
        out.insert(out.end(), kMd5Magic.begin(), kMd5Magic.end());
        out.insert(out.end(), 14, 0xFF);
        out.insert(out.end(), digest.Bytes.begin(), digest.Bytes.end());
    }
    if (out.size() >= kPartitionTableMaxBytes)
        return makeError("Binary partition table length (%zu) longer than max (%zu partitions; at "
                         "most %u fit%s)",
                         out.size(), partitions_.size(),
                         kPartitionTableMaxBytes / 32 - 1 - (options_.md5 ? 1 : 0),
                         options_.md5 ? " beside the MD5 entry" : "");
    out.resize(kPartitionTableMaxBytes, 0xFF);
    return out;
}

std::string PartitionTable::toCsv() const {
    std::string out = "# ESP-IDF Partition Table\n# Name, Type, SubType, Offset, Size, Flags\n";
    for (const Partition &p : partitions_) {
        std::string size = hex(p.size);
        if (p.size % 0x100000 == 0)
            size = std::to_string(p.size / 0x100000) + "M";
        else if (p.size % 0x400 == 0)
            size = std::to_string(p.size / 0x400) + "K";
        std::string flags = p.encrypted ? "encrypted" : "";
        if (p.readonly) flags += flags.empty() ? "readonly" : ":readonly";
        out += p.name + "," + keywordFor(p.type, names_.types()) + "," +
               keywordFor(p.subtype, names_.subtypes(p.type)) + "," + hex(p.offset) + "," + size +
               "," + flags + "\n";
    }
    return out;
}

const Partition *PartitionTable::find(std::string_view name) const {
    for (const Partition &p : partitions_)
        if (p.name == name) return &p;
    return nullptr;
}

} // namespace esptools::formats
