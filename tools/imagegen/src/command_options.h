// Option parsing shared by esp-imagegen's commands.
#pragma once

#include "esptools/imagegen/commands.h"

#include <boost/program_options.hpp>

#include <optional>

namespace esptools::imagegen {

// Parses context.args against the command's options. Returns an exit code when the command is
// done already (--help was shown, or the options were wrong), nothing when it should go on.
std::optional<int>
parseCommandOptions(const CommandContext &context, const char *command, const char *usage,
                    const boost::program_options::options_description &options,
                    const boost::program_options::positional_options_description &positional,
                    boost::program_options::variables_map &values);

} // namespace esptools::imagegen
