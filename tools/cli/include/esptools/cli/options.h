// Boost.Program_options parsing as esptool's click parses: long options are never guessed from a
// prefix ("--flash-mod" is an error, not --flash-mode), and an option given twice takes its last
// value (a repeated --chip is not an error).
#pragma once

#include <boost/program_options.hpp>

#include <set>
#include <string>
#include <vector>

namespace esptools::cli {

inline constexpr int kOptionStyle = boost::program_options::command_line_style::default_style &
                                    ~boost::program_options::command_line_style::allow_guessing;

// Parses args; of a single-valued option given more than once, only the last occurrence is kept.
inline boost::program_options::parsed_options parseKeepingLast(
    const std::vector<std::string> &args,
    const boost::program_options::options_description &options,
    const boost::program_options::positional_options_description *positional = nullptr) {
    namespace po = boost::program_options;
    po::command_line_parser parser(args);
    parser.options(options).style(kOptionStyle);
    if (positional) parser.positional(*positional);
    po::parsed_options parsed = parser.run();
    std::set<std::string> seen;
    std::vector<po::option> kept;
    for (auto it = parsed.options.rbegin(); it != parsed.options.rend(); ++it) {
        const po::option_description *description =
            it->position_key < 0 ? options.find_nothrow(it->string_key, false) : nullptr;
        const bool single = description && !description->semantic()->is_composing() &&
                            description->semantic()->max_tokens() <= 1;
        if (single && !seen.insert(it->string_key).second) continue;
        kept.insert(kept.begin(), *it);
    }
    parsed.options = std::move(kept);
    return parsed;
}

} // namespace esptools::cli
