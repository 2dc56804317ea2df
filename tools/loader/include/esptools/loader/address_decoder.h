// Code addresses named from ELF files: function and file:line from their symbols and DWARF
// (LLVM's Symbolize).
//
// This header and its source are C++17 (CMake compiles address_decoder.cpp so): LLVM 14's JSON.h,
// which Symbolize.h includes, does not compile as C++20 with clang 14 and libstdc++ 12.
#pragma once

#include <llvm/Support/Error.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace esptools::loader {

// Names code addresses from ELF files' symbols and DWARF line tables (LLVM's Symbolize).
class AddressDecoder {
public:
    static llvm::Expected<AddressDecoder> open(const std::vector<std::string> &elf_files);
    // One more ELF file, searched after those before it.
    llvm::Error add(const std::string &elf_file);
    AddressDecoder(AddressDecoder &&) noexcept;
    AddressDecoder &operator=(AddressDecoder &&) noexcept;
    ~AddressDecoder();
    // "app_main at /src/hello.c:12", or nothing when no ELF holds code there.
    std::optional<std::string> describe(uint64_t address);
    // Each code address in a line of a panic dump ("0x4200a1b2: app_main at hello.c:12").
    std::vector<std::string> describeLine(const std::string &line);

private:
    AddressDecoder();
    struct State;
    std::unique_ptr<State> state_;
};

} // namespace esptools::loader
