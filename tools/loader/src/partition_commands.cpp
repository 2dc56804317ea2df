// Partitions by name, as ESP-IDF's parttool.py and espflash offer them: the table is read from
// the device, then the partition's region is read, written or erased with the flash commands.
#include "command_support.h"

#include "esptools/formats/partition_table.h"

namespace esptools::loader {

using namespace support;

llvm::Expected<formats::Partition> findDevicePartition(Device &device, uint32_t table_offset,
                                                       const std::string &name) {
    if (auto failure = device.attachFlash()) return failure;
    auto bytes = device.readFlash(table_offset, formats::kPartitionTableMaxBytes, nullptr);
    if (!bytes) return bytes.takeError();
    std::vector<std::string> warnings;
    auto table = formats::PartitionTable::fromBinary(
        *bytes, {}, [&](std::string text) { warnings.push_back(std::move(text)); });
    if (!table)
        return error("no partition table at " + hex(table_offset, 0) + " (" +
                     llvm::toString(table.takeError()) + "); is --partition-table-offset right?");
    if (table->partitions().empty())
        return error("the partition table at " + hex(table_offset, 0) +
                     " is empty (its first entry is blank)");
    const formats::Partition *found = table->find(name);
    if (!found) {
        std::string names;
        for (const auto &partition : table->partitions())
            names += (names.empty() ? "" : ", ") + partition.name;
        return error("no partition named '" + name + "' in the table at " + hex(table_offset, 0) +
                     " (it has: " + names + ")");
    }
    llvm::outs() << "Partition '" << found->name << "': " << hex(found->offset) << ", "
                 << hex(found->size, 0) << " bytes\n";
    return *found;
}

llvm::Error readPartition(Device &device, uint32_t table_offset, const std::string &name,
                          const std::string &output, bool progress) {
    auto partition = findDevicePartition(device, table_offset, name);
    if (!partition) return partition.takeError();
    return readFlash(device, partition->offset, partition->size, output, progress);
}

llvm::Error erasePartition(Device &device, uint32_t table_offset, const std::string &name) {
    auto partition = findDevicePartition(device, table_offset, name);
    if (!partition) return partition.takeError();
    return eraseRegion(device, partition->offset, partition->size);
}

llvm::Error writePartition(Device &device, uint32_t table_offset, const std::string &name,
                           const std::string &input, WriteFlashOptions options) {
    // The file is read before the device is asked anything: a missing file touches nothing.
    auto data = cli::readFile(input);
    if (!data) return data.takeError();
    auto partition = findDevicePartition(device, table_offset, name);
    if (!partition) return partition.takeError();
    if (data->size() > partition->size)
        return error("'" + input + "' is " + std::to_string(data->size()) +
                     " bytes, but partition '" + name + "' at " + hex(partition->offset, 0) +
                     " holds " + std::to_string(partition->size) + " bytes; nothing was written");
    std::vector<FlashFile> files;
    files.push_back(FlashFile{partition->offset, std::move(*data), input});
    const auto &chip = *device.chip();
    auto prepare = [&](const formats::FlashParams &resolved) {
        return prepareFlashFiles(chip, files, resolved, options.compress);
    };
    return writeFlash(device, prepare, options);
}

} // namespace esptools::loader
