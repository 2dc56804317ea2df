// Many boards at once: esp-loader again for each port, side by side (--all-ports, several --port).
#pragma once

#include <boost/program_options.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace esptools::loader_cli {

// How many words a global option takes on the command line (1, or 2 with its value), read from
// its description rather than kept in a second list.
size_t optionWords(const std::string &arg,
                   const boost::program_options::options_description &global,
                   const boost::program_options::option_description **found = nullptr);

// Runs args[command_index...] on every port with the global options but the port selection; a
// status line per board while they run (plain lines when output is not a terminal), then a
// summary. Exit 0 only when every board succeeded.
int runOnEveryBoard(const char *argv0, const std::vector<std::string> &args, size_t command_index,
                    const std::vector<std::string> &ports,
                    const boost::program_options::options_description &global,
                    const std::optional<std::string> &json_path);

} // namespace esptools::loader_cli
