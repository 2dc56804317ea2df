#include "command_table.h"

#include "esptools/cli/cli.h"

namespace esptools::loader_cli {

void addDeviceCommands(CommandTable &table) {
    addCommand(
        table, "read-mac", {}, false, nullptr,
        [](loader::Device &device, const po::variables_map &) { return loader::readMac(device); });
    addCommand(
        table, "chip-id", {}, false, nullptr,
        [](loader::Device &device, const po::variables_map &) { return loader::chipId(device); });
    addCommand(
        table, "flash-id", {}, false, nullptr,
        [](loader::Device &device, const po::variables_map &) { return loader::flashId(device); });
    addCommand(table, "read-flash-sfdp", {"address", "length"}, false, nullptr,
               [](loader::Device &device, const po::variables_map &vm) -> llvm::Error {
                   auto address = number(vm["address"].as<std::string>());
                   if (!address) return address.takeError();
                   auto length = number(vm["length"].as<std::string>());
                   if (!length) return length.takeError();
                   return loader::readFlashSfdp(device, *address, *length);
               });
    addCommand(table, "get-security-info", {}, false, nullptr,
               [](loader::Device &device, const po::variables_map &) {
                   return loader::securityInfo(device);
               });
    addCommand(table, "read-mem", {"address"}, false, nullptr,
               [](loader::Device &device, const po::variables_map &vm) -> llvm::Error {
                   auto address = number(vm["address"].as<std::string>());
                   if (!address) return address.takeError();
                   return loader::readMem(device, *address);
               });
    addCommand(
        table, "write-mem", {"address", "value"}, false, nullptr, // MASK is optional: added in main

        [](loader::Device &device, const po::variables_map &vm) -> llvm::Error {
            auto address = number(vm["address"].as<std::string>());
            if (!address) return address.takeError();
            auto value = number(vm["value"].as<std::string>());
            if (!value) return value.takeError();
            auto mask = number(vm.count("mask") ? vm["mask"].as<std::string>() : "0xFFFFFFFF");
            if (!mask) return mask.takeError();
            return loader::writeMem(device, *address, *value, *mask);
        });
    addCommand(table, "dump-mem", {"address", "size", "output"}, false, nullptr,
               [](loader::Device &device, const po::variables_map &vm) -> llvm::Error {
                   auto address = number(vm["address"].as<std::string>());
                   if (!address) return address.takeError();
                   auto size = number(vm["size"].as<std::string>(), true);
                   if (!size) return size.takeError();
                   return loader::dumpMem(device, *address, *size, vm["output"].as<std::string>());
               });
    addCommand(table, "load-ram", {"filename"}, false, nullptr,
               [](loader::Device &device, const po::variables_map &vm) {
                   return loader::loadRam(device, vm["filename"].as<std::string>());
               });
    addCommand(
        table, "read-flash-status", {}, false,
        [](po::options_description &o) {
            o.add_options()("bytes", po::value<unsigned>()->default_value(2), "1, 2 or 3");
        },
        [](loader::Device &device, const po::variables_map &vm) -> llvm::Error {
            unsigned bytes = vm["bytes"].as<unsigned>();
            if (bytes < 1 || bytes > 3) return cli::makeError("--bytes must be 1, 2 or 3");
            return loader::readFlashStatus(device, bytes);
        });
    addCommand(
        table, "write-flash-status", {"value"}, false,
        [](po::options_description &o) {
            o.add_options()("bytes", po::value<unsigned>()->default_value(2),
                            "1, 2 or 3")("non-volatile", po::bool_switch(),
                                         "make the change permanent (WREN instead of WEVSR)");
        },
        [](loader::Device &device, const po::variables_map &vm) -> llvm::Error {
            unsigned bytes = vm["bytes"].as<unsigned>();
            if (bytes < 1 || bytes > 3) return cli::makeError("--bytes must be 1, 2 or 3");
            auto value = number(vm["value"].as<std::string>());
            if (!value) return value.takeError();
            return loader::writeFlashStatus(device, bytes, *value, vm["non-volatile"].as<bool>());
        });
    addCommand(
        table, "run", {}, false, nullptr,
        [](loader::Device &device, const po::variables_map &) { return loader::run(device); });
    // The ROM loader serves these as well as a stub would: no stub is uploaded for them.
    for (const char *name :
         {"read-mac", "chip-id", "flash-id", "read-flash-sfdp", "get-security-info", "read-mem",
          "write-mem", "dump-mem", "read-flash-status", "write-flash-status"})
        table.at(name).rom_serves = true;
}

} // namespace esptools::loader_cli
