#include "command_options.h"

#include "esptools/cli/cli.h"
#include "esptools/cli/options.h"

#include <sstream>

namespace po = boost::program_options;

namespace esptools::imagegen {

std::optional<int> parseCommandOptions(const CommandContext &context, const char *command,
                                       const char *usage, const po::options_description &options,
                                       const po::positional_options_description &positional,
                                       po::variables_map &values) {
    try {
        po::store(cli::parseKeepingLast(context.args, options, &positional), values);
        po::notify(values);
        if (values.count("output") && values["output"].as<std::string>().empty())
            return cli::reportError(
                "esp-imagegen", cli::makeError("%s: --output/-o: the file name is empty", command));
    } catch (const po::error &error) {
        return cli::reportError("esp-imagegen", cli::makeError("%s: %s", command, error.what()));
    }
    if (values.count("help")) {
        std::ostringstream text;
        text << options;
        context.out << "usage: " << usage << "\n" << text.str();
        return cli::kExitSuccess;
    }
    return std::nullopt;
}

} // namespace esptools::imagegen
