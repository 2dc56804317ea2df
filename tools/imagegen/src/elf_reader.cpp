#include "esptools/imagegen/elf_reader.h"

#include <llvm/BinaryFormat/ELF.h>
#include <llvm/Object/ELF.h>

#include <cstring>

namespace esptools::imagegen {
namespace {

using Elf = llvm::object::ELF32LEFile;

llvm::Error fault(llvm::StringRef file_name, const llvm::Twine &what) {
    return llvm::createStringError(llvm::inconvertibleErrorCode(), (file_name + ": " + what).str());
}

llvm::Error fault(llvm::StringRef file_name, llvm::Error cause) {
    return fault(file_name, llvm::toString(std::move(cause)));
}

std::string hex(uint64_t value) {
    return "0x" + llvm::utohexstr(value, /*LowerCase=*/true);
}

bool isProgramSection(uint32_t type) {
    return type == llvm::ELF::SHT_PROGBITS || type == llvm::ELF::SHT_INIT_ARRAY ||
           type == llvm::ELF::SHT_FINI_ARRAY || type == llvm::ELF::SHT_PREINIT_ARRAY;
}

} // namespace

llvm::Expected<ElfInput> readElf(std::span<const uint8_t> bytes, llvm::StringRef file_name) {
    if (bytes.size() < 4 || std::memcmp(bytes.data(),
                                        "\x7f"
                                        "ELF",
                                        4) != 0)
        return fault(file_name, "not an ELF file (no \\x7fELF magic at offset 0)");
    if (bytes.size() < sizeof(llvm::ELF::Elf32_Ehdr))
        return fault(file_name, "truncated ELF header (" + llvm::Twine(bytes.size()) +
                                    " bytes, need " + llvm::Twine(sizeof(llvm::ELF::Elf32_Ehdr)) +
                                    ")");
    if (bytes[llvm::ELF::EI_CLASS] != llvm::ELF::ELFCLASS32)
        return fault(file_name, "not a 32-bit ELF file (EI_CLASS at offset 0x4 is " +
                                    llvm::Twine(int(bytes[llvm::ELF::EI_CLASS])) + ")");
    if (bytes[llvm::ELF::EI_DATA] != llvm::ELF::ELFDATA2LSB)
        return fault(file_name, "not a little-endian ELF file (EI_DATA at offset 0x5)");

    llvm::StringRef buffer(reinterpret_cast<const char *>(bytes.data()), bytes.size());
    auto elf_or_error = Elf::create(buffer);
    if (!elf_or_error) return fault(file_name, elf_or_error.takeError());
    const Elf &elf = *elf_or_error;
    const auto &header = elf.getHeader();

    ElfInput input;
    input.entry = header.e_entry;
    input.machine = header.e_machine;
    if (input.machine != kElfMachineXtensa && input.machine != kElfMachineRiscV)
        return fault(file_name,
                     "not an Xtensa or RISC-V ELF file (e_machine = " + hex(input.machine) + ")");
    if (header.e_shentsize != sizeof(llvm::ELF::Elf32_Shdr))
        return fault(file_name, "unexpected section header entry size " + hex(header.e_shentsize) +
                                    " (not 0x28)");
    if (header.e_shnum == 0) return fault(file_name, "the ELF file has no section headers");

    auto sections = elf.sections();
    if (!sections) return fault(file_name, sections.takeError());
    if (header.e_shstrndx >= sections->size())
        return fault(file_name,
                     "no section name table at e_shstrndx " + llvm::Twine(header.e_shstrndx));
    const auto &string_section = (*sections)[header.e_shstrndx];
    if (string_section.sh_type != llvm::ELF::SHT_STRTAB)
        input.warnings.push_back(
            ("ELF file has incorrect STRTAB section type " + hex(string_section.sh_type)).c_str());
    auto string_table = elf.getSectionContents(string_section);
    if (!string_table) return fault(file_name, string_table.takeError());
    auto section_name = [&](uint32_t offset) -> llvm::Expected<std::string> {
        if (offset >= string_table->size())
            return fault(file_name, "section name offset " + hex(offset) +
                                        " is outside the section name table");
        const uint8_t *start = string_table->data() + offset;
        const void *end = std::memchr(start, 0, string_table->size() - offset);
        if (!end) return fault(file_name, "unterminated section name at " + hex(offset));
        return std::string(reinterpret_cast<const char *>(start),
                           static_cast<const uint8_t *>(end) - start);
    };

    for (const auto &section : *sections) {
        if (section.sh_addr == 0 || section.sh_size == 0) continue;
        uint32_t type = section.sh_type;
        if (type == llvm::ELF::SHT_NOBITS || type == llvm::ELF::SHT_STRTAB) continue;
        if (!isProgramSection(type)) {
            input.warnings.push_back("Unknown section type " + hex(type) + " in ELF file");
            continue;
        }
        auto name = section_name(section.sh_name);
        if (!name) return name.takeError();
        auto contents = elf.getSectionContents(section);
        if (!contents)
            return fault(file_name,
                         "section '" + *name + "': " + llvm::toString(contents.takeError()));
        input.sections.push_back(
            ElfChunk{*name, static_cast<uint32_t>(section.sh_addr),
                     std::span<const uint8_t>(contents->data(), contents->size()),
                     static_cast<uint32_t>(section.sh_addralign)});
    }

    if (header.e_phnum != 0) {
        auto program_headers = elf.program_headers();
        if (!program_headers) return fault(file_name, program_headers.takeError());
        for (const auto &phdr : *program_headers) {
            if (phdr.p_type != llvm::ELF::PT_LOAD || phdr.p_paddr == 0 || phdr.p_filesz == 0)
                continue;
            uint64_t end = uint64_t(phdr.p_offset) + phdr.p_filesz;
            if (end > bytes.size())
                return fault(file_name, "program header at " + hex(phdr.p_paddr) +
                                            " claims file bytes up to " + hex(end) +
                                            " but the file has " + hex(bytes.size()) +
                                            " (truncated ELF?)");
            input.segments.push_back(ElfChunk{"PHDR", static_cast<uint32_t>(phdr.p_paddr),
                                              bytes.subspan(phdr.p_offset, phdr.p_filesz),
                                              static_cast<uint32_t>(phdr.p_align)});
        }
    }

    input.file = bytes;
    return input;
}

llvm::Error checkElfMachine(const ElfInput &elf, const chipdb::ChipDescription &chip,
                            llvm::StringRef file_name) {
    uint16_t wanted = 0;
    switch (chip.cpu) {
    case chipdb::Cpu::Xtensa:
        wanted = kElfMachineXtensa;
        break;
    case chipdb::Cpu::RiscV:
        wanted = kElfMachineRiscV;
        break;
    case chipdb::Cpu::Unknown:
        return llvm::Error::success();
    }
    if (elf.machine == wanted) return llvm::Error::success();
    auto arch = [](uint16_t machine) { return machine == kElfMachineXtensa ? "Xtensa" : "RISC-V"; };
    return fault(file_name, llvm::Twine("is an ") + arch(elf.machine) + " ELF file, but " +
                                chip.display_name + " has a " + arch(wanted) + " CPU");
}

} // namespace esptools::imagegen
