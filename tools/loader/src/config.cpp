#include "esptools/loader/config.h"

#include <llvm/ADT/StringRef.h>
#include <llvm/Support/FileSystem.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/Path.h>

#include <algorithm>
#include <cstdlib>

namespace esptools::loader {
namespace {

constexpr const char *kKnownKeys[] = {
    "timeout",
    "chip_erase_timeout",
    "max_timeout",
    "sync_timeout",
    "md5_timeout_per_mb",
    "erase_region_timeout_per_mb",
    "erase_write_timeout_per_mb",
    "mem_end_rom_timeout",
    "serial_write_timeout",
    "connect_attempts",
    "write_block_attempts",
    "reset_delay",
    "open_port_attempts",
    "custom_reset_sequence",
    "custom_hard_reset_sequence",
};

} // namespace

std::optional<std::string> ToolConfig::text(const std::string &key) const {
    auto found = values.find(key);
    if (found == values.end()) return std::nullopt;
    return found->second;
}

llvm::Expected<std::optional<double>> ToolConfig::number(const std::string &key) const {
    auto value = text(key);
    if (!value) return std::nullopt;
    double parsed = 0;
    if (llvm::StringRef(*value).trim().getAsDouble(parsed))
        return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                       "%s: option '%s' is not a number: '%s'", path.c_str(),
                                       key.c_str(), value->c_str());
    return parsed;
}

std::optional<ToolConfig> readToolConfig(const std::string &path) {
    auto contents = llvm::MemoryBuffer::getFile(path);
    if (!contents) return std::nullopt;
    ToolConfig config;
    llvm::SmallString<256> absolute(path);
    llvm::sys::fs::make_absolute(absolute);
    llvm::sys::path::remove_dots(absolute, /*remove_dot_dot=*/true);
    config.path = absolute.str().str();
    bool found_section = false, in_section = false;
    std::string last_key;
    llvm::SmallVector<llvm::StringRef, 64> lines;
    (*contents)->getBuffer().split(lines, '\n');
    for (size_t number = 0; number < lines.size(); ++number) {
        llvm::StringRef line = lines[number].rtrim();
        llvm::StringRef trimmed = line.trim();
        if (trimmed.empty() || trimmed.startswith("#") || trimmed.startswith(";")) continue;
        if (trimmed.startswith("[")) {
            if (!trimmed.endswith("]")) return std::nullopt; // not an INI file
            in_section = trimmed.drop_front().drop_back().trim() == "esptool";
            found_section |= in_section;
            last_key.clear();
            continue;
        }
        if (line.front() == ' ' || line.front() == '\t') { // a continuation line
            if (in_section && !last_key.empty()) {
                std::string &value = config.values[last_key];
                value.push_back('\n');
                value.append(trimmed.data(), trimmed.size());
            }
            continue;
        }
        size_t separator = std::min(line.find('='), line.find(':'));
        if (separator == llvm::StringRef::npos) return std::nullopt;
        if (!in_section) continue;
        last_key = line.take_front(separator).trim().lower();
        // Python's configparser (which esptool reads its file with) refuses a repeated key.
        if (config.values.count(last_key)) {
            config.invalid = "While reading from '" + path + "' [line " +
                             std::to_string(number + 1) + "]: option '" + last_key +
                             "' in section 'esptool' already exists";
            config.values.clear();
            return config;
        }
        config.values[last_key] = line.drop_front(separator + 1).trim().str();
    }
    if (!found_section) return std::nullopt;
    for (const auto &entry : config.values) {
        const std::string &key = entry.first;
        if (std::find_if(std::begin(kKnownKeys), std::end(kKnownKeys),
                         [&](const char *known) { return key == known; }) == std::end(kKnownKeys))
            config.unknown_keys.push_back(key);
    }
    return config;
}

std::optional<ToolConfig> findToolConfig() {
    if (const char *explicit_path = std::getenv("ESPTOOL_CFGFILE"); explicit_path && *explicit_path)
        if (auto config = readToolConfig(explicit_path)) {
            config->from_environment = true;
            return config;
        }
    std::vector<std::string> directories = {"."};
    if (const char *home = std::getenv("HOME"); home && *home) {
        directories.push_back(std::string(home) + "/.config/esptool");
        directories.push_back(home);
    }
    for (const std::string &directory : directories)
        for (const char *name : {"esptool.cfg", "setup.cfg", "tox.ini"})
            if (auto config = readToolConfig(directory + "/" + name)) return config;
    return std::nullopt;
}

} // namespace esptools::loader
