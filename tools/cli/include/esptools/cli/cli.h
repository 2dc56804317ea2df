// Command-line helpers shared by every EspTools executable: esptool's number and size syntax,
// both spellings of commands and options, error reporting, and safe output files.
#pragma once

#include <llvm/ADT/StringRef.h>
#include <llvm/Support/Error.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace esptools::cli {

// Exit codes of every tool (documented in the README), as esptool's: 2 for any failure (bad input,
// usage error, a file that cannot be read or written, a device that failed).
inline constexpr int kExitSuccess = 0;
inline constexpr int kExitFatal = 2;

// esptool v5 spells commands and options with '-', v4 with '_': both are accepted. Rewrites
// "--flash_mode=dio" to "--flash-mode=dio", "image_info" to "image-info", and esptool's two-letter
// short options ("-ff", "-fm", "-fs", "-sc") to their long names.
std::string canonicalOption(llvm::StringRef token);
std::string canonicalCommand(llvm::StringRef token);
// esptool's note when a v4 spelling was taken: of a command (option empty) or of an option's
// choice (e.g. --before default_reset).
void warnIfDeprecatedSpelling(llvm::StringRef given, llvm::StringRef canonical,
                              llvm::StringRef option = {});
// esptool's argument files: "@FILE" is replaced by the words of FILE, split line by line as a
// shell splits them. *expanded tells whether any was.
llvm::Expected<std::vector<std::string>> expandArgumentFiles(const std::vector<std::string> &args,
                                                             bool *expanded = nullptr);
// A tool's arguments: argument files expanded (the result is printed, as esptool prints it), then
// every word made canonical.
llvm::Expected<std::vector<std::string>> commandLine(std::span<char *const> argv,
                                                     llvm::StringRef tool);

// Python int(x, 0): decimal, 0x.., 0o.., 0b.., '_' between digits; "010" is rejected.
llvm::Expected<uint64_t> parseInteger(llvm::StringRef text);
// An integer, or one followed by 'k' (KiB) or 'M' (MiB), e.g. "64k", "0x10k", "2M".
llvm::Expected<uint64_t> parseSize(llvm::StringRef text);
// "1MB", "512KB" (elf2image --pad-to-size, merge-bin --pad-to-size).
llvm::Expected<uint64_t> parseFlashSizeString(llvm::StringRef text);
// --pad-to-size and its kind: a flash size string no larger than the largest flash; the error
// names the option.
llvm::Expected<uint64_t> parsePaddingSize(llvm::StringRef option, llvm::StringRef text);

// The largest flash chip (W25Q01JV, 128 MB), and the largest input a tool reads: twice that.
inline constexpr uint64_t kLargestFlash = 128ull << 20;
inline constexpr uint64_t kMaxInputBytes = 2 * kLargestFlash;

// Reads a whole file into memory the caller owns; the error names the file. Devices and FIFOs
// are read up to kMaxInputBytes.
llvm::Expected<std::vector<uint8_t>> readFile(const std::string &path);

// A read-only view of a whole file, mapped and pre-faulted in one system call: for large inputs
// (multi-megabyte ELF files) this costs a fraction of reading them into fresh memory.
class MappedFile {
public:
    static llvm::Expected<MappedFile> open(const std::string &path);
    MappedFile(MappedFile &&other) noexcept;
    MappedFile &operator=(MappedFile &&other) noexcept;
    MappedFile(const MappedFile &) = delete;
    MappedFile &operator=(const MappedFile &) = delete;
    ~MappedFile();
    std::span<const uint8_t> bytes() const { return {data_, size_}; }

private:
    MappedFile(const uint8_t *data, size_t size) : data_(data), size_(size) {}
    const uint8_t *data_ = nullptr;
    size_t size_ = 0;
};
// Writes to a temporary file beside path, then renames it over path, so a failure never leaves
// a half-written output.
llvm::Error writeFileAtomically(const std::string &path, std::span<const uint8_t> bytes);

// Whatever goes to stderr first flushes what stdout holds, so that lines stay in the order they
// were written when both go to one pipe or file. Called first thing in every tool's main().
void keepOutputInOrder();

// Prints "<tool>: error: <message>" to stderr and returns kExitFatal.
int reportError(llvm::StringRef tool, llvm::Error error);

// An error whose message is formatted like printf.
template <typename... Args> llvm::Error makeError(const char *format, Args &&...args) {
    return llvm::createStringError(llvm::inconvertibleErrorCode(), format,
                                   std::forward<Args>(args)...);
}

} // namespace esptools::cli
