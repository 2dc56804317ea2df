// esp-loader's commands, as esptool v5 runs them through the ROM loader.
#pragma once

#include "esptools/formats/flash_params.h"
#include "esptools/formats/partition_table.h"
#include "esptools/loader/device.h"

#include <llvm/Support/Error.h>

#include <array>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace esptools::loader {

struct FlashFile {
    uint32_t address = 0;
    std::vector<uint8_t> data;
    std::string name;
};

// What write-flash did, for the summary and --json.
struct WriteFlashStats {
    uint64_t bytes = 0; // in the files given
    uint64_t sectors_written = 0, sectors_skipped = 0;
    bool verified = true; // every byte written was checked by MD5
};

struct WriteFlashOptions {
    bool compress = true;
    bool erase_all = false;
    bool progress = true;
    bool force = false; // write images built for another chip or chip revision
    formats::FlashParams params;
    // esptool v5.3's fast reflash: per file, in order, what the user says the flash holds there
    // (nullopt: "skip", compare nothing); only the sectors that differ are written, and the MD5
    // check of the whole file afterwards falls back to a full write.
    std::vector<std::optional<std::vector<uint8_t>>> diff_with;
    bool trust_flash_content = false; // no MD5 check of a file found unchanged
    bool skip_flashed = false;        // a file whose MD5 the flash already has is not written
    // Off: every sector is written. On (the default): the chip's digests of the sectors a file
    // covers are compared with the file's, and only the sectors that differ are written.
    bool skip_unchanged_sectors = true;
    WriteFlashStats *stats = nullptr; // filled in as files are written, when given
};

// Reads ADDR FILE pairs (Intel HEX files bring their own addresses) and refuses sector overlaps.
llvm::Expected<std::vector<FlashFile>> readFlashFiles(const std::vector<std::string> &words);

// Chip type, revision and MAC, as printed after connecting.
llvm::Error printChipInfo(Device &device);
// Which port the ROM talks on (the port's USB id, else the ROM's own record of its console).
llvm::Expected<Console> romConsole(Device &device);
// The MAC as the eFuses hold it: the base address, and the EUI-64 extension where there is one.
struct MacAddress {
    std::array<uint8_t, 6> base{};
    std::optional<std::pair<uint8_t, uint8_t>> extension;
};
llvm::Expected<MacAddress> readMacAddress(Device &device);
std::string macText(std::span<const uint8_t> bytes); // aa:bb:cc:...
// As esptool prints it ("MAC: ...", and BASE MAC and MAC_EXT lines for EUI-64).
llvm::Expected<std::string> readMacText(Device &device);
llvm::Expected<uint32_t> chipRevision(Device &device);

// What write-flash sends for a file: the image with its flash parameters patched for the chip and
// padded to whole words, and its zlib stream when compressing. The CPU work of write-flash, done
// apart so that it can run while the connection is still being set up.
struct PreparedFlashFile {
    FlashFile file;
    uint32_t length = 0; // of the file as read, before padding
    std::vector<uint8_t> compressed;
    std::vector<std::string> notes, warnings; // from patching, printed when the file is written
};
llvm::Expected<std::vector<PreparedFlashFile>>
prepareFlashFiles(const chipdb::ChipDescription &chip, std::vector<FlashFile> files,
                  const formats::FlashParams &params, bool compress);

// Gives write-flash its files, prepared for the flash parameters as resolved on the device (flash
// size "detect" replaced by the size the flash reported).
using FlashFilePreparer = std::function<llvm::Expected<std::vector<PreparedFlashFile>>(
    const formats::FlashParams &resolved)>;
llvm::Error writeFlash(Device &device, const FlashFilePreparer &prepare,
                       const WriteFlashOptions &options);
llvm::Error readFlash(Device &device, uint32_t address, std::optional<uint32_t> size,
                      const std::string &output, bool progress);
llvm::Error verifyFlash(Device &device, std::vector<FlashFile> files,
                        const formats::FlashParams &params, bool diff);
llvm::Error eraseFlash(Device &device);
// A size of nullopt (ALL on the command line) reaches the end of the flash.
llvm::Error eraseRegion(Device &device, uint32_t address, std::optional<uint32_t> size);
llvm::Error readMac(Device &device);
llvm::Error chipId(Device &device);
llvm::Error flashId(Device &device);
// LENGTH (1 to 4) bytes of the flash's SFDP table from ADDRESS (RDSFDP 5Ah).
llvm::Error readFlashSfdp(Device &device, uint32_t address, uint32_t length);
llvm::Error securityInfo(Device &device);
llvm::Error readMem(Device &device, uint32_t address);
llvm::Error writeMem(Device &device, uint32_t address, uint32_t value, uint32_t mask);
llvm::Error dumpMem(Device &device, uint32_t address, uint32_t size, const std::string &output);
llvm::Error loadRam(Device &device, const std::string &file);
llvm::Error readFlashStatus(Device &device, unsigned bytes);
llvm::Error writeFlashStatus(Device &device, unsigned bytes, uint32_t value, bool non_volatile);
llvm::Error run(Device &device);

// Partitions by name (ESP-IDF parttool.py): found in the table the device holds at table_offset.
llvm::Expected<formats::Partition> findDevicePartition(Device &device, uint32_t table_offset,
                                                       const std::string &name);
llvm::Error readPartition(Device &device, uint32_t table_offset, const std::string &name,
                          const std::string &output, bool progress);
// The file must fit the partition; it is written as write-flash writes (only changed sectors).
llvm::Error writePartition(Device &device, uint32_t table_offset, const std::string &name,
                           const std::string &input, WriteFlashOptions options);
llvm::Error erasePartition(Device &device, uint32_t table_offset, const std::string &name);

} // namespace esptools::loader
