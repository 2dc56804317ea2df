// Output files: a regular file is replaced whole or not at all; anything else is written as
// esptool's open(path, "wb") writes it (through symlinks, into FIFOs and devices in place).
#include "esptools/cli/cli.h"

#include <gtest/gtest.h>
#include <llvm/Support/FileSystem.h>

#include <fstream>
#include <sstream>
#include <thread>

#include <sys/stat.h>
#include <unistd.h>

using namespace esptools;

namespace {

class OutputFile : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_FALSE(llvm::sys::fs::createUniqueDirectory("esptools-output", dir_));
    }
    void TearDown() override { llvm::sys::fs::remove_directories(dir_); }
    std::string path(const char *name) const { return (dir_ + "/" + name).str(); }
    static std::string read(const std::string &file) {
        std::ifstream in(file, std::ios::binary);
        std::stringstream text;
        text << in.rdbuf();
        return text.str();
    }
    static std::vector<uint8_t> bytes(const std::string &text) {
        return std::vector<uint8_t>(text.begin(), text.end());
    }
    llvm::SmallString<128> dir_;
};

TEST_F(OutputFile, WritesThroughASymlinkAndKeepsTheLink) {
    std::string file = path("image.bin"), link = path("latest.bin");
    ASSERT_FALSE(bool(cli::writeFileAtomically(file, bytes("old"))));
    ASSERT_EQ(symlink("image.bin", link.c_str()), 0);
    ASSERT_FALSE(bool(cli::writeFileAtomically(link, bytes("new contents"))));
    struct stat info;
    ASSERT_EQ(lstat(link.c_str(), &info), 0);
    EXPECT_TRUE(S_ISLNK(info.st_mode)) << "the symlink was replaced by a file";
    EXPECT_EQ(read(file), "new contents");
}

TEST_F(OutputFile, ADanglingSymlinkCreatesItsTarget) {
    std::string link = path("out.bin");
    ASSERT_EQ(symlink("made.bin", link.c_str()), 0);
    ASSERT_FALSE(bool(cli::writeFileAtomically(link, bytes("abc"))));
    EXPECT_EQ(read(path("made.bin")), "abc");
    struct stat info;
    ASSERT_EQ(lstat(link.c_str(), &info), 0);
    EXPECT_TRUE(S_ISLNK(info.st_mode));
}

TEST_F(OutputFile, AFifosReaderGetsTheBytes) {
    std::string fifo = path("pipe");
    ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
    std::string received;
    std::thread reader([&] { received = read(fifo); });
    llvm::Error written = cli::writeFileAtomically(fifo, bytes("through the pipe"));
    reader.join();
    EXPECT_FALSE(bool(written)) << llvm::toString(std::move(written));
    EXPECT_EQ(received, "through the pipe");
    struct stat info;
    ASSERT_EQ(lstat(fifo.c_str(), &info), 0);
    EXPECT_TRUE(S_ISFIFO(info.st_mode)) << "the FIFO was replaced by a file";
}

TEST_F(OutputFile, KeepsTheReplacedFilesPermissionsAndLeavesNoTemporaryFile) {
    std::string file = path("run.sh");
    ASSERT_FALSE(bool(cli::writeFileAtomically(file, bytes("one"))));
    ASSERT_EQ(chmod(file.c_str(), 0750), 0);
    ASSERT_FALSE(bool(cli::writeFileAtomically(file, bytes("two"))));
    struct stat info;
    ASSERT_EQ(stat(file.c_str(), &info), 0);
    EXPECT_EQ(info.st_mode & 07777, 0750u);
    std::error_code ec;
    int entries = 0;
    for (llvm::sys::fs::directory_iterator it(dir_, ec), end; it != end && !ec; it.increment(ec))
        ++entries;
    EXPECT_EQ(entries, 1);
}

TEST_F(OutputFile, RefusesAnEmptyNameAndADirectoryNamingThem) {
    llvm::Error empty = cli::writeFileAtomically("", bytes("x"));
    ASSERT_TRUE(bool(empty));
    EXPECT_NE(llvm::toString(std::move(empty)).find("empty"), std::string::npos);
    llvm::Error directory = cli::writeFileAtomically(dir_.str().str(), bytes("x"));
    ASSERT_TRUE(bool(directory));
    EXPECT_NE(llvm::toString(std::move(directory)).find(dir_.str().str()), std::string::npos);
}

} // namespace
