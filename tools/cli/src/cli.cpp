#include "esptools/cli/cli.h"

#include <llvm/Support/FileSystem.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/Path.h>
#include <llvm/Support/raw_ostream.h>

#include <cctype>
#include <cerrno>
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

std::string canonicalCommand(llvm::StringRef token) {
    std::string name = token.str();
    std::replace(name.begin(), name.end(), '_', '-');
    return name;
}

std::vector<std::string> canonicalArguments(std::span<char *const> argv) {
    std::vector<std::string> out;
    out.reserve(argv.size());
    for (const char *arg : argv) out.push_back(canonicalOption(arg));
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
    bytes.resize(status.getSize());
    size_t filled = 0;
    while (true) {
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

llvm::Error writeFileAtomically(const std::string &path, std::span<const uint8_t> bytes) {
    llvm::SmallString<256> temp_path;
    int fd = -1;
    llvm::SmallString<256> model(path);
    model += ".tmp-%%%%%%";
    if (auto ec = llvm::sys::fs::createUniqueFile(model, fd, temp_path))
        return makeError("%s: cannot create output: %s", path.c_str(), ec.message().c_str());
    {
        llvm::raw_fd_ostream out(fd, /*shouldClose=*/true);
        out.write(reinterpret_cast<const char *>(bytes.data()), bytes.size());
        out.close();
        if (out.has_error()) {
            std::string message = out.error().message();
            out.clear_error();
            llvm::sys::fs::remove(temp_path);
            return makeError("%s: cannot write output: %s", path.c_str(), message.c_str());
        }
    }
    if (auto ec = llvm::sys::fs::rename(temp_path, path)) {
        llvm::sys::fs::remove(temp_path);
        return makeError("%s: cannot write output: %s", path.c_str(), ec.message().c_str());
    }
    return llvm::Error::success();
}

int reportError(llvm::StringRef tool, llvm::Error error) {
    llvm::handleAllErrors(std::move(error), [&](const llvm::ErrorInfoBase &info) {
        llvm::errs() << tool << ": error: " << info.message() << "\n";
    });
    return kExitFatal;
}

} // namespace esptools::cli
