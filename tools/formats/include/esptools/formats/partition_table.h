// ESP-IDF partition tables: the CSV a project writes and the 0xC00-byte binary the bootloader
// reads, with the rules of ESP-IDF v6.0.2's components/partition_table/gen_esp32part.py
// (automatic offsets, alignment per type, K/M sizes, subtypes by name, flags, the MD5 entry).
#pragma once

#include <llvm/Support/Error.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace esptools::formats {

// Partition types and their subtypes by name (ESP-IDF esp_partition.h).
inline constexpr uint8_t kPartitionTypeApp = 0x00;
inline constexpr uint8_t kPartitionTypeData = 0x01;
inline constexpr uint8_t kPartitionTypeBootloader = 0x02;
inline constexpr uint8_t kPartitionTypeTable = 0x03;

// The bootloader's table: 32-byte entries from the start of its 4 KB sector, at most 0xC00
// bytes (the last KB of the sector is kept for a signature).
inline constexpr uint32_t kPartitionTableSize = 0x1000;
inline constexpr uint32_t kPartitionTableMaxBytes = 0xC00;

enum class SecureBootVersion { None, V1, V2 };

struct PartitionTableOptions {
    uint32_t table_offset = 0x8000;
    std::optional<uint32_t> primary_bootloader_offset;
    std::optional<uint32_t> recovery_bootloader_offset;
    SecureBootVersion secure_boot = SecureBootVersion::None;
    bool md5 = true;
    // "TYPE,NAME,HEX" lines, as ESP-IDF's extra_partition_subtypes.inc gives them.
    std::vector<std::string> extra_subtypes;
};

struct Partition {
    std::string name;
    uint8_t type = 0;
    uint8_t subtype = 0;
    uint32_t offset = 0;
    uint32_t size = 0;
    bool encrypted = false;
    bool readonly = false;
    std::string origin; // "line 7" for a CSV row, "entry 3" for a binary one: named in errors
};

// Names of types and subtypes, in the order gen_esp32part.py keeps them (the first name of a
// value is the one a CSV is written with), including a table's extra subtypes.
class PartitionNames {
public:
    static llvm::Expected<PartitionNames> make(std::span<const std::string> extra_subtypes);
    const std::vector<std::pair<std::string, uint8_t>> &types() const { return types_; }
    const std::vector<std::pair<std::string, uint8_t>> &subtypes(uint8_t type) const;
    std::optional<uint8_t> subtypeValue(uint8_t type, std::string_view name) const;

private:
    std::vector<std::pair<std::string, uint8_t>> types_;
    std::vector<std::pair<uint8_t, std::vector<std::pair<std::string, uint8_t>>>> subtypes_;
};

class PartitionTable {
public:
    // Text (UTF-8, or UTF-16/32 with a byte order mark) or a binary table, told apart as
    // gen_esp32part.py does: a binary one starts with the entry magic AA 50.
    static bool looksBinary(std::span<const uint8_t> bytes);

    // $NAME and ${NAME} in a row are replaced from the environment first, as in ESP-IDF.
    static llvm::Expected<PartitionTable> fromCsv(std::span<const uint8_t> text,
                                                  const PartitionTableOptions &options);
    static llvm::Expected<PartitionTable> fromBinary(std::span<const uint8_t> bytes,
                                                     const PartitionTableOptions &options,
                                                     const std::function<void(std::string)> &warn);

    // gen_esp32part.py's verify(): each row's alignment and flags, then the table's names,
    // overlaps and otadata. Questionable but valid names are reported through warn.
    llvm::Error verify(const std::function<void(std::string)> &warn) const;
    // The end of the partition with the highest offset must not pass flash_size.
    llvm::Error checkFits(uint64_t flash_size) const;

    llvm::Expected<std::vector<uint8_t>> toBinary() const;
    std::string toCsv() const;

    const std::vector<Partition> &partitions() const { return partitions_; }
    const Partition *find(std::string_view name) const;

private:
    PartitionTable(PartitionTableOptions options, PartitionNames names)
        : options_(std::move(options)), names_(std::move(names)) {}
    PartitionTableOptions options_;
    PartitionNames names_;
    std::vector<Partition> partitions_;
};

} // namespace esptools::formats
