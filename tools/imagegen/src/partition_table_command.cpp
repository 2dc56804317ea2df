// partition-table: ESP-IDF's gen_esp32part.py as a command. A CSV becomes the binary table, a
// binary table becomes CSV; the options and their spellings are that tool's.
#include "esptools/cli/cli.h"
#include "esptools/formats/partition_table.h"
#include "esptools/imagegen/commands.h"

#include "command_options.h"

#include <boost/program_options.hpp>
#include <llvm/Support/FileSystem.h>
#include <llvm/Support/Path.h>
#include <llvm/Support/raw_ostream.h>

namespace po = boost::program_options;

namespace esptools::imagegen {
namespace {

constexpr const char *kTool = "esp-imagegen";

llvm::Expected<uint32_t> parseOffset(const char *option, const std::string &text) {
    auto value = cli::parseInteger(text);
    if (!value) return cli::makeError("%s: %s", option, llvm::toString(value.takeError()).c_str());
    if (*value > UINT32_MAX) return cli::makeError("%s: %s is beyond 4 GiB", option, text.c_str());
    return static_cast<uint32_t>(*value);
}

llvm::Expected<formats::PartitionTableOptions> tableOptions(const po::variables_map &vm) {
    formats::PartitionTableOptions options;
    options.md5 = !vm.count("disable-md5sum");
    auto offset = parseOffset("--offset", vm["offset"].as<std::string>());
    if (!offset) return offset.takeError();
    options.table_offset = *offset;
    if (vm.count("primary-bootloader-offset")) {
        auto primary = parseOffset("--primary-bootloader-offset",
                                   vm["primary-bootloader-offset"].as<std::string>());
        if (!primary) return primary.takeError();
        if (*primary >= options.table_offset)
            return cli::makeError("Unsupported configuration. Primary bootloader must be below "
                                  "partition table. Check --primary-bootloader-offset=%#x and "
                                  "--offset=%#x",
                                  *primary, options.table_offset);
        options.primary_bootloader_offset = *primary;
    }
    if (vm.count("recovery-bootloader-offset")) {
        auto recovery = parseOffset("--recovery-bootloader-offset",
                                    vm["recovery-bootloader-offset"].as<std::string>());
        if (!recovery) return recovery.takeError();
        options.recovery_bootloader_offset = *recovery;
    }
    if (vm.count("secure")) {
        const std::string &version = vm["secure"].as<std::string>();
        if (version != "v1" && version != "v2")
            return cli::makeError("--secure: invalid choice '%s' (choose from v1, v2)",
                                  version.c_str());
        options.secure_boot =
            version == "v1" ? formats::SecureBootVersion::V1 : formats::SecureBootVersion::V2;
    }
    if (vm.count("extra-partition-subtypes"))
        options.extra_subtypes = vm["extra-partition-subtypes"].as<std::vector<std::string>>();
    return options;
}

// gen_esp32part.py's --flash-size choices: 1MB to 128MB, powers of two.
llvm::Expected<uint64_t> flashSizeChoice(const std::string &text) {
    for (unsigned mb = 1; mb <= 128; mb *= 2)
        if (text == std::to_string(mb) + "MB") return uint64_t{mb} << 20;
    return cli::makeError("--flash-size: invalid choice '%s' (choose from 1MB, 2MB, 4MB, 8MB, "
                          "16MB, 32MB, 64MB, 128MB)",
                          text.c_str());
}

llvm::Error writeOutput(const std::string &path, std::span<const uint8_t> bytes,
                        llvm::raw_ostream &out) {
    if (path == "-") {
        out.write(reinterpret_cast<const char *>(bytes.data()), bytes.size());
        return llvm::Error::success();
    }
    llvm::StringRef folder = llvm::sys::path::parent_path(path);
    if (!folder.empty())
        if (std::error_code error = llvm::sys::fs::create_directories(folder))
            return cli::makeError("%s: cannot create the folder: %s", folder.str().c_str(),
                                  error.message().c_str());
    return cli::writeFileAtomically(path, bytes);
}

} // namespace

int runPartitionTable(const CommandContext &context) {
    po::options_description described("partition-table options");
    described.add_options()("help,h", "show this help")(
        "flash-size", po::value<std::string>()->implicit_value(""),
        "check that the partitions fit this flash size (1MB ... 128MB)")(
        "disable-md5sum", "do not write (or expect) the MD5 entry")("no-verify",
                                                                    "do not verify the partitions")(
        "verify,v", "verify the partitions (the default; accepted for ESP-IDF's scripts)")(
        "quiet,q", "print only warnings and errors")(
        "offset,o", po::value<std::string>()->default_value("0x8000"),
        "flash offset of the partition table")(
        "primary-bootloader-offset", po::value<std::string>(),
        "offset of the primary bootloader (for rows of type bootloader)")(
        "recovery-bootloader-offset", po::value<std::string>(),
        "offset of the recovery bootloader")(
        "secure", po::value<std::string>()->implicit_value("v1"),
        "app partitions suitable for secure boot v1 (default) or v2")(
        "extra-partition-subtypes", po::value<std::vector<std::string>>()->multitoken(),
        "extra subtypes, each TYPE,NAME,HEX")("input", po::value<std::string>(),
                                              "CSV or binary partition table")(
        "output", po::value<std::string>()->default_value("-"),
        "converted table (binary from CSV, CSV from binary); - or none: standard output");
    po::positional_options_description positional;
    positional.add("input", 1).add("output", 1);
    po::variables_map vm;
    if (auto done = parseCommandOptions(context, "partition-table",
                                        "esp-imagegen partition-table [options] INPUT [OUTPUT]",
                                        described, positional, vm))
        return *done;
    if (!vm.count("input"))
        return cli::reportError(kTool,
                                cli::makeError("partition-table: missing the INPUT argument"));
    const std::string input = vm["input"].as<std::string>();
    const std::string output = vm["output"].as<std::string>();

    auto options = tableOptions(vm);
    if (!options) return cli::reportError(kTool, options.takeError());
    std::optional<uint64_t> flash_size;
    if (vm.count("flash-size") && !vm["flash-size"].as<std::string>().empty()) {
        auto size = flashSizeChoice(vm["flash-size"].as<std::string>());
        if (!size) return cli::reportError(kTool, size.takeError());
        flash_size = *size;
    }

    auto bytes = cli::readFile(input);
    if (!bytes) return cli::reportError(kTool, bytes.takeError());
    auto warn = [](const std::string &text) { llvm::errs() << text << "\n"; };
    auto in_file = [&](llvm::Error error) {
        return cli::reportError(kTool, cli::makeError("%s: %s", input.c_str(),
                                                      llvm::toString(std::move(error)).c_str()));
    };
    const bool binary_input = formats::PartitionTable::looksBinary(*bytes);
    auto table = binary_input ? formats::PartitionTable::fromBinary(*bytes, *options, warn)
                              : formats::PartitionTable::fromCsv(*bytes, *options);
    if (!table) return in_file(table.takeError());
    if (!vm.count("no-verify"))
        if (auto error = table->verify(warn)) return in_file(std::move(error));
    if (flash_size)
        if (auto error = table->checkFits(*flash_size)) return in_file(std::move(error));

    llvm::Error written = llvm::Error::success();
    if (binary_input) {
        std::string csv = table->toCsv();
        written = writeOutput(output, {reinterpret_cast<const uint8_t *>(csv.data()), csv.size()},
                              context.out);
    } else {
        auto encoded = table->toBinary();
        if (!encoded) return in_file(encoded.takeError());
        written = writeOutput(output, *encoded, context.out);
    }
    if (written) return cli::reportError(kTool, std::move(written));
    return cli::kExitSuccess;
}

} // namespace esptools::imagegen
