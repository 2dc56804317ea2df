// esptool's configuration file: an INI [esptool] section found through $ESPTOOL_CFGFILE or as
// esptool.cfg, setup.cfg or tox.ini in the current directory, ~/.config/esptool or ~ (cli.md §6).
#pragma once

#include <llvm/Support/Error.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace esptools::loader {

struct ToolConfig {
    std::string path; // absolute
    bool from_environment = false;
    std::map<std::string, std::string> values;
    std::vector<std::string> unknown_keys; // sorted
    std::string invalid; // why the file is ignored, as esptool says it; empty when it is used

    std::optional<std::string> text(const std::string &key) const;
    // A number the key holds; an error names the file and key when it is not one.
    llvm::Expected<std::optional<double>> number(const std::string &key) const;
};

// Reads one file; nullopt when it has no [esptool] section or does not parse.
std::optional<ToolConfig> readToolConfig(const std::string &path);

// The first valid file in esptool's search order, if any.
std::optional<ToolConfig> findToolConfig();

} // namespace esptools::loader
