// Each manifest row is one test: the command esptool ran, run again with esp-imagegen. Two corpora:
// the project's own (tests/data, always) and esptool's golden corpus (../shared/corpus, where it
// exists; a skipped test says so where it does not).
#include "esptools/cli/cli.h"

#include <gtest/gtest.h>
#include <llvm/ADT/StringExtras.h>
#include <llvm/Support/FileSystem.h>
#include <llvm/Support/Path.h>
#include <llvm/Support/Program.h>
#include <llvm/Support/SHA256.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace {

struct CorpusCase {
    std::string corpus_dir; // holds inputs/, out/ and manifest.tsv
    std::string name;
    std::vector<std::string> argv; // after "esptool"
    int exit_code = 0;
    std::vector<std::pair<std::string, std::string>> outputs; // file name, sha256 hex
};

void PrintTo(const CorpusCase &c, std::ostream *out) {
    *out << c.name << " from " << c.corpus_dir;
}

bool corpusPresent(const std::string &dir) {
    return llvm::sys::fs::exists(dir + "/manifest.tsv");
}

std::vector<CorpusCase> loadManifest(const std::string &dir) {
    std::vector<CorpusCase> cases;
    std::ifstream manifest(dir + "/manifest.tsv");
    std::string line;
    std::getline(manifest, line); // column names
    while (std::getline(manifest, line)) {
        llvm::SmallVector<llvm::StringRef, 4> columns;
        llvm::StringRef(line).split(columns, '\t');
        if (columns.size() < 3) continue;
        CorpusCase c;
        c.corpus_dir = dir;
        c.name = columns[0].str();
        llvm::SmallVector<llvm::StringRef, 32> words;
        columns[1].split(words, ' ', -1, false);
        for (size_t i = 1; i < words.size(); ++i) c.argv.push_back(words[i].str());
        columns[2].getAsInteger(10, c.exit_code);
        if (columns.size() > 3 && !columns[3].empty()) {
            llvm::SmallVector<llvm::StringRef, 4> outputs;
            columns[3].split(outputs, ';');
            for (auto output : outputs) {
                auto [file, hash] = output.split('=');
                c.outputs.emplace_back(file.str(), hash.str());
            }
        }
        cases.push_back(std::move(c));
    }
    return cases;
}

std::string sha256Hex(llvm::ArrayRef<uint8_t> data) {
    auto digest = llvm::SHA256::hash(data);
    return llvm::toHex(digest, /*LowerCase=*/true);
}

std::string readText(const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

class Corpus : public testing::TestWithParam<CorpusCase> {};

TEST_P(Corpus, MatchesEsptool) {
    const CorpusCase &c = GetParam();
    // A scratch folder that looks like the corpus folder: inputs/ linked, out/<case>/ empty.
    llvm::SmallString<128> scratch;
    ASSERT_FALSE(llvm::sys::fs::createUniqueDirectory("esptools-corpus", scratch));
    ASSERT_FALSE(llvm::sys::fs::create_link(c.corpus_dir + "/inputs", scratch + "/inputs"));
    std::string case_out = (scratch + "/out/" + c.name).str();
    ASSERT_FALSE(llvm::sys::fs::create_directories(case_out));
    std::string stdout_path = (scratch + "/stdout.txt").str();
    std::string stderr_path = (scratch + "/stderr.txt").str();

    // The manifest's relative paths are resolved against the scratch folder.
    std::vector<std::string> argv_storage{ESPTOOLS_IMAGEGEN};
    for (const auto &word : c.argv) {
        bool relative =
            llvm::StringRef(word).startswith("inputs/") || llvm::StringRef(word).startswith("out/");
        argv_storage.push_back(relative ? (scratch + "/" + word).str() : word);
    }
    std::vector<llvm::StringRef> argv(argv_storage.begin(), argv_storage.end());
    llvm::Optional<llvm::StringRef> redirects[] = {llvm::None, llvm::StringRef(stdout_path),
                                                   llvm::StringRef(stderr_path)};
    // ExecuteAndWait opens redirect files without truncating them.
    llvm::sys::fs::remove(stdout_path);
    llvm::sys::fs::remove(stderr_path);
    std::string error_message;
    int exit_code = llvm::sys::ExecuteAndWait(ESPTOOLS_IMAGEGEN, argv, llvm::None, redirects,
                                              /*SecondsToWait=*/60, 0, &error_message);
    std::string stderr_text = readText(stderr_path);
    EXPECT_EQ(exit_code, c.exit_code) << "stderr: " << stderr_text << error_message;

    std::string expected_dir = c.corpus_dir + "/out/" + c.name;
    for (const auto &[file, hash] : c.outputs) {
        if (file == "stdout.txt") {
            std::string expected = readText(expected_dir + "/stdout.txt");
            expected = expected.substr(expected.find('\n') + 1); // esptool's version banner
            EXPECT_EQ(readText(stdout_path), expected);
            continue;
        }
        auto produced = esptools::cli::readFile(case_out + "/" + file);
        ASSERT_TRUE(bool(produced))
            << llvm::toString(produced.takeError()) << "\nstderr: " << stderr_text;
        EXPECT_EQ(sha256Hex(*produced), hash) << file << " differs from esptool's output";
    }
    if (c.exit_code != 0) {
        // A failed command leaves no output file behind, and says why on stderr.
        std::error_code ec;
        llvm::sys::fs::directory_iterator it(case_out, ec), end;
        EXPECT_TRUE(it == end) << "output left behind after a failure: " << it->path();
        EXPECT_FALSE(stderr_text.empty());
    }
    llvm::sys::fs::remove_directories(scratch);
}

std::string caseName(const testing::TestParamInfo<CorpusCase> &info) {
    std::string name;
    for (char ch : info.param.name) name += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
    return name;
}

GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(Corpus);
INSTANTIATE_TEST_SUITE_P(Project, Corpus, testing::ValuesIn(loadManifest(ESPTOOLS_TEST_DATA_DIR)),
                         caseName);
INSTANTIATE_TEST_SUITE_P(Esptool, Corpus, testing::ValuesIn(loadManifest(ESPTOOLS_CORPUS_DIR)),
                         caseName);

TEST(CorpusPresence, EsptoolsGoldenCorpusIsCompared) {
    if (!corpusPresent(ESPTOOLS_CORPUS_DIR))
        GTEST_SKIP() << "esptool's golden corpus is not at " << ESPTOOLS_CORPUS_DIR
                     << ": its comparisons are skipped (the project's own corpus still runs)";
    EXPECT_GT(loadManifest(ESPTOOLS_CORPUS_DIR).size(), 10u);
}

TEST(CorpusPresence, ProjectCorpusHasItsRows) {
    EXPECT_GT(loadManifest(ESPTOOLS_TEST_DATA_DIR).size(), 10u) << ESPTOOLS_TEST_DATA_DIR;
}

} // namespace

namespace {

int runImagegen(std::vector<std::string> args, const std::string &stderr_path) {
    args.insert(args.begin(), ESPTOOLS_IMAGEGEN);
    std::vector<llvm::StringRef> argv(args.begin(), args.end());
    llvm::Optional<llvm::StringRef> redirects[] = {llvm::None, llvm::StringRef("/dev/null"),
                                                   llvm::StringRef(stderr_path)};
    llvm::sys::fs::remove(stderr_path); // not truncated by ExecuteAndWait
    return llvm::sys::ExecuteAndWait(ESPTOOLS_IMAGEGEN, argv, llvm::None, redirects, 60);
}

// esptool v4 spelled commands and options with '_'; v5 with '-'. Both give the bytes esptool gave
// for the project corpus's row "esp32-flashparams" (-fm dout -ff 80m -fs 2MB).
TEST(CorpusSpellings, V4SpellingsGiveEsptoolsBytes) {
    auto rows = loadManifest(ESPTOOLS_TEST_DATA_DIR);
    auto row = std::find_if(rows.begin(), rows.end(),
                            [](const CorpusCase &c) { return c.name == "esp32-flashparams"; });
    ASSERT_NE(row, rows.end());
    ASSERT_EQ(row->outputs.size(), 1u);
    const std::string expected = row->outputs[0].second;
    llvm::SmallString<128> scratch;
    ASSERT_FALSE(llvm::sys::fs::createUniqueDirectory("esptools-spelling", scratch));
    std::string out = (scratch + "/img.bin").str();
    std::string err = (scratch + "/err.txt").str();
    std::string input = std::string(ESPTOOLS_TEST_DATA_DIR) + "/inputs/esp32_app.elf";
    const std::vector<std::vector<std::string>> spellings = {
        {"--chip", "ESP32", "elf2image", "--flash_mode", "dout", "--flash_freq=80m", "--flash_size",
         "2MB", "-o", out, input},
        {"--chip", "esp32", "elf2image", "--flash-mode=dout", "--flash-freq", "80m", "--flash-size",
         "2MB", "-o", out, input},
        {"-c", "esp32", "elf2image", "-fm", "dout", "-ff", "80m", "-fs", "2MB", "--output", out,
         input}};
    for (const auto &args : spellings) {
        llvm::sys::fs::remove(out);
        ASSERT_EQ(runImagegen(args, err), 0) << readText(err);
        auto produced = esptools::cli::readFile(out);
        ASSERT_TRUE(bool(produced));
        EXPECT_EQ(sha256Hex(*produced), expected) << llvm::join(args, " ");
    }
    llvm::sys::fs::remove_directories(scratch);
}

TEST(CorpusErrors, UnwritableOutputIsAnErrorNamingThePath) {
    llvm::SmallString<128> scratch;
    ASSERT_FALSE(llvm::sys::fs::createUniqueDirectory("esptools-unwritable", scratch));
    std::string err = (scratch + "/err.txt").str();
    std::string out = (scratch + "/missing-dir/img.bin").str();
    std::string input = std::string(ESPTOOLS_TEST_DATA_DIR) + "/inputs/esp32c6_app.elf";
    EXPECT_EQ(runImagegen({"--chip", "esp32c6", "elf2image", "-o", out, input}, err), 2);
    EXPECT_NE(readText(err).find(out), std::string::npos) << readText(err);
    EXPECT_EQ(runImagegen({"--chip", "esp32c6", "elf2image", "--bogus-option", input}, err), 2);
    EXPECT_NE(readText(err).find("bogus-option"), std::string::npos) << readText(err);
    EXPECT_EQ(runImagegen({"--chip", "esp99", "elf2image", input}, err), 2);
    EXPECT_NE(readText(err).find("esp99"), std::string::npos) << readText(err);
    llvm::sys::fs::remove_directories(scratch);
}

} // namespace

// ctest runs one test per process, by name, from the list found at build time. A row removed from
// a manifest after that would match no test and pass: a filter that selects nothing fails here.
int main(int argc, char **argv) {
    testing::InitGoogleTest(&argc, argv);
    int result = RUN_ALL_TESTS();
    if (result == 0 && testing::UnitTest::GetInstance()->test_to_run_count() == 0 &&
        !testing::GTEST_FLAG(list_tests)) {
        std::fprintf(stderr, "no test matches the filter '%s' (a corpus row was removed?)\n",
                     testing::GTEST_FLAG(filter).c_str());
        return 1;
    }
    return result;
}
