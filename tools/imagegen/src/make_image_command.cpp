#include "esptools/cli/cli.h"
#include "esptools/imagegen/commands.h"

#include "command_options.h"
#include "esptools/imagegen/elf2image.h"

#include <boost/program_options.hpp>

#include <sstream>

namespace po = boost::program_options;

namespace esptools::imagegen {

// esptool v4's make_image: an ESP8266 v1 image from raw binary segments. OUTPUT is a prefix:
// OUTPUT0x00000.bin holds the RAM segments, OUTPUT0x<offset>.bin the IROM segment, if any.
int runMakeImage(const CommandContext &context) {
    constexpr const char *kTool = "esp-imagegen";
    po::options_description described("make-image options");
    described.add_options()("help,h", "show this help")(
        "segfile,f", po::value<std::vector<std::string>>()->composing(),
        "segment file (repeatable)")("segaddr,a",
                                     po::value<std::vector<std::string>>()->composing(),
                                     "segment address (repeatable)")(
        "entrypoint,e", po::value<std::string>()->default_value("0"),
        "entry point address")("output", po::value<std::string>(), "output file name prefix");
    po::positional_options_description positional;
    positional.add("output", 1);
    po::variables_map vm;
    if (auto done = parseCommandOptions(context, "make-image",
                                        "esp-imagegen --chip esp8266 make-image OUTPUT -f FILE -a "
                                        "ADDR [-f FILE -a ADDR ...] [-e ENTRY]",
                                        described, positional, vm))
        return *done;
    if (context.chip && context.chip->image_format != chipdb::ImageFormat::Esp8266)
        return cli::reportError(
            kTool, cli::makeError("make-image makes ESP8266 images only (got --chip %s)",
                                  std::string(context.chip->name).c_str()));
    if (!vm.count("output"))
        return cli::reportError(kTool, cli::makeError("make-image: missing the OUTPUT argument"));
    auto files = vm.count("segfile") ? vm["segfile"].as<std::vector<std::string>>()
                                     : std::vector<std::string>{};
    auto addresses = vm.count("segaddr") ? vm["segaddr"].as<std::vector<std::string>>()
                                         : std::vector<std::string>{};
    if (files.empty()) return cli::reportError(kTool, cli::makeError("No segments specified"));
    if (files.size() != addresses.size())
        return cli::reportError(
            kTool, cli::makeError(
                       "Number of specified files does not match number of specified addresses"));
    auto entry = cli::parseInteger(vm["entrypoint"].as<std::string>());
    if (!entry) return cli::reportError(kTool, entry.takeError());

    std::vector<RawSegment> segments;
    for (size_t i = 0; i < files.size(); ++i) {
        auto address = cli::parseInteger(addresses[i]);
        if (!address) return cli::reportError(kTool, address.takeError());
        auto data = cli::readFile(files[i]);
        if (!data) return cli::reportError(kTool, data.takeError());
        segments.push_back(RawSegment{static_cast<uint32_t>(*address), std::move(*data)});
    }
    const std::string chip_arg = context.chip ? std::string(context.chip->name) : "esp8266";
    context.out << "Creating " << chip_arg << " image...\n";
    auto built = makeEsp8266Image(std::move(segments), static_cast<uint32_t>(*entry));
    if (!built) return cli::reportError(kTool, built.takeError());
    const std::string prefix = vm["output"].as<std::string>();
    if (built->irom_offset) {
        if (auto error = cli::writeFileAtomically(esp8266FileName(prefix, *built->irom_offset),
                                                  built->irom_data))
            return cli::reportError(kTool, std::move(error));
    }
    if (auto error = cli::writeFileAtomically(esp8266FileName(prefix, 0), built->image))
        return cli::reportError(kTool, std::move(error));
    context.out << "Successfully created " << chip_arg << " image.\n";
    return cli::kExitSuccess;
}

} // namespace esptools::imagegen
