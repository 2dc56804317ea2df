// esp-stubpack: turns a linked stub ELF into esptool's stub JSON (entry, text, text_start, data,
// data_start, bss_start; text and data in base64). The linker has already checked that each part
// fits the window the chip's memory script gives it.
//   esp-stubpack STUB.elf OUTPUT.json
// llvm/Object/ELF.h rather than ELFObjectFile.h: the latter pulls in Support/JSON.h, which clang 14
// cannot compile in C++20 mode against libstdc++ 12.
#include <llvm/Object/ELF.h>
#include <llvm/Support/Base64.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/raw_ostream.h>

#include <cstdio>
#include <fstream>
#include <optional>

namespace {

int fail(const std::string &message) {
    llvm::errs() << "esp-stubpack: error: " << message << "\n";
    return 2;
}

struct Part {
    uint64_t address = 0;
    std::string bytes;
};

} // namespace

int main(int argc, char **argv) {
    if (argc != 3) return fail("usage: esp-stubpack STUB.elf OUTPUT.json");
    auto buffer = llvm::MemoryBuffer::getFile(argv[1]);
    if (!buffer) return fail(std::string(argv[1]) + ": " + buffer.getError().message());
    auto elf = llvm::object::ELF32LEFile::create((*buffer)->getBuffer());
    if (!elf) return fail(std::string(argv[1]) + ": " + llvm::toString(elf.takeError()));
    if (elf->getHeader().e_ident[llvm::ELF::EI_CLASS] != llvm::ELF::ELFCLASS32)
        return fail(std::string(argv[1]) + ": not a 32-bit little-endian ELF file");
    auto sections = elf->sections();
    if (!sections) return fail(std::string(argv[1]) + ": " + llvm::toString(sections.takeError()));

    std::optional<Part> text, data;
    std::optional<uint64_t> bss_start;
    for (const auto &section : *sections) {
        auto name = elf->getSectionName(section);
        if (!name) return fail(llvm::toString(name.takeError()));
        if (*name != ".text" && *name != ".data" && *name != ".bss") continue;
        if (*name == ".bss") {
            bss_start = section.sh_addr;
            continue;
        }
        auto contents = elf->getSectionContents(section);
        if (!contents) return fail(llvm::toString(contents.takeError()));
        Part part{section.sh_addr, std::string(contents->begin(), contents->end())};
        // esptool uploads text in whole words.
        while (*name == ".text" && part.bytes.size() % 4) part.bytes.push_back('\0');
        (*name == ".text" ? text : data) = part;
    }
    if (!text) return fail(std::string(argv[1]) + ": no .text section");
    const uint64_t entry = elf->getHeader().e_entry;
    if (entry < text->address || entry >= text->address + text->bytes.size())
        return fail(std::string(argv[1]) + ": the entry point is not in .text");

    std::string json;
    llvm::raw_string_ostream out(json);
    out << "{\n    \"entry\": " << entry << ",\n    \"text\": \"" << llvm::encodeBase64(text->bytes)
        << "\",\n    \"text_start\": " << text->address;
    if (data)
        out << ",\n    \"data\": \"" << llvm::encodeBase64(data->bytes)
            << "\",\n    \"data_start\": " << data->address;
    if (bss_start) out << ",\n    \"bss_start\": " << *bss_start;
    out << "\n}\n";
    out.flush();

    std::string temporary = std::string(argv[2]) + ".tmp";
    {
        std::ofstream file(temporary, std::ios::binary);
        file << json;
        if (!file) return fail(std::string(argv[2]) + ": cannot write");
    }
    if (std::rename(temporary.c_str(), argv[2]) != 0)
        return fail(std::string(argv[2]) + ": cannot write");
    return 0;
}
