// The end-to-end fixture: esp-loader processes against the in-process virtual chip, one process
// per command as a user runs it.
#pragma once
#include "esptools/chipdb/chip.h"
#include "esptools/cli/cli.h"

#include <gtest/gtest.h>
#include <llvm/Support/FileSystem.h>
#include <llvm/Support/Path.h>
#include <llvm/Support/Program.h>

#include <algorithm>
#include <fstream>
#include <random>
#include <sstream>
#include <unistd.h>

namespace loader_e2e {

struct LoaderRun {
    int exit_code;
    std::string out;
    std::string err;
};

inline std::string readText(const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

// A chip, driven through its ROM loader (--no-stub) or through our flasher stub.
struct Target {
    const char *chip;
    bool stub;
};

inline void PrintTo(const Target &target, std::ostream *out) {
    *out << target.chip << (target.stub ? " through the stub" : " through the ROM");
}

class LoaderE2E : public testing::TestWithParam<Target> {
protected:
    std::string chip() const { return GetParam().chip; }
    bool viaStub() const { return GetParam().stub; }

    void SetUp() override {
        ASSERT_FALSE(llvm::sys::fs::createUniqueDirectory("esptools-loader", dir_));
        flash_ = (dir_ + "/flash.bin").str();
    }
    void TearDown() override { llvm::sys::fs::remove_directories(dir_); }

    std::string port(const std::string &extra = "") const {
        // Where the chip's own stub needs newer silicon (ESP32-P4: v3.00) than the virtual chip's
        // default, the chip gets that revision.
        const auto *description = esptools::chipdb::findChip(chip());
        std::string revision =
            viaStub() && description && description->older_stub_name
                ? "&rev=" + std::to_string(description->older_stub_below_revision)
                : "";
        return "vchip:" + chip() + "?flash=" + flash_ + revision + extra;
    }
    std::string path(const char *name) const { return (dir_ + "/" + name).str(); }

    LoaderRun loader(std::vector<std::string> args, const std::string &port_spec = "") {
        args.insert(args.begin(),
                    {ESPTOOLS_LOADER, "--port", port_spec.empty() ? port() : port_spec});
        if (!viaStub()) args.insert(args.begin() + 3, "--no-stub");
        std::vector<llvm::StringRef> argv(args.begin(), args.end());
        std::string out = path("stdout.txt"), err = path("stderr.txt");
        // ExecuteAndWait opens redirect files without truncating them: a shorter output would
        // keep the tail of the previous run's.
        llvm::sys::fs::remove(out);
        llvm::sys::fs::remove(err);
        llvm::Optional<llvm::StringRef> redirects[] = {llvm::None, llvm::StringRef(out),
                                                       llvm::StringRef(err)};
        int code = llvm::sys::ExecuteAndWait(ESPTOOLS_LOADER, argv, llvm::None, redirects, 120);
        return {code, readText(out), readText(err)};
    }

    // esp-loader with exactly these arguments (no --port added), in this process's environment
    // less the variables whose names start with `replaced_prefix`, plus `variables`
    // ("NAME=value"); stdout and stderr together.
    LoaderRun loaderWithEnvironment(std::vector<std::string> args,
                                    const std::string &replaced_prefix,
                                    const std::vector<std::string> &variables) {
        std::vector<std::string> environment;
        for (char **entry = environ; *entry; ++entry)
            if (replaced_prefix.empty() || !llvm::StringRef(*entry).startswith(replaced_prefix))
                environment.emplace_back(*entry);
        environment.insert(environment.end(), variables.begin(), variables.end());
        std::vector<llvm::StringRef> env(environment.begin(), environment.end());
        args.insert(args.begin(), ESPTOOLS_LOADER);
        std::vector<llvm::StringRef> argv(args.begin(), args.end());
        std::string out = path("stdout.txt");
        llvm::sys::fs::remove(out);
        llvm::Optional<llvm::StringRef> redirects[] = {llvm::None, llvm::StringRef(out),
                                                       llvm::StringRef(out)};
        int code = llvm::sys::ExecuteAndWait(ESPTOOLS_LOADER, argv,
                                             llvm::ArrayRef<llvm::StringRef>(env), redirects, 60);
        return {code, readText(out), ""};
    }

    std::vector<uint8_t> randomFile(const char *name, size_t size, uint64_t seed) {
        std::mt19937_64 random(seed);
        std::vector<uint8_t> bytes(size);
        for (auto &byte : bytes) byte = uint8_t(random());
        EXPECT_FALSE(bool(esptools::cli::writeFileAtomically(path(name), bytes)));
        return bytes;
    }

    llvm::SmallString<128> dir_;
    std::string flash_;
};

} // namespace loader_e2e
