#include "command_table.h"

#include "esptools/cli/cli.h"

#include <future>
#include <memory>

namespace esptools::loader_cli {
namespace {

using PreparedFiles = llvm::Expected<std::vector<loader::PreparedFlashFile>>;

} // namespace

void addFlashCommands(CommandTable &table, loader::WriteFlashStats &stats) {
    auto pairs = [](const po::variables_map &vm) {
        return vm["args"].as<std::vector<std::string>>();
    };
    auto early_files = std::make_shared<std::future<PreparedFiles>>();

    addCommand(
        table, "write-flash", {"args"}, true,
        [](po::options_description &o) {
            addFlashParams(o);
            o.add_options()("erase-all,e", po::bool_switch(), "erase all flash first")(
                "no-progress,p", po::bool_switch(), "no progress")("compress,z", po::bool_switch(),
                                                                   "compress (default)")(
                "no-compress,u", po::bool_switch(), "do not compress")(
                "force", po::bool_switch(), "skip checks")("encrypt", po::bool_switch(),
                                                           "(not supported: refused)")(
                "encrypt-files", po::value<std::vector<std::string>>()->multitoken(),
                "(not supported: refused)")("ignore-flash-enc-efuse", po::bool_switch(),
                                            "(not supported: refused)");
            o.add_options()("diff-with", po::value<std::vector<std::string>>()->multitoken(),
                            "files the flash holds now, one per file written, or 'skip': only "
                            "changed sectors are written")(
                "trust-flash-content", po::bool_switch(),
                "no MD5 check of files found unchanged (with --diff-with)")(
                "skip-flashed,s", po::bool_switch(), "skip files the flash already holds")(
                "write-all", po::bool_switch(),
                "write every sector (by default the sectors the chip already holds, as its "
                "digests show, are skipped)");
        },
        [pairs, early_files, &stats](loader::Device &device,
                                     const po::variables_map &vm) -> llvm::Error {
            if (vm["compress"].as<bool>() && vm["no-compress"].as<bool>())
                return cli::makeError("Illegal usage: --no-compress is mutually exclusive with "
                                      "arguments: --compress.");
            loader::WriteFlashOptions options;
            options.compress = !vm["no-compress"].as<bool>();
            options.erase_all = vm["erase-all"].as<bool>();
            options.force = vm["force"].as<bool>();
            options.trust_flash_content = vm["trust-flash-content"].as<bool>();
            options.skip_flashed = vm["skip-flashed"].as<bool>();
            options.skip_unchanged_sectors = !vm["write-all"].as<bool>();
            options.stats = &stats;
            if (vm.count("diff-with"))
                for (const auto &name : vm["diff-with"].as<std::vector<std::string>>()) {
                    if (name == "skip") {
                        options.diff_with.emplace_back();
                        continue;
                    }
                    auto old = cli::readFile(name);
                    if (!old) return old.takeError();
                    options.diff_with.emplace_back(std::move(*old));
                }
            options.progress = !vm["no-progress"].as<bool>();
            options.params = flashParams(vm);
            auto prepare = [&](const formats::FlashParams &resolved)
                -> llvm::Expected<std::vector<loader::PreparedFlashFile>> {
                if (early_files->valid() && resolved == options.params) return early_files->get();
                auto files = loader::readFlashFiles(pairs(vm));
                if (!files) return files.takeError();
                return loader::prepareFlashFiles(*device.chip(), std::move(*files), resolved,
                                                 options.compress);
            };
            return loader::writeFlash(device, prepare, options);
        });
    // Patching and compressing a megabyte takes a tenth of a second: it runs while the stub is
    // uploaded. Not for flash size "detect", whose patch needs the size the flash reports.
    table.at("write-flash").prepare = [pairs, early_files](const chipdb::ChipDescription &chip,
                                                           const po::variables_map &vm) {
        formats::FlashParams params = flashParams(vm);
        if (params.size == "detect") return;
        *early_files = std::async(std::launch::async,
                                  [&chip, words = pairs(vm), params,
                                   compress = !vm["no-compress"].as<bool>()]() -> PreparedFiles {
                                      auto files = loader::readFlashFiles(words);
                                      if (!files) return files.takeError();
                                      return loader::prepareFlashFiles(chip, std::move(*files),
                                                                       params, compress);
                                  });
    };
    addCommand(
        table, "read-flash", {"address", "size", "output"}, false,
        [](po::options_description &o) {
            o.add_options()("no-progress,p", po::bool_switch(), "no progress")(
                "flash-size", po::value<std::string>()->default_value("keep"), "flash size");
        },
        [](loader::Device &device, const po::variables_map &vm) -> llvm::Error {
            auto address = number(vm["address"].as<std::string>());
            if (!address) return address.takeError();
            auto size = sizeOrAll(vm["size"].as<std::string>());
            if (!size) return size.takeError();
            return loader::readFlash(device, *address, *size, vm["output"].as<std::string>(),
                                     !vm["no-progress"].as<bool>());
        });
    addCommand(
        table, "verify-flash", {"args"}, true,
        [](po::options_description &o) {
            addFlashParams(o);
            o.add_options()("diff,d", po::bool_switch(), "show the differing bytes");
        },
        [pairs](loader::Device &device, const po::variables_map &vm) -> llvm::Error {
            auto words = pairs(vm);
            bool diff = vm["diff"].as<bool>();
            // esptool v4 spelled it "--diff yes|no".
            if (!words.empty() && (words.front() == "yes" || words.front() == "no")) {
                diff = diff || words.front() == "yes";
                words.erase(words.begin());
            }
            auto files = loader::readFlashFiles(words);
            if (!files) return files.takeError();
            return loader::verifyFlash(device, std::move(*files), flashParams(vm), diff);
        });
    addCommand(
        table, "erase-flash", {}, false,
        [](po::options_description &o) {
            o.add_options()("force", po::bool_switch(), "skip checks");
        },
        [](loader::Device &device, const po::variables_map &) {
            return loader::eraseFlash(device);
        });
    addCommand(
        table, "erase-region", {"address", "size"}, false,
        [](po::options_description &o) {
            o.add_options()("force", po::bool_switch(), "skip checks");
        },
        [](loader::Device &device, const po::variables_map &vm) -> llvm::Error {
            auto address = number(vm["address"].as<std::string>());
            if (!address) return address.takeError();
            auto size = sizeOrAll(vm["size"].as<std::string>());
            if (!size) return size.takeError();
            return loader::eraseRegion(device, *address, *size);
        });
    // Partitions by name, as ESP-IDF's parttool.py spells its option.
    auto table_offset = [](po::options_description &o) {
        o.add_options()("partition-table-offset", po::value<std::string>()->default_value("0x8000"),
                        "where the device's partition table is");
    };
    auto offsetOf = [](const po::variables_map &vm) {
        return number(vm["partition-table-offset"].as<std::string>());
    };
    addCommand(
        table, "read-partition", {"name", "output"}, false,
        [table_offset](po::options_description &o) {
            table_offset(o);
            o.add_options()("no-progress,p", po::bool_switch(), "no progress");
        },
        [offsetOf](loader::Device &device, const po::variables_map &vm) -> llvm::Error {
            auto offset = offsetOf(vm);
            if (!offset) return offset.takeError();
            return loader::readPartition(device, *offset, vm["name"].as<std::string>(),
                                         vm["output"].as<std::string>(),
                                         !vm["no-progress"].as<bool>());
        });
    addCommand(
        table, "write-partition", {"name", "input"}, false,
        [table_offset](po::options_description &o) {
            table_offset(o);
            o.add_options()("no-progress,p", po::bool_switch(),
                            "no progress")("no-compress,u", po::bool_switch(), "do not compress")(
                "write-all", po::bool_switch(), "write every sector, changed or not");
        },
        [offsetOf, &stats](loader::Device &device, const po::variables_map &vm) -> llvm::Error {
            auto offset = offsetOf(vm);
            if (!offset) return offset.takeError();
            loader::WriteFlashOptions options;
            options.compress = !vm["no-compress"].as<bool>();
            options.progress = !vm["no-progress"].as<bool>();
            options.skip_unchanged_sectors = !vm["write-all"].as<bool>();
            options.stats = &stats;
            return loader::writePartition(device, *offset, vm["name"].as<std::string>(),
                                          vm["input"].as<std::string>(), options);
        });
    addCommand(table, "erase-partition", {"name"}, false, table_offset,
               [offsetOf](loader::Device &device, const po::variables_map &vm) -> llvm::Error {
                   auto offset = offsetOf(vm);
                   if (!offset) return offset.takeError();
                   return loader::erasePartition(device, *offset, vm["name"].as<std::string>());
               });
}

} // namespace esptools::loader_cli
