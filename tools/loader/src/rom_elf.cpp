#include "esptools/loader/rom_elf.h"

#include <llvm/ADT/StringExtras.h>
#include <llvm/Support/FileSystem.h>
#include <llvm/Support/Path.h>

namespace esptools::loader {

llvm::Expected<std::optional<RomElf>> findRomElf(const std::string &directory,
                                                 const std::string &chip, uint32_t chip_revision) {
    std::error_code error;
    std::optional<RomElf> best;
    const std::string prefix = chip + "_rev", suffix = "_rom.elf";
    for (llvm::sys::fs::directory_iterator entry(directory, error), end; !error && entry != end;
         entry.increment(error)) {
        llvm::StringRef name = llvm::sys::path::filename(entry->path());
        if (!name.consume_front(prefix) || !name.consume_back(suffix)) continue;
        uint32_t revision = 0;
        if (name.empty() || !llvm::all_of(name, llvm::isDigit) || name.getAsInteger(10, revision))
            continue;
        if (revision <= chip_revision && (!best || revision > best->revision))
            best = RomElf{entry->path(), revision};
    }
    if (error)
        return llvm::createStringError(error, "ROM ELF folder %s: %s", directory.c_str(),
                                       error.message().c_str());
    return best;
}

} // namespace esptools::loader
