#include "esptools/loader/address_decoder.h"

#include <llvm/DebugInfo/Symbolize/Symbolize.h>
#include <llvm/Object/ELFObjectFile.h>

#include <map>
#include <regex>

namespace esptools::loader {

struct AddressDecoder::State {
    struct CodeRange {
        uint64_t start, end;
        size_t file; // index into elf_files
    };
    llvm::symbolize::LLVMSymbolizer symbolizer;
    std::vector<std::string> elf_files;
    // Only addresses in an ELF's executable sections are named: a register or stack word that
    // holds a data pointer or a small number is not code, whatever symbol lies below it.
    std::vector<CodeRange> code;
    // Each file's code labels by address, assembler-local ones (".L...") left out: assembly code
    // has line tables but no DWARF functions, and the symbol LLVM finds below an address there
    // may be a local label (RISC-V keeps ".Lpcrel_hi" ones for relaxation).
    std::vector<std::map<uint64_t, std::string>> labels;

    // The label at or below the address, in the same file and code range.
    std::string labelBelow(const CodeRange &range, uint64_t address) const {
        const auto &file_labels = labels[range.file];
        auto above = file_labels.upper_bound(address);
        if (above == file_labels.begin()) return {};
        --above;
        return above->first >= range.start ? above->second : std::string();
    }
};

AddressDecoder::AddressDecoder() : state_(std::make_unique<State>()) {}
AddressDecoder::AddressDecoder(AddressDecoder &&) noexcept = default;
AddressDecoder &AddressDecoder::operator=(AddressDecoder &&) noexcept = default;
AddressDecoder::~AddressDecoder() = default;

llvm::Expected<AddressDecoder> AddressDecoder::open(const std::vector<std::string> &elf_files) {
    AddressDecoder decoder;
    for (const std::string &file : elf_files)
        if (auto failure = decoder.add(file)) return failure;
    return decoder;
}

llvm::Error AddressDecoder::add(const std::string &file) {
    // Read here, so that a wrong path is an error before the port is touched.
    auto binary = llvm::object::createBinary(file);
    if (!binary)
        return llvm::createStringError(llvm::inconvertibleErrorCode(), "%s: %s", file.c_str(),
                                       llvm::toString(binary.takeError()).c_str());
    auto *object = llvm::dyn_cast<llvm::object::ELFObjectFileBase>(binary->getBinary());
    if (!object)
        return llvm::createStringError(llvm::inconvertibleErrorCode(), "%s: not an ELF file",
                                       file.c_str());
    const size_t index = state_->elf_files.size();
    for (const llvm::object::SectionRef &section : object->sections())
        if (section.isText() && section.getSize() != 0)
            state_->code.push_back(
                {section.getAddress(), section.getAddress() + section.getSize(), index});
    auto &labels = state_->labels.emplace_back();
    for (const llvm::object::SymbolRef &symbol : object->symbols()) {
        auto name = symbol.getName();
        auto address = symbol.getAddress();
        auto type = symbol.getType();
        auto section = symbol.getSection();
        if (!name || !address || !type || !section) {
            llvm::consumeError(name.takeError());
            llvm::consumeError(address.takeError());
            llvm::consumeError(type.takeError());
            llvm::consumeError(section.takeError());
            continue;
        }
        const bool code_label = *type == llvm::object::SymbolRef::ST_Function ||
                                *type == llvm::object::SymbolRef::ST_Unknown;
        if (code_label && *section != object->section_end() && (*section)->isText() &&
            !name->empty() && !name->startswith(".L"))
            labels.emplace(*address, name->str());
    }
    state_->elf_files.push_back(file);
    return llvm::Error::success();
}

std::optional<std::string> AddressDecoder::describe(uint64_t address) {
    for (const State::CodeRange &range : state_->code) {
        if (address < range.start || address >= range.end) continue;
        // Inlined calls are frames of their own, innermost first, as addr2line -i shows them.
        auto frames = state_->symbolizer.symbolizeInlinedCode(
            state_->elf_files[range.file], {address, llvm::object::SectionedAddress::UndefSection});
        if (!frames) {
            llvm::consumeError(frames.takeError());
            continue;
        }
        std::string text;
        for (uint32_t index = 0; index < frames->getNumberOfFrames(); ++index) {
            const llvm::DILineInfo &frame = frames->getFrame(index);
            // An assembler's local label (".Lpcrel_hi2") names no function.
            std::string function = frame.FunctionName;
            if (function == llvm::DILineInfo::BadString || function.rfind(".L", 0) == 0)
                function = state_->labelBelow(range, address);
            std::string where;
            if (frame.FileName != llvm::DILineInfo::BadString && frame.Line != 0)
                where = frame.FileName + ":" + std::to_string(frame.Line);
            if (function.empty() && where.empty()) continue;
            if (!text.empty()) text += " (inlined by) ";
            if (function.empty())
                text += "?? at " + where;
            else
                text += where.empty() ? function : function + " at " + where;
        }
        if (!text.empty()) return text;
    }
    return std::nullopt;
}

std::vector<std::string> AddressDecoder::describeLine(const std::string &line) {
    // 8 hex digits after 0x, as ESP-IDF's panic handler and backtraces print them (also in
    // "PC:SP" pairs); only those that land in an ELF's code are named.
    static const std::regex kAddress("0x([0-9a-fA-F]{8})\\b");
    // A RISC-V dump's RA and its stack words are return addresses: the call is the instruction
    // before, so its line is the one looked up (as addr2line users subtract 1). ("3fc8e6e0: 0x...")
    static const std::regex kStackRow("^[0-9a-fA-F]{8}:");
    const bool stack_row = std::regex_search(line, kStackRow);
    std::vector<std::string> notes;
    for (auto it = std::sregex_iterator(line.begin(), line.end(), kAddress);
         it != std::sregex_iterator(); ++it) {
        uint64_t address = std::stoull((*it)[1].str(), nullptr, 16);
        std::string before = line.substr(0, size_t(it->position()));
        while (!before.empty() && (before.back() == ' ' || before.back() == ':')) before.pop_back();
        const bool returns_here =
            stack_row || (before.size() >= 2 && before.compare(before.size() - 2, 2, "RA") == 0);
        auto described = describe(returns_here && address > 0 ? address - 1 : address);
        if (described) notes.push_back((*it)[0].str() + ": " + *described);
    }
    return notes;
}

} // namespace esptools::loader
