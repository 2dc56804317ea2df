// esp-imagegen: esptool's offline commands (elf2image, make-image, image-info, merge-bin) and
// ESP-IDF's partition table tool.
#include "esptools/cli/cli.h"
#include "esptools/imagegen/commands.h"

#include <llvm/Support/raw_ostream.h>

#include <cstring>

#include <malloc.h>
#include <map>
#include <set>

using namespace esptools;

namespace {

constexpr const char *kTool = "esp-imagegen";
constexpr const char *kVersion = "esp-imagegen 0.1.0 (esptool v5.3 compatible)";

const std::set<std::string> kConnectionOptions = {
    "--port",       "-p",      "--baud",    "-b",
    "--before",     "--after", "-a",        "--connect-attempts",
    "--trace",      "-t",      "--no-stub", "--stub-dir",
    "--port-filter"};
const std::set<std::string> kConnectionSwitches = {"--trace", "-t", "--no-stub"};

void printUsage(llvm::raw_ostream &out) {
    out << "usage: esp-imagegen [--chip CHIP] COMMAND [OPTIONS] ...\n\n"
           "Commands (both spellings accepted, e.g. image-info / image_info):\n"
           "  elf2image   Create an application image from an ELF file\n"
           "  make-image  Create an ESP8266 image from binary segments (esptool v4)\n"
           "  image-info  Print information about an image (--json for machines)\n"
           "  merge-bin   Merge binaries into one file (raw, hex or uf2)\n"
           "  partition-table  Partition table CSV to binary and back (ESP-IDF's "
           "gen_esp32part.py)\n\n"
           "Chips: "
        << chipdb::chipNameList()
        << "\n"
           "Run 'esp-imagegen COMMAND --help' for a command's options.\n"
           "esptool's connection options (--port, --baud, --before, --after, ...) are accepted "
           "before the command and ignored.\n";
}

} // namespace

int main(int argc, char **argv) {
    // Images are a few MB: keep freed buffers in the heap for reuse instead of returning them to
    // the kernel and faulting fresh pages in again (page faults dominate on virtual machines).
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, 128 << 20);
    cli::keepOutputInOrder();
    auto parsed_args = cli::commandLine(std::span<char *const>(argv + 1, argc - 1), "esptool");
    if (!parsed_args) return cli::reportError(kTool, parsed_args.takeError());
    const std::vector<std::string> &args = *parsed_args;
    const chipdb::ChipDescription *chip = nullptr;
    std::string chip_name;
    if (const char *env_chip = std::getenv("ESPTOOL_CHIP")) chip_name = env_chip;

    // Global options come before the command; --chip is also accepted after it.
    std::vector<std::string> rest;
    std::string command;
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string &arg = args[i];
        if (arg == "--chip" || arg == "-c") {
            if (i + 1 >= args.size())
                return cli::reportError(kTool, cli::makeError("--chip needs a value"));
            chip_name = args[++i];
        } else if (arg.rfind("--chip=", 0) == 0) {
            chip_name = arg.substr(7);
        } else if (command.empty() && (arg == "-h" || arg == "--help")) {
            printUsage(llvm::outs());
            return cli::kExitSuccess;
        } else if (command.empty() && (arg == "version" || arg == "--version")) {
            llvm::outs() << kVersion << "\n";
            return cli::kExitSuccess;
        } else if (command.empty() && kConnectionOptions.count(arg.substr(0, arg.find('=')))) {
            // esptool takes them before any command and offline commands ignore them: scripts
            // that pass --port to every call keep working.
            if (arg.find('=') == std::string::npos && !kConnectionSwitches.count(arg)) ++i;
        } else if (command.empty() && !arg.empty() && arg[0] != '-') {
            command = cli::canonicalCommand(arg);
            cli::warnIfDeprecatedSpelling(arg, command);
        } else if (command.empty()) {
            return cli::reportError(kTool,
                                    cli::makeError("unknown global option '%s'", arg.c_str()));
        } else {
            rest.push_back(arg);
        }
    }
    if (command.empty()) {
        printUsage(llvm::errs());
        return cli::kExitFatal;
    }
    if (!chip_name.empty() && chip_name != "auto") {
        chip = chipdb::findChip(chip_name);
        if (!chip)
            return cli::reportError(
                kTool, cli::makeError("invalid value for --chip: '%s' (choose from auto, %s)",
                                      chip_name.c_str(), chipdb::chipNameList().data()));
    }

    static const std::map<std::string, int (*)(const imagegen::CommandContext &)> kCommands = {
        {"elf2image", imagegen::runElf2Image},
        {"make-image", imagegen::runMakeImage},
        {"image-info", imagegen::runImageInfo},
        {"merge-bin", imagegen::runMergeBin},
        {"partition-table", imagegen::runPartitionTable},
    };
    auto found = kCommands.find(command);
    if (found == kCommands.end())
        return cli::reportError(
            kTool, cli::makeError("unknown command '%s' (try --help)", command.c_str()));
    imagegen::CommandContext context{chip, std::move(rest), llvm::outs()};
    int code = found->second(context);
    llvm::outs().flush();
    return code;
}
