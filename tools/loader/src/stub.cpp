#include "esptools/loader/stub.h"

#include "esptools/cli/json.h"

#include <llvm/ADT/StringExtras.h>
#include <llvm/Support/FileSystem.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/Path.h>

#include <openssl/evp.h>

#include <algorithm>
#include <cstdlib>
#include <map>

namespace esptools::loader {
namespace {

llvm::Error stubError(const std::string &origin, const std::string &message) {
    return llvm::createStringError(llvm::inconvertibleErrorCode(), "%s: %s", origin.c_str(),
                                   message.c_str());
}

llvm::Expected<std::vector<uint8_t>> decodeBase64(std::string_view text,
                                                  const std::string &origin) {
    if (text.size() % 4 != 0) return stubError(origin, "truncated base64 data");
    std::vector<uint8_t> out(text.size() / 4 * 3);
    int decoded = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char *>(text.data()),
                                  int(text.size()));
    if (decoded < 0) return stubError(origin, "invalid base64 data");
    // EVP_DecodeBlock counts the bytes the '=' padding stands for.
    size_t padding = text.size() - text.find_last_not_of('=') - 1;
    out.resize(size_t(decoded) - std::min<size_t>(padding, 2));
    return out;
}

// The stub JSONs are one object of numbers and strings (arrays, such as newer esptool stubs'
// plugin tables, are skipped); anything else is refused.
llvm::Expected<std::map<std::string, std::string>> parseFlatObject(std::string_view text,
                                                                   const std::string &origin) {
    auto records = cli::parseJsonRecords(text, origin);
    if (!records) return records.takeError();
    if (records->size() != 1) return stubError(origin, "not a JSON object");
    std::map<std::string, std::string> fields;
    for (auto &[key, value] : records->front()) {
        if (value.kind != cli::JsonScalar::Kind::String &&
            value.kind != cli::JsonScalar::Kind::Number)
            return stubError(origin, "'" + key + "' is not a number or string");
        fields[key] = value.text;
    }
    return fields;
}

} // namespace

bool StubImage::overlaps(uint32_t start, uint32_t end) const {
    uint32_t dram_start = bss_start.value_or(data_start);
    uint32_t dram_end = data_start + uint32_t(data.size());
    uint32_t iram_end = text_start + uint32_t(text.size());
    return (start < dram_end && end > dram_start) || (start < iram_end && end > text_start);
}

std::string StubImage::residentRanges() const {
    return "0x" + llvm::utohexstr(bss_start.value_or(data_start), true) + "-0x" +
           llvm::utohexstr(data_start + data.size(), true) + " and 0x" +
           llvm::utohexstr(text_start, true) + "-0x" +
           llvm::utohexstr(text_start + text.size(), true);
}

llvm::Expected<StubImage> parseStubJson(std::string_view json, const std::string &origin) {
    auto fields = parseFlatObject(json, origin);
    if (!fields) return fields.takeError();
    StubImage stub;
    stub.origin = origin;
    auto number = [&](const char *key, bool required) -> llvm::Expected<std::optional<uint32_t>> {
        auto found = fields->find(key);
        if (found == fields->end()) {
            if (required) return stubError(origin, std::string("no \"") + key + "\"");
            return std::nullopt;
        }
        uint64_t value = 0;
        if (llvm::StringRef(found->second).getAsInteger(10, value) || value > UINT32_MAX)
            return stubError(origin, std::string("\"") + key + "\" is not an address");
        return uint32_t(value);
    };
    for (auto [key, target, required] :
         {std::tuple{"entry", &stub.entry, true}, std::tuple{"text_start", &stub.text_start, true},
          std::tuple{"data_start", &stub.data_start, false}}) {
        auto value = number(key, required);
        if (!value) return value.takeError();
        if (*value) *target = **value;
    }
    auto bss = number("bss_start", false);
    if (!bss) return bss.takeError();
    stub.bss_start = *bss;
    if (!fields->count("text")) return stubError(origin, "no \"text\"");
    auto text = decodeBase64((*fields)["text"], origin);
    if (!text) return text.takeError();
    stub.text = std::move(*text);
    if (fields->count("data")) {
        auto data = decodeBase64((*fields)["data"], origin);
        if (!data) return data.takeError();
        stub.data = std::move(*data);
    }
    if (stub.entry < stub.text_start || stub.entry >= stub.text_start + stub.text.size())
        return stubError(origin, "the entry point is outside the stub's text");
    return stub;
}

std::string stubName(const chipdb::ChipDescription &chip, uint32_t revision) {
    if (chip.older_stub_name && revision < chip.older_stub_below_revision)
        return chip.older_stub_name;
    return std::string(chip.name);
}

namespace {

llvm::Expected<std::optional<StubImage>> loadStubFile(const std::string &path) {
    auto contents = llvm::MemoryBuffer::getFile(path);
    if (!contents) return stubError(path, contents.getError().message());
    auto stub = parseStubJson((*contents)->getBuffer().str(), path);
    if (!stub) return stub.takeError();
    return std::optional<StubImage>(std::move(*stub));
}

// The python3.X directories below `parent` (site-packages and dist-packages roots).
std::vector<std::string> pythonLibraries(const std::string &parent, const std::string &leaf) {
    std::vector<std::string> found;
    std::error_code error;
    for (llvm::sys::fs::directory_iterator it(parent, error), end; it != end && !error;
         it.increment(error))
        if (llvm::StringRef(llvm::sys::path::filename(it->path())).startswith("python3"))
            found.push_back(it->path() + "/" + leaf);
    std::sort(found.begin(), found.end());
    return found;
}

} // namespace

std::vector<std::string> espressifStubFiles(const std::string &name) {
    auto env = [](const char *variable) -> std::string {
        const char *value = std::getenv(variable);
        return value && *value ? value : "";
    };
    std::vector<std::string> packages; // esptool's Python package, wherever pip or apt put it
    if (auto venv = env("VIRTUAL_ENV"); !venv.empty())
        for (auto &dir : pythonLibraries(venv + "/lib", "site-packages")) packages.push_back(dir);
    if (auto home = env("HOME"); !home.empty())
        for (auto &dir : pythonLibraries(home + "/.local/lib", "site-packages"))
            packages.push_back(dir);
    for (const char *root : {"/usr/local/lib", "/usr/lib"})
        for (const char *leaf : {"dist-packages", "site-packages"})
            for (auto &dir : pythonLibraries(root, leaf)) packages.push_back(dir);
    packages.push_back("/usr/lib/python3/dist-packages");
    std::vector<std::string> roots;
    if (auto dir = env("ESPTOOL_STUB_DIR"); !dir.empty()) roots.push_back(dir);
    for (const auto &package : packages) roots.push_back(package + "/esptool/targets/stub_flasher");
    if (auto idf = env("IDF_PATH"); !idf.empty())
        roots.push_back(idf + "/components/esptool_py/esptool/esptool/targets/stub_flasher");
    // esptool v4.8 and later keep format-1 stubs (the protocol ours speaks) in 1/<chip>.json,
    // earlier releases in stub_flasher_<chip without "esp">.json.
    const std::string short_name = llvm::StringRef(name).startswith("esp") ? name.substr(3) : name;
    std::vector<std::string> files;
    for (const auto &root : roots)
        for (const std::string &file : {root + "/" + name + ".json", root + "/1/" + name + ".json",
                                        root + "/stub_flasher_" + short_name + ".json"})
            files.push_back(file);
    return files;
}

llvm::Expected<std::optional<StubImage>> findStub(const std::string &name,
                                                  const std::string &stub_dir) {
    if (!stub_dir.empty()) {
        std::string path = stub_dir + "/" + name + ".json";
        if (!llvm::sys::fs::exists(path)) return std::nullopt;
        return loadStubFile(path);
    }
    for (const EmbeddedStub *embedded = kEmbeddedStubs; embedded->name; ++embedded)
        if (name == embedded->name) {
            auto stub = parseStubJson(embedded->json, "embedded stub " + name);
            if (!stub) return stub.takeError();
            stub->numbers_data_answers = true;
            stub->sector_digests = true;
            return std::optional<StubImage>(std::move(*stub));
        }
    for (const auto &path : espressifStubFiles(name))
        if (llvm::sys::fs::is_regular_file(path)) return loadStubFile(path);
    return std::nullopt;
}

} // namespace esptools::loader
