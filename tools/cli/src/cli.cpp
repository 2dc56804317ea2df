#include "esptools/cli/cli.h"

#include <llvm/ADT/StringExtras.h>
#include <llvm/Support/FileSystem.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/Path.h>
#include <llvm/Support/raw_ostream.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace esptools::cli {

std::string canonicalOption(llvm::StringRef token) {
    // esptool's two-letter short options, which option parsers take as "-f f".
    static constexpr std::pair<llvm::StringLiteral, llvm::StringLiteral> kShortAliases[] = {
        {"-ff", "--flash-freq"},
        {"-fm", "--flash-mode"},
        {"-fs", "--flash-size"},
        {"-sc", "--spi-connection"}};
    for (const auto &[alias, name] : kShortAliases)
        if (token == alias) return name.str();
    if (!token.startswith("--") || token.size() <= 2) return token.str();
    size_t equals = token.find('=');
    std::string name = token.substr(0, equals).str();
    std::replace(name.begin() + 2, name.end(), '_', '-');
    if (equals != llvm::StringRef::npos) name += token.substr(equals).str();
    return name;
}

void warnIfDeprecatedSpelling(llvm::StringRef given, llvm::StringRef canonical,
                              llvm::StringRef option) {
    if (given == canonical) return;
    if (option.empty())
        llvm::outs() << "Warning: Deprecated: Command '" << given << "' is deprecated. Use '"
                     << canonical << "' instead.\n";
    else
        llvm::outs() << "Warning: Deprecated: Choice '" << given << "' for option '" << option
                     << "' is deprecated. Use '" << canonical << "' instead.\n";
}

std::string canonicalCommand(llvm::StringRef token) {
    std::string name = token.str();
    std::replace(name.begin(), name.end(), '_', '-');
    return name;
}

namespace {

// Splits one line as a POSIX shell (and Python's shlex.split) does: whitespace separates words,
// '...' is literal, "..." keeps spaces and honours \\ \" \$ \`, and \ outside quotes escapes.
llvm::Expected<std::vector<std::string>> splitLikeShell(llvm::StringRef line,
                                                        const std::string &where) {
    std::vector<std::string> words;
    std::string word;
    bool in_word = false;
    for (size_t i = 0; i < line.size(); ++i) {
        char c = line[i];
        if (c == '\'' || c == '"') {
            in_word = true;
            size_t close = i + 1;
            for (; close < line.size() && line[close] != c; ++close) {
                if (c == '"' && line[close] == '\\' && close + 1 < line.size() &&
                    llvm::StringRef("\\\"$`").contains(line[close + 1]))
                    ++close;
                word += line[close];
            }
            if (close >= line.size())
                return makeError("%s: no closing quotation (%c)", where.c_str(), c);
            i = close;
        } else if (c == '\\' && i + 1 < line.size()) {
            word += line[++i];
            in_word = true;
        } else if (std::isspace(static_cast<unsigned char>(c))) {
            if (in_word) words.push_back(std::move(word));
            word.clear();
            in_word = false;
        } else {
            word += c;
            in_word = true;
        }
    }
    if (in_word) words.push_back(std::move(word));
    return words;
}

} // namespace

llvm::Expected<std::vector<std::string>> expandArgumentFiles(const std::vector<std::string> &args,
                                                             bool *expanded) {
    std::vector<std::string> out;
    if (expanded) *expanded = false;
    for (const std::string &arg : args) {
        if (arg.size() < 2 || arg[0] != '@') {
            out.push_back(arg);
            continue;
        }
        const std::string file = arg.substr(1);
        auto buffer = llvm::MemoryBuffer::getFile(file, /*IsText=*/true);
        if (!buffer)
            return makeError("%s: cannot read argument file: %s", file.c_str(),
                             buffer.getError().message().c_str());
        llvm::SmallVector<llvm::StringRef, 16> lines;
        (*buffer)->getBuffer().split(lines, '\n');
        for (size_t i = 0; i < lines.size(); ++i) {
            auto words = splitLikeShell(lines[i], file + ":" + std::to_string(i + 1));
            if (!words) return words.takeError();
            out.insert(out.end(), words->begin(), words->end());
        }
        if (expanded) *expanded = true;
    }
    return out;
}

llvm::Expected<std::vector<std::string>> commandLine(std::span<char *const> argv,
                                                     llvm::StringRef tool) {
    bool expanded = false;
    auto args = expandArgumentFiles(std::vector<std::string>(argv.begin(), argv.end()), &expanded);
    if (!args) return args.takeError();
    // As esptool does, the command line read from argument files is shown.
    if (expanded) llvm::outs() << tool << " " << llvm::join(*args, " ") << "\n";
    std::vector<std::string> out;
    out.reserve(args->size());
    for (const std::string &arg : *args) {
        out.push_back(canonicalOption(arg));
        // esptool v5 still takes v4's spellings, and says so.
        llvm::StringRef given = llvm::StringRef(arg).split('=').first;
        llvm::StringRef now = llvm::StringRef(out.back()).split('=').first;
        if (given.startswith("--") && given.contains('_') && given != now)
            llvm::outs() << "Warning: Deprecated: Option '" << given << "' is deprecated. Use '"
                         << now << "' instead.\n";
    }
    return out;
}

llvm::Expected<uint64_t> parseInteger(llvm::StringRef text) {
    auto invalid = [&] { return makeError("'%s' is not a valid integer.", text.str().c_str()); };
    llvm::StringRef rest = text.trim();
    if (rest.empty()) return invalid();
    unsigned radix = 10;
    if (rest.size() > 2 && rest[0] == '0' && std::isalpha(static_cast<unsigned char>(rest[1]))) {
        switch (std::tolower(static_cast<unsigned char>(rest[1]))) {
        case 'x':
            radix = 16;
            break;
        case 'o':
            radix = 8;
            break;
        case 'b':
            radix = 2;
            break;
        default:
            return invalid();
        }
        rest = rest.drop_front(2);
        if (rest.startswith("_")) rest = rest.drop_front(); // Python allows 0x_10
    } else if (rest.size() > 1 && rest[0] == '0' &&
               rest.find_first_not_of("0_") != llvm::StringRef::npos) {
        return invalid(); // Python rejects leading zeros in decimal literals
    }
    if (rest.empty() || rest.startswith("_") || rest.endswith("_") || rest.contains("__"))
        return invalid();
    std::string digits;
    for (char c : rest)
        if (c != '_') digits.push_back(c);
    uint64_t value = 0;
    if (llvm::StringRef(digits).getAsInteger(radix, value)) return invalid();
    return value;
}

llvm::Expected<uint64_t> parseSize(llvm::StringRef text) {
    uint64_t multiplier = 1;
    llvm::StringRef number = text;
    if (text.endswith("k"))
        multiplier = 1024, number = text.drop_back();
    else if (text.endswith("M"))
        multiplier = 1024 * 1024, number = text.drop_back();
    auto value = parseInteger(number);
    if (!value) return value.takeError();
    return *value * multiplier;
}

llvm::Expected<uint64_t> parseFlashSizeString(llvm::StringRef text) {
    uint64_t multiplier = 0;
    llvm::StringRef number = text;
    if (text.endswith("MB"))
        multiplier = 1024 * 1024, number = text.drop_back(2);
    else if (text.endswith("KB"))
        multiplier = 1024, number = text.drop_back(2);
    uint64_t value = 0;
    if (multiplier == 0 || number.getAsInteger(10, value) || value == 0)
        return makeError("'%s' is not a valid size: use a number followed by MB or KB, e.g. 4MB",
                         text.str().c_str());
    return value * multiplier;
}

llvm::Expected<uint64_t> parsePaddingSize(llvm::StringRef option, llvm::StringRef text) {
    auto size = parseFlashSizeString(text);
    if (!size)
        return makeError("%s: %s", option.str().c_str(), llvm::toString(size.takeError()).c_str());
    if (*size > kLargestFlash)
        return makeError("%s: %s is larger than any flash (%u MB)", option.str().c_str(),
                         text.str().c_str(), unsigned(kLargestFlash >> 20));
    return *size;
}

llvm::Expected<std::vector<uint8_t>> readFile(const std::string &path) {
    // One read() into the final buffer: cheaper than mapping the file and copying it out.
    auto fail = [&](std::error_code ec) {
        return makeError("%s: cannot read: %s", path.c_str(), ec.message().c_str());
    };
    auto file = llvm::sys::fs::openNativeFileForRead(path);
    if (!file) return fail(llvm::errorToErrorCode(file.takeError()));
    llvm::sys::fs::file_status status;
    std::vector<uint8_t> bytes;
    if (auto ec = llvm::sys::fs::status(*file, status)) {
        llvm::sys::fs::closeFile(*file);
        return fail(ec);
    }
    if (status.type() == llvm::sys::fs::file_type::directory_file) {
        llvm::sys::fs::closeFile(*file);
        return fail(std::make_error_code(std::errc::is_a_directory));
    }
    // No input of ours is larger than the largest flash: a device such as /dev/zero, or a FIFO
    // that never ends, is cut off there instead of being read until memory runs out.
    auto too_large = [&] {
        llvm::sys::fs::closeFile(*file);
        return makeError("%s: larger than %u MB, more than any flash holds", path.c_str(),
                         unsigned(kMaxInputBytes >> 20));
    };
    if (status.getSize() > kMaxInputBytes) return too_large();
    bytes.resize(status.getSize());
    size_t filled = 0;
    while (true) {
        if (filled > kMaxInputBytes) return too_large();
        if (filled == bytes.size()) bytes.resize(bytes.size() + 65536); // size unknown or grew
        auto got = llvm::sys::fs::readNativeFile(
            *file, llvm::MutableArrayRef<char>(reinterpret_cast<char *>(bytes.data()) + filled,
                                               bytes.size() - filled));
        if (!got) {
            llvm::sys::fs::closeFile(*file);
            return fail(llvm::errorToErrorCode(got.takeError()));
        }
        if (*got == 0) break;
        filled += *got;
    }
    llvm::sys::fs::closeFile(*file);
    bytes.resize(filled);
    return bytes;
}

llvm::Expected<MappedFile> MappedFile::open(const std::string &path) {
    auto fail = [&](int error) {
        return makeError("%s: cannot read: %s", path.c_str(), std::strerror(error));
    };
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fail(errno);
    struct stat status {};
    if (::fstat(fd, &status) != 0 || !S_ISREG(status.st_mode)) {
        int error = S_ISDIR(status.st_mode) ? EISDIR : errno ? errno : EINVAL;
        ::close(fd);
        return fail(error);
    }
    size_t size = static_cast<size_t>(status.st_size);
    if (size == 0) {
        ::close(fd);
        return MappedFile(nullptr, 0);
    }
    void *data = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    int error = errno;
    ::close(fd);
    if (data == MAP_FAILED) return fail(error);
    return MappedFile(static_cast<const uint8_t *>(data), size);
}

MappedFile::MappedFile(MappedFile &&other) noexcept : data_(other.data_), size_(other.size_) {
    other.data_ = nullptr;
    other.size_ = 0;
}

MappedFile &MappedFile::operator=(MappedFile &&other) noexcept {
    std::swap(data_, other.data_);
    std::swap(size_, other.size_);
    return *this;
}

MappedFile::~MappedFile() {
    if (data_) ::munmap(const_cast<uint8_t *>(data_), size_);
}

namespace {

// The temporary file being written, for the signal handler: a SIGINT or SIGTERM mid-write removes
// it and leaves the target as it was.
char g_temp_path[4096];
volatile sig_atomic_t g_temp_active = 0;

extern "C" void removeTempAndReraise(int signal_number) {
    if (g_temp_active) unlink(g_temp_path);
    std::signal(signal_number, SIG_DFL);
    std::raise(signal_number);
}

void guardTempFile(llvm::StringRef path) {
    static bool installed = false;
    if (!installed) {
        std::signal(SIGINT, removeTempAndReraise);
        std::signal(SIGTERM, removeTempAndReraise);
        std::signal(SIGHUP, removeTempAndReraise);
        installed = true;
    }
    g_temp_active = 0;
    size_t length = std::min(path.size(), sizeof g_temp_path - 1);
    std::memcpy(g_temp_path, path.data(), length);
    g_temp_path[length] = 0;
    g_temp_active = 1;
}

// Where writing `path` lands: through symlinks (a dangling one names the file to create), as
// open(2) resolves them.
std::string followSymlinks(const std::string &path) {
    std::string current = path;
    for (int hop = 0; hop < 40; ++hop) {
        struct stat info;
        if (lstat(current.c_str(), &info) != 0 || !S_ISLNK(info.st_mode)) return current;
        char target[4096];
        ssize_t length = readlink(current.c_str(), target, sizeof target - 1);
        if (length < 0) return current;
        target[length] = 0;
        if (target[0] == '/') {
            current = target;
        } else {
            llvm::SmallString<256> joined(llvm::sys::path::parent_path(current));
            llvm::sys::path::append(joined, target);
            current = std::string(joined);
        }
    }
    return current;
}

// Devices, FIFOs and sockets are written in place, as esptool's open(path, "wb") does: a rename
// would replace the node itself (for /dev/null, for the whole machine).
llvm::Error writeInPlace(const std::string &path, std::span<const uint8_t> bytes) {
    int fd = open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (fd < 0) return makeError("%s: cannot open output: %s", path.c_str(), std::strerror(errno));
    size_t written = 0;
    while (written < bytes.size()) {
        ssize_t n = write(fd, bytes.data() + written, bytes.size() - written);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            int saved = errno;
            close(fd);
            return makeError("%s: cannot write output: %s", path.c_str(), std::strerror(saved));
        }
        written += size_t(n);
    }
    if (close(fd) != 0)
        return makeError("%s: cannot write output: %s", path.c_str(), std::strerror(errno));
    return llvm::Error::success();
}

} // namespace

llvm::Error writeFileAtomically(const std::string &path, std::span<const uint8_t> bytes) {
    if (path.empty()) return makeError("the output file name is empty");
    const std::string target = followSymlinks(path);
    struct stat info;
    const bool exists = stat(target.c_str(), &info) == 0;
    if (exists && !S_ISREG(info.st_mode)) {
        if (S_ISDIR(info.st_mode)) return makeError("%s: is a directory", path.c_str());
        return writeInPlace(target, bytes);
    }
    // A regular file is written whole to a temporary file beside it, then renamed over it: a
    // failure or an interrupt never leaves it half-written.
    llvm::SmallString<256> temp_path;
    int fd = -1;
    llvm::SmallString<256> model(target);
    model += ".tmp-%%%%%%";
    if (auto ec = llvm::sys::fs::createUniqueFile(model, fd, temp_path))
        return makeError("%s: cannot create output: %s", path.c_str(), ec.message().c_str());
    guardTempFile(temp_path);
    if (exists) fchmod(fd, info.st_mode & 07777); // the replaced file's permissions carry over
    auto discard = [&] {
        llvm::sys::fs::remove(temp_path);
        g_temp_active = 0;
    };
    {
        llvm::raw_fd_ostream out(fd, /*shouldClose=*/true);
        out.write(reinterpret_cast<const char *>(bytes.data()), bytes.size());
        out.close();
        if (out.has_error()) {
            std::string message = out.error().message();
            out.clear_error();
            discard();
            return makeError("%s: cannot write output: %s", path.c_str(), message.c_str());
        }
    }
    if (auto ec = llvm::sys::fs::rename(temp_path, target)) {
        discard();
        return makeError("%s: cannot write output: %s", path.c_str(), ec.message().c_str());
    }
    g_temp_active = 0;
    return llvm::Error::success();
}

void keepOutputInOrder() {
    llvm::errs().tie(&llvm::outs());
}

int reportError(llvm::StringRef tool, llvm::Error error) {
    llvm::outs().flush();
    llvm::handleAllErrors(std::move(error), [&](const llvm::ErrorInfoBase &info) {
        llvm::errs() << tool << ": error: " << info.message() << "\n";
    });
    return kExitFatal;
}

} // namespace esptools::cli
