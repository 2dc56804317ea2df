// Tests for the stub's streaming zlib decompressor (stub/core/inflate.c), against zlib itself.

#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "inflate.h"

#ifndef ESPTOOLS_CORPUS_DIR
#define ESPTOOLS_CORPUS_DIR "../shared/corpus"
#endif

namespace {

using Bytes = std::vector<uint8_t>;
constexpr size_t kWindow = INFLATE_WINDOW_SIZE;
constexpr size_t kMiB = 1u << 20;

// ------------------------------------------------------------------------------------------------
// Data sets.

Bytes RandomBytes(size_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    Bytes b(n);
    for (auto &c : b) c = static_cast<uint8_t>(rng());
    return b;
}

Bytes TextLike(size_t n, uint32_t seed) {
    static const char *const words[] = {"flash",   "write",  "block", "sector", "esp32",     "stub",
                                        "deflate", "window", "the",   "of",     "and",       "a",
                                        "huffman", "0x4000", "reset", "boot",   "partition", "\n",
                                        "  ",      "uart",   "baud",  "chip"};
    std::mt19937 rng(seed);
    Bytes b;
    b.reserve(n + 16);
    while (b.size() < n) {
        const char *w = words[rng() % std::size(words)];
        b.insert(b.end(), w, w + std::strlen(w));
        b.push_back(rng() % 7 == 0 ? ',' : ' ');
    }
    b.resize(n);
    return b;
}

// Random runs interleaved with copies from up to 32 KB back: exercises long distances and wraps.
Bytes FarRepeats(size_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    Bytes b;
    b.reserve(n);
    while (b.size() < n) {
        if (b.size() > 40000 && rng() % 2) {
            size_t dist = 32768 - rng() % 600;
            size_t len = 3 + rng() % 300;
            for (size_t i = 0; i < len; i++) b.push_back(b[b.size() - dist]);
        } else {
            size_t len = 1 + rng() % 200;
            for (size_t i = 0; i < len; i++) b.push_back(static_cast<uint8_t>(rng() % 16));
        }
    }
    b.resize(n);
    return b;
}

// At most 4 MiB of a file (the size of esptool's largest corpus file; our built programs are
// bigger).
Bytes ReadFile(const std::filesystem::path &p) {
    std::ifstream f(p, std::ios::binary);
    Bytes bytes(4 * 1024 * 1024);
    f.read(reinterpret_cast<char *>(bytes.data()), std::streamsize(bytes.size()));
    bytes.resize(size_t(f.gcount()));
    return bytes;
}

std::vector<std::filesystem::path> CorpusFiles() {
    std::vector<std::filesystem::path> files;
    std::error_code ec;
    // esptool's corpus where it exists; else the project's test inputs and a built program of
    // ours (megabytes of real machine code).
    for (const char *dir : {ESPTOOLS_CORPUS_DIR "/inputs", ESPTOOLS_TEST_DATA_DIR "/inputs"}) {
        for (const auto &e : std::filesystem::directory_iterator(dir, ec)) {
            auto ext = e.path().extension().string();
            if (e.is_regular_file() && (ext == ".elf" || ext == ".bin")) files.push_back(e.path());
        }
        if (!files.empty() && std::string(dir) == ESPTOOLS_CORPUS_DIR "/inputs") break;
        if (!files.empty()) files.push_back(ESPTOOLS_BUILT_PROGRAM);
    }
    std::sort(files.begin(), files.end());
    return files;
}

// The corpus's flash images (.bin), then its ELF files from the smallest up, concatenated.
const Bytes &CorpusBlob() {
    static const Bytes blob = [] {
        auto files = CorpusFiles();
        std::stable_sort(files.begin(), files.end(), [](const auto &a, const auto &b) {
            bool abin = a.extension() == ".bin", bbin = b.extension() == ".bin";
            if (abin != bbin) return abin;
            return std::filesystem::file_size(a) < std::filesystem::file_size(b);
        });
        Bytes b;
        for (const auto &f : files) {
            Bytes d = ReadFile(f);
            b.insert(b.end(), d.begin(), d.end());
        }
        return b;
    }();
    return blob;
}

const Bytes &DataSet(const std::string &name) {
    static std::map<std::string, Bytes> cache;
    auto it = cache.find(name);
    if (it != cache.end()) return it->second;
    Bytes b;
    if (name == "random")
        b = RandomBytes(kMiB, 1);
    else if (name == "zeros")
        b = Bytes(kMiB, 0);
    else if (name == "text")
        b = TextLike(kMiB, 2);
    else if (name == "far")
        b = FarRepeats(kMiB, 3);
    else if (name == "firmware") {
        const Bytes &c = CorpusBlob(); // the first MiB: every flash image and the smaller ELF files
        b.assign(c.begin(), c.begin() + static_cast<std::ptrdiff_t>(std::min(c.size(), kMiB)));
    }
    return cache.emplace(name, std::move(b)).first->second;
}

// ------------------------------------------------------------------------------------------------
// zlib helpers.

Bytes Compress(const Bytes &data, int level, int strategy = Z_DEFAULT_STRATEGY,
               int window_bits = 15, int mem_level = 8) {
    z_stream zs{};
    EXPECT_EQ(deflateInit2(&zs, level, Z_DEFLATED, window_bits, mem_level, strategy), Z_OK);
    Bytes out(deflateBound(&zs, data.size()) + 64);
    zs.next_in = const_cast<Bytes::value_type *>(data.data());
    zs.avail_in = static_cast<uInt>(data.size());
    zs.next_out = out.data();
    zs.avail_out = static_cast<uInt>(out.size());
    EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
    out.resize(zs.total_out);
    deflateEnd(&zs);
    return out;
}

enum class Outcome { kDone, kError, kNeedInput };

const char *Name(Outcome o) {
    return o == Outcome::kDone ? "done" : o == Outcome::kError ? "error" : "need-input";
}

struct ZResult {
    Outcome outcome;
    Bytes out;
    size_t consumed;
};

ZResult ZlibInflate(const Bytes &z) {
    z_stream zs{};
    EXPECT_EQ(inflateInit2(&zs, 15), Z_OK);
    ZResult r{Outcome::kNeedInput, {}, 0};
    zs.next_in = const_cast<Bytes::value_type *>(z.data());
    zs.avail_in = static_cast<uInt>(z.size());
    Bytes buf(64 * 1024);
    for (;;) {
        zs.next_out = buf.data();
        zs.avail_out = static_cast<uInt>(buf.size());
        int rc = inflate(&zs, Z_NO_FLUSH);
        r.out.insert(r.out.end(), buf.data(), buf.data() + (buf.size() - zs.avail_out));
        if (rc == Z_STREAM_END) {
            r.outcome = Outcome::kDone;
            break;
        }
        if (rc == Z_DATA_ERROR || rc == Z_NEED_DICT) {
            r.outcome = Outcome::kError;
            break;
        }
        if (rc == Z_BUF_ERROR || (rc == Z_OK && zs.avail_in == 0 && zs.avail_out != 0)) break;
        EXPECT_EQ(rc, Z_OK);
        if (rc != Z_OK) break;
    }
    r.consumed = zs.total_in;
    inflateEnd(&zs);
    return r;
}

// ------------------------------------------------------------------------------------------------
// Our decoder, driven the way the stub drives it.

struct Result {
    inflate_status status = INFLATE_NEED_INPUT;
    Bytes out;
    size_t consumed = 0; // input bytes consumed when the run stopped
    size_t takes = 0;    // non-empty output slices
};

Outcome OutcomeOf(inflate_status st) {
    return st == INFLATE_DONE ? Outcome::kDone : st < 0 ? Outcome::kError : Outcome::kNeedInput;
}

// chunk(i) gives the size of the i-th input block. With take_on_need_input false, output is only
// taken when the window is full or at the end (the decoder must keep the rest for later).
Result RunInflate(const Bytes &z, const std::function<size_t(size_t)> &chunk,
                  bool take_on_need_input = true) {
    Result r;
    auto state = std::make_unique<inflate_state>();
    // Exactly-sized heap allocation so ASan catches any access outside the window.
    std::unique_ptr<uint8_t[]> window(new uint8_t[kWindow]);
    inflate_init(state.get(), window.get());

    auto take = [&] {
        const uint8_t *data = nullptr;
        size_t len = 0;
        inflate_take_output(state.get(), &data, &len);
        EXPECT_LE(len, kWindow);
        EXPECT_GE(data, window.get());
        EXPECT_LE(data + len, window.get() + kWindow);
        if (len != 0) {
            r.out.insert(r.out.end(), data, data + len);
            r.takes++;
        }
    };

    size_t pos = 0, index = 0;
    bool first = true;
    while (first || pos < z.size()) {
        first = false;
        size_t n = std::min(chunk(index++), z.size() - pos);
        const uint8_t *in = z.data() + pos;
        size_t in_len = n;
        for (;;) {
            size_t before_in = in_len;
            inflate_status st = inflate_run(state.get(), &in, &in_len);
            EXPECT_LE(in_len, before_in);
            r.status = st;
            if (st == INFLATE_OUTPUT_FULL) {
                size_t had = r.out.size();
                take();
                if (r.out.size() == had) {
                    ADD_FAILURE() << "OUTPUT_FULL with nothing to take";
                    return r;
                }
                continue;
            }
            if (st == INFLATE_NEED_INPUT) {
                EXPECT_EQ(in_len, 0u) << "NEED_INPUT with input left";
                if (take_on_need_input) take();
                break;
            }
            // Done or error: stop here (what was produced before an error can still be taken).
            take();
            r.consumed = pos + (n - in_len);
            EXPECT_EQ(inflate_total_out(state.get()), r.out.size());
            return r;
        }
        pos += n;
    }
    take();
    r.consumed = pos;
    return r;
}

size_t Whole(size_t) {
    return SIZE_MAX;
}

struct Chunking {
    const char *name;
    std::function<size_t(size_t)> fn;
};

std::vector<Chunking> AllChunkings() {
    auto rng = std::make_shared<std::mt19937>(1234);
    return {
        {"whole", Whole},
        {"16k", [](size_t) { return size_t{16384}; }},
        {"7", [](size_t) { return size_t{7}; }},
        {"1", [](size_t) { return size_t{1}; }},
        {"random", [rng](size_t) { return size_t{1} + (*rng)() % ((*rng)() % 2 ? 40 : 40000); }},
    };
}

void ExpectRoundTrip(const Bytes &data, const Bytes &z, const std::string &what) {
    for (const auto &c : AllChunkings()) {
        Result r = RunInflate(z, c.fn);
        ASSERT_EQ(r.status, INFLATE_DONE) << what << " chunking " << c.name;
        ASSERT_EQ(r.out.size(), data.size()) << what << " chunking " << c.name;
        ASSERT_TRUE(r.out == data) << what << " chunking " << c.name;
        ASSERT_EQ(r.consumed, z.size()) << what << " chunking " << c.name;
    }
}

// ------------------------------------------------------------------------------------------------
// Round trips: every level and strategy, several data sets, several chunkings.

struct RoundTripParam {
    std::string data;
    int level;
    int strategy;
};

std::string StrategyName(int s) {
    switch (s) {
    case Z_DEFAULT_STRATEGY:
        return "default";
    case Z_FILTERED:
        return "filtered";
    case Z_HUFFMAN_ONLY:
        return "huffman";
    case Z_RLE:
        return "rle";
    case Z_FIXED:
        return "fixed";
    }
    return "other";
}

class RoundTrip : public ::testing::TestWithParam<RoundTripParam> {};

TEST_P(RoundTrip, MatchesInput) {
    const auto &p = GetParam();
    const Bytes &data = DataSet(p.data);
    if (data.empty())
        GTEST_SKIP() << "no input files at " << ESPTOOLS_CORPUS_DIR << " or "
                     << ESPTOOLS_TEST_DATA_DIR;
    ASSERT_GT(data.size(), 20 * kWindow); // the window wraps many times
    Bytes z = Compress(data, p.level, p.strategy);
    ExpectRoundTrip(data, z, p.data);
}

std::vector<RoundTripParam> RoundTripParams() {
    std::vector<RoundTripParam> v;
    for (const char *d : {"random", "zeros", "text", "far", "firmware"}) {
        for (int level = 0; level <= 9; level++) v.push_back({d, level, Z_DEFAULT_STRATEGY});
        for (int s : {Z_FILTERED, Z_HUFFMAN_ONLY, Z_RLE, Z_FIXED})
            for (int level : {1, 6, 9}) v.push_back({d, level, s});
    }
    return v;
}

INSTANTIATE_TEST_SUITE_P(All, RoundTrip, ::testing::ValuesIn(RoundTripParams()),
                         [](const auto &info) {
                             return info.param.data + "_" + StrategyName(info.param.strategy) +
                                    "_l" + std::to_string(info.param.level);
                         });

TEST(Inflate, EmptyInputEveryLevel) {
    for (int level = 0; level <= 9; level++) {
        for (int s : {Z_DEFAULT_STRATEGY, Z_FIXED, Z_HUFFMAN_ONLY, Z_RLE}) {
            Bytes z = Compress({}, level, s);
            ExpectRoundTrip({}, z, "empty level " + std::to_string(level));
        }
    }
}

TEST(Inflate, SmallInputs) {
    std::mt19937 rng(7);
    for (size_t n : {1u, 2u, 3u, 10u, 257u, 258u, 259u, 1000u, 32767u, 32768u, 32769u, 65535u,
                     65536u, 65537u}) {
        Bytes data = TextLike(n, static_cast<uint32_t>(n));
        for (int level : {0, 1, 6, 9})
            ExpectRoundTrip(data, Compress(data, level), "n=" + std::to_string(n));
        ExpectRoundTrip(data, Compress(data, 6, Z_FIXED), "fixed n=" + std::to_string(n));
    }
}

TEST(Inflate, WindowBitsAndMemLevels) {
    const Bytes &data = DataSet("text");
    Bytes part(data.begin(), data.begin() + 200000);
    for (int wb = 9; wb <= 15; wb++)
        for (int ml : {1, 9})
            ExpectRoundTrip(part, Compress(part, 9, Z_DEFAULT_STRATEGY, wb, ml), "wb");
}

TEST(Inflate, EveryCorpusFile) {
    auto files = CorpusFiles();
    if (files.empty())
        GTEST_SKIP() << "no input files at " << ESPTOOLS_CORPUS_DIR << " or "
                     << ESPTOOLS_TEST_DATA_DIR;
    for (const auto &f : files) {
        Bytes data = ReadFile(f);
        for (int level : {0, 1, 9}) {
            Bytes z = Compress(data, level);
            Result r = RunInflate(z, [](size_t) { return size_t{16384}; });
            ASSERT_EQ(r.status, INFLATE_DONE) << f;
            ASSERT_TRUE(r.out == data) << f;
        }
    }
}

TEST(Inflate, WholeCorpusStream) {
    const Bytes &blob = CorpusBlob();
    if (blob.empty()) GTEST_SKIP();
    Bytes z = Compress(blob, 9);
    Result r = RunInflate(z, [](size_t) { return size_t{16384}; });
    ASSERT_EQ(r.status, INFLATE_DONE);
    ASSERT_TRUE(r.out == blob);
}

// The caller may leave output in the window across NEED_INPUT and only take it when it is full.
TEST(Inflate, TakeOnlyWhenFull) {
    const Bytes &data = DataSet("far");
    Bytes z = Compress(data, 6);
    for (size_t step : {1u, 13u, 5000u}) {
        Result r = RunInflate(
            z, [step](size_t) { return step; }, /*take_on_need_input=*/false);
        ASSERT_EQ(r.status, INFLATE_DONE);
        ASSERT_TRUE(r.out == data);
        // Every slice but the last is a full window.
        EXPECT_EQ(r.takes, (data.size() + kWindow - 1) / kWindow);
    }
}

TEST(Inflate, StopsAtStreamEnd) {
    Bytes data = TextLike(100000, 9);
    for (int level : {0, 1, 9}) {
        Bytes z = Compress(data, level);
        Bytes zz = z;
        const char junk[] = "TRAILING-GARBAGE";
        zz.insert(zz.end(), junk, junk + sizeof(junk));
        for (const auto &c : AllChunkings()) {
            Result r = RunInflate(zz, c.fn);
            ASSERT_EQ(r.status, INFLATE_DONE) << c.name;
            EXPECT_TRUE(r.out == data);
            EXPECT_EQ(r.consumed, z.size()) << c.name;
        }
    }
}

// With output_slice set, no call yields more than that (the stub drains its UART between calls),
// whatever the input's expansion: a long run of one byte expands ~1000-fold.
TEST(Inflate, OutputSliceBoundsEachCall) {
    Bytes runs(200000, 0x5A);
    const Bytes &far = DataSet("far");
    runs.insert(runs.end(), far.begin(), far.begin() + 100000);
    Bytes z = Compress(runs, 9);
    auto s = std::make_unique<inflate_state>();
    std::unique_ptr<uint8_t[]> w(new uint8_t[kWindow]);
    inflate_init(s.get(), w.get());
    s->output_slice = 256;
    const uint8_t *in = z.data();
    size_t len = z.size();
    Bytes out;
    for (;;) {
        inflate_status st = inflate_run(s.get(), &in, &len);
        ASSERT_GE(st, 0);
        const uint8_t *piece;
        size_t n;
        inflate_take_output(s.get(), &piece, &n);
        ASSERT_LE(n, 256u);
        out.insert(out.end(), piece, piece + n);
        if (st == INFLATE_DONE) break;
    }
    EXPECT_TRUE(out == runs);
}

// After DONE, more calls keep returning DONE and consume nothing.
TEST(Inflate, DoneIsSticky) {
    Bytes data = TextLike(5000, 3);
    Bytes z = Compress(data, 9);
    z.push_back(0x55);
    auto s = std::make_unique<inflate_state>();
    std::unique_ptr<uint8_t[]> w(new uint8_t[kWindow]);
    inflate_init(s.get(), w.get());
    const uint8_t *in = z.data();
    size_t len = z.size();
    ASSERT_EQ(inflate_run(s.get(), &in, &len), INFLATE_DONE);
    EXPECT_EQ(len, 1u);
    ASSERT_EQ(inflate_run(s.get(), &in, &len), INFLATE_DONE);
    EXPECT_EQ(len, 1u);
    const uint8_t *out;
    size_t out_len;
    inflate_take_output(s.get(), &out, &out_len);
    ASSERT_EQ(out_len, data.size());
    EXPECT_EQ(0, std::memcmp(out, data.data(), data.size()));
}

// ------------------------------------------------------------------------------------------------
// Truncation: a prefix of a valid stream never finishes and never fails; the rest then completes
// it.

TEST(Inflate, TruncatedNeverDone) {
    std::vector<std::pair<std::string, Bytes>> streams;
    Bytes small = TextLike(3000, 5);
    streams.push_back({"small-l9", Compress(small, 9)});
    streams.push_back({"small-l0", Compress(small, 0)});
    streams.push_back({"small-fixed", Compress(small, 9, Z_FIXED)});
    streams.push_back({"empty", Compress({}, 9)});
    const Bytes &far = DataSet("far");
    Bytes part(far.begin(), far.begin() + 300000);
    streams.push_back({"far-l6", Compress(part, 6)});
    std::mt19937 rng(11);
    for (const auto &[name, z] : streams) {
        std::vector<size_t> cuts;
        if (z.size() <= 4000) {
            for (size_t i = 0; i < z.size(); i++) cuts.push_back(i);
        } else {
            for (size_t i = 0; i < 40; i++) cuts.push_back(i);
            for (size_t i = z.size() - 40; i < z.size(); i++) cuts.push_back(i);
            for (int i = 0; i < 200; i++) cuts.push_back(rng() % z.size());
        }
        for (size_t cut : cuts) {
            Bytes prefix(z.begin(), z.begin() + static_cast<std::ptrdiff_t>(cut));
            Result r = RunInflate(prefix, [](size_t) { return size_t{16384}; });
            ASSERT_EQ(r.status, INFLATE_NEED_INPUT) << name << " cut at " << cut;
            EXPECT_EQ(r.consumed, cut);
        }
    }
}

// Feeding a prefix, then the rest, in two very different splits, works (resume at any point).
TEST(Inflate, ResumeAtEveryByteBoundary) {
    Bytes data = TextLike(4000, 6);
    for (int s : {Z_DEFAULT_STRATEGY, Z_FIXED}) {
        Bytes z = Compress(data, 9, s);
        for (size_t cut = 0; cut <= z.size(); cut++) {
            Result r = RunInflate(z, [cut](size_t i) { return i == 0 ? cut : SIZE_MAX; });
            ASSERT_EQ(r.status, INFLATE_DONE) << cut;
            ASSERT_TRUE(r.out == data) << cut;
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Hand-made streams: a small DEFLATE writer for cases zlib's compressor never produces.

class BitWriter {
public:
    void Put(uint32_t value, int bits) {
        for (int i = 0; i < bits; i++) PutBit((value >> i) & 1u);
    }
    // A Huffman code goes out most significant bit first.
    void PutCode(uint32_t code, int len) {
        for (int i = len - 1; i >= 0; i--) PutBit((code >> i) & 1u);
    }
    void Align() {
        while (nbits_ != 0) PutBit(0);
    }
    void Byte(uint8_t b) { Put(b, 8); }
    Bytes Finish() {
        Align();
        return bytes_;
    }

private:
    void PutBit(uint32_t b) {
        if (nbits_ == 0) bytes_.push_back(0);
        bytes_.back() = static_cast<uint8_t>(bytes_.back() | (b << nbits_));
        nbits_ = (nbits_ + 1) & 7;
    }
    Bytes bytes_;
    int nbits_ = 0;
};

const uint16_t kLenBase[29] = {3,  4,  5,  6,  7,  8,  9,  10, 11,  13,  15,  17,  19,  23, 27,
                               31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
const uint8_t kLenExtra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                               2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
const uint16_t kDistBase[30] = {1,    2,    3,    4,    5,    7,    9,    13,    17,    25,
                                33,   49,   65,   97,   129,  193,  257,  385,   513,   769,
                                1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
const uint8_t kDistExtra[30] = {0, 0, 0, 0, 1, 1, 2, 2,  3,  3,  4,  4,  5,  5,  6,
                                6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};

void FixedLit(BitWriter &w, unsigned sym) {
    if (sym < 144)
        w.PutCode(0x30 + sym, 8);
    else if (sym < 256)
        w.PutCode(0x190 + (sym - 144), 9);
    else if (sym < 280)
        w.PutCode(sym - 256, 7);
    else
        w.PutCode(0xc0 + (sym - 280), 8);
}

void FixedMatch(BitWriter &w, unsigned len, unsigned dist) {
    int li = 28;
    if (len != 258)
        for (li = 27; kLenBase[li] > len; li--) {
        }
    FixedLit(w, 257 + li);
    w.Put(len - kLenBase[li], kLenExtra[li]);
    int di = 29;
    while (kDistBase[di] > dist) di--;
    w.PutCode(di, 5);
    w.Put(dist - kDistBase[di], kDistExtra[di]);
}

Bytes ZlibWrap(const Bytes &body, const Bytes &content) {
    Bytes z;
    z.reserve(body.size() + 6);
    z.push_back(0x78);
    z.push_back(0x01);
    for (uint8_t b : body) z.push_back(b);
    uint32_t a = adler32(adler32(0, nullptr, 0), content.data(), static_cast<uInt>(content.size()));
    for (int sh : {24, 16, 8, 0}) z.push_back(static_cast<uint8_t>(a >> sh));
    return z;
}

// Checks our decoder and zlib agree on a stream; returns our status (fed whole and byte by byte).
inflate_status BothDecode(const Bytes &z, const Bytes *expect = nullptr) {
    Result whole = RunInflate(z, Whole);
    Result bytes = RunInflate(z, [](size_t) { return size_t{1}; });
    ZResult ref = ZlibInflate(z);
    EXPECT_EQ(whole.status, bytes.status);
    EXPECT_EQ(OutcomeOf(whole.status), ref.outcome)
        << "ours " << whole.status << " zlib " << Name(ref.outcome);
    if (whole.status == INFLATE_DONE) {
        EXPECT_TRUE(whole.out == ref.out);
        EXPECT_TRUE(bytes.out == ref.out);
        if (expect) {
            EXPECT_TRUE(whole.out == *expect);
        }
    }
    return whole.status;
}

TEST(Handmade, MaxDistanceAndLongMatchesAcrossWraps) {
    std::mt19937 rng(21);
    BitWriter w;
    w.Put(1, 1); // final
    w.Put(1, 2); // fixed
    Bytes expect;
    for (int i = 0; i < 32768; i++) {
        unsigned b = rng() & 0xff;
        FixedLit(w, b);
        expect.push_back(static_cast<uint8_t>(b));
    }
    for (int i = 0; i < 2000; i++) {
        unsigned len = i % 3 == 0 ? 258 : 3 + rng() % 256;
        unsigned dist = i % 2 == 0 ? 32768 : 1 + rng() % 32768;
        FixedMatch(w, len, dist);
        for (unsigned k = 0; k < len; k++) expect.push_back(expect[expect.size() - dist]);
        if (i % 5 == 0) {
            FixedLit(w, 0x5a);
            expect.push_back(0x5a);
        }
    }
    FixedLit(w, 256);
    Bytes z = ZlibWrap(w.Finish(), expect);
    EXPECT_EQ(BothDecode(z, &expect), INFLATE_DONE);
    ExpectRoundTrip(expect, z, "handmade");
}

TEST(Handmade, OverlappingCopies) {
    BitWriter w;
    w.Put(1, 1);
    w.Put(1, 2);
    Bytes expect;
    FixedLit(w, 'x');
    expect.push_back('x');
    FixedMatch(w, 258, 1); // run-length
    expect.insert(expect.end(), 258, 'x');
    FixedLit(w, 'y');
    expect.push_back('y');
    FixedMatch(w, 100, 2);
    for (int i = 0; i < 100; i++) expect.push_back(expect[expect.size() - 2]);
    FixedLit(w, 256);
    Bytes z = ZlibWrap(w.Finish(), expect);
    EXPECT_EQ(BothDecode(z, &expect), INFLATE_DONE);
}

TEST(Handmade, DistanceExactlyAllOutputIsFine) {
    BitWriter w;
    w.Put(1, 1);
    w.Put(1, 2);
    Bytes expect = {'a', 'b', 'c'};
    for (uint8_t c : expect) FixedLit(w, c);
    FixedMatch(w, 3, 3);
    expect.insert(expect.end(), {'a', 'b', 'c'});
    FixedLit(w, 256);
    Bytes z = ZlibWrap(w.Finish(), expect);
    EXPECT_EQ(BothDecode(z, &expect), INFLATE_DONE);
}

TEST(Handmade, DistanceTooFarBack) {
    for (unsigned produced : {0u, 1u, 3u, 1000u, 32767u}) {
        BitWriter w;
        w.Put(1, 1);
        w.Put(1, 2);
        Bytes content;
        for (unsigned i = 0; i < produced; i++) {
            FixedLit(w, 'q');
            content.push_back('q');
        }
        FixedMatch(w, 5, produced + 1);
        FixedLit(w, 256);
        Bytes z = ZlibWrap(w.Finish(), content);
        EXPECT_EQ(BothDecode(z), INFLATE_ERR_DISTANCE) << produced;
    }
}

TEST(Handmade, DistanceTooFarInSecondBlock) {
    // Block 1 (stored) gives 10 bytes, block 2 reaches 11 back.
    BitWriter w;
    w.Put(0, 1);
    w.Put(0, 2);
    w.Align();
    w.Put(10, 16);
    w.Put(~10u & 0xffff, 16);
    Bytes content;
    for (int i = 0; i < 10; i++) {
        w.Byte(static_cast<uint8_t>('0' + i));
        content.push_back(static_cast<uint8_t>('0' + i));
    }
    BitWriter ok = w;
    w.Put(1, 1);
    w.Put(1, 2);
    FixedMatch(w, 4, 11);
    FixedLit(w, 256);
    EXPECT_EQ(BothDecode(ZlibWrap(w.Finish(), content)), INFLATE_ERR_DISTANCE);
    ok.Put(1, 1);
    ok.Put(1, 2);
    FixedMatch(ok, 4, 10);
    FixedLit(ok, 256);
    Bytes expect = content;
    expect.insert(expect.end(), {'0', '1', '2', '3'});
    EXPECT_EQ(BothDecode(ZlibWrap(ok.Finish(), expect), &expect), INFLATE_DONE);
}

TEST(Handmade, InvalidFixedSymbols) {
    {
        BitWriter w;
        w.Put(1, 1);
        w.Put(1, 2);
        FixedLit(w, 'a');
        FixedLit(w, 286);
        EXPECT_EQ(BothDecode(ZlibWrap(w.Finish(), {'a'})), INFLATE_ERR_SYMBOL);
    }
    {
        BitWriter w;
        w.Put(1, 1);
        w.Put(1, 2);
        FixedLit(w, 'a');
        FixedLit(w, 257);
        w.PutCode(30, 5);
        EXPECT_EQ(BothDecode(ZlibWrap(w.Finish(), {'a'})), INFLATE_ERR_SYMBOL);
    }
}

TEST(Handmade, BadBlockType) {
    BitWriter w;
    w.Put(1, 1);
    w.Put(3, 2);
    EXPECT_EQ(BothDecode(ZlibWrap(w.Finish(), {})), INFLATE_ERR_BLOCK_TYPE);
}

TEST(Handmade, BadStoredLength) {
    BitWriter w;
    w.Put(1, 1);
    w.Put(0, 2);
    w.Align();
    w.Put(5, 16);
    w.Put(5, 16);
    for (int i = 0; i < 5; i++) w.Byte('z');
    EXPECT_EQ(BothDecode(ZlibWrap(w.Finish(), Bytes(5, 'z'))), INFLATE_ERR_STORED_LEN);
}

TEST(Handmade, ZeroLengthStoredBlocks) {
    BitWriter w;
    for (int i = 0; i < 3; i++) {
        w.Put(i == 2, 1);
        w.Put(0, 2);
        w.Align();
        w.Put(0, 16);
        w.Put(0xffff, 16);
    }
    EXPECT_EQ(BothDecode(ZlibWrap(w.Finish(), {})), INFLATE_DONE);
}

// Writes a dynamic block header whose code-length code gives symbols 0 and 8 one bit each, then
// the given literal/length and distance code lengths (each 0 or 8).
void DynamicHeader(BitWriter &w, unsigned hlit, unsigned hdist, const std::vector<int> &lens) {
    w.Put(1, 1);
    w.Put(2, 2);
    w.Put(hlit, 5);
    w.Put(hdist, 5);
    w.Put(1, 4); // 5 code-length codes: 16, 17, 18, 0, 8
    for (int l : {0, 0, 0, 1, 1}) w.Put(l, 3);
    for (int l : lens) w.PutCode(l == 8 ? 1 : 0, 1);
}

TEST(Handmade, DynamicHeaderErrors) {
    { // 287 literal/length codes
        BitWriter w;
        DynamicHeader(w, 30, 0, std::vector<int>(288, 0));
        EXPECT_EQ(BothDecode(ZlibWrap(w.Finish(), {})), INFLATE_ERR_CODE_LENGTHS);
    }
    { // 31 distance codes
        BitWriter w;
        DynamicHeader(w, 0, 30, std::vector<int>(288, 0));
        EXPECT_EQ(BothDecode(ZlibWrap(w.Finish(), {})), INFLATE_ERR_CODE_LENGTHS);
    }
    { // no end-of-block code: 256 literals of length 8 is a complete code without symbol 256
        BitWriter w;
        std::vector<int> lens(256, 8);
        lens.push_back(0); // 256
        lens.push_back(8); // one distance code
        DynamicHeader(w, 0, 0, lens);
        EXPECT_EQ(BothDecode(ZlibWrap(w.Finish(), {})), INFLATE_ERR_CODE_LENGTHS);
    }
    { // over-subscribed: 257 codes of length 8
        BitWriter w;
        std::vector<int> lens(257, 8);
        lens.push_back(8);
        DynamicHeader(w, 0, 0, lens);
        EXPECT_EQ(BothDecode(ZlibWrap(w.Finish(), {})), INFLATE_ERR_CODE_LENGTHS);
    }
    { // repeat-previous as the very first length
        BitWriter w;
        w.Put(1, 1);
        w.Put(2, 2);
        w.Put(0, 5);
        w.Put(0, 5);
        w.Put(0, 4);                            // 4 code-length codes: 16, 17, 18, 0
        for (int l : {1, 0, 0, 1}) w.Put(l, 3); // 16 -> code 1, 0 -> code 0 (canonical: 0 first)
        w.PutCode(1, 1);                        // symbol 16
        w.Put(0, 2);
        EXPECT_EQ(BothDecode(ZlibWrap(w.Finish(), {})), INFLATE_ERR_CODE_LENGTHS);
    }
    { // repeat running past the end of the lengths
        BitWriter w;
        w.Put(1, 1);
        w.Put(2, 2);
        w.Put(0, 5);
        w.Put(0, 5);
        w.Put(0, 4);
        for (int l : {0, 0, 1, 1}) w.Put(l, 3); // 18 and 0, one bit each: 0 -> 0, 18 -> 1
        w.PutCode(1, 1);
        w.Put(127, 7); // 138 zeros
        w.PutCode(1, 1);
        w.Put(127, 7); // 138 more: 276 > 258
        EXPECT_EQ(BothDecode(ZlibWrap(w.Finish(), {})), INFLATE_ERR_CODE_LENGTHS);
    }
    { // incomplete code-length code
        BitWriter w;
        w.Put(1, 1);
        w.Put(2, 2);
        w.Put(0, 5);
        w.Put(0, 5);
        w.Put(0, 4);
        for (int l : {0, 0, 0, 2}) w.Put(l, 3);
        w.Put(0, 32);
        EXPECT_EQ(BothDecode(ZlibWrap(w.Finish(), {})), INFLATE_ERR_CODE_LENGTHS);
    }
}

// A general dynamic block writer: the code-length code gives 0..15 four bits each, so any code
// lengths can be written directly; symbols are then coded canonically.
struct Canonical {
    std::vector<uint32_t> code;
    std::vector<int> len;
    explicit Canonical(const std::vector<int> &lens) : code(lens.size()), len(lens) {
        int count[16] = {};
        for (int l : lens) count[l]++;
        count[0] = 0;
        uint32_t next[16] = {}, c = 0;
        for (int b = 1; b < 16; b++) {
            c = (c + count[b - 1]) << 1;
            next[b] = c;
        }
        for (size_t s = 0; s < lens.size(); s++)
            if (lens[s]) code[s] = next[lens[s]]++;
    }
    void Put(BitWriter &w, unsigned sym) const {
        ASSERT_NE(len.at(sym), 0) << sym;
        w.PutCode(code[sym], len[sym]);
    }
};

const int kClenOrder[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};

void DynamicBlock(BitWriter &w, bool final, const std::vector<int> &lit,
                  const std::vector<int> &dist) {
    w.Put(final, 1);
    w.Put(2, 2);
    w.Put(static_cast<uint32_t>(lit.size() - 257), 5);
    w.Put(static_cast<uint32_t>(dist.size() - 1), 5);
    w.Put(15, 4);
    for (int sym : kClenOrder) w.Put(sym < 16 ? 4 : 0, 3);
    for (int l : lit) w.PutCode(static_cast<uint32_t>(l), 4);
    for (int l : dist) w.PutCode(static_cast<uint32_t>(l), 4);
}

void DynMatch(BitWriter &w, const Canonical &lit, const Canonical &dist, unsigned len, unsigned d) {
    int li = 28;
    if (len != 258)
        for (li = 27; kLenBase[li] > len; li--) {
        }
    lit.Put(w, 257 + li);
    w.Put(len - kLenBase[li], kLenExtra[li]);
    int di = 29;
    while (kDistBase[di] > d) di--;
    dist.Put(w, di);
    w.Put(d - kDistBase[di], kDistExtra[di]);
}

// A lone distance code of length 1 is an incomplete code DEFLATE allows; its unused bit pattern is
// an invalid code.
TEST(Handmade, DynamicSingleDistanceCode) {
    std::vector<int> lit(260, 0);
    for (int c = 'a'; c <= 'd'; c++) lit[c] = 3;
    lit[256] = 2;
    lit[257 + 2] = 2; // length 5
    std::vector<int> dist(4, 0);
    dist[3] = 1; // distance 4
    Canonical lc(lit), dc(dist);
    for (bool use_bad_code : {false, true}) {
        BitWriter w;
        DynamicBlock(w, true, lit, dist);
        Bytes expect;
        for (int c = 'a'; c <= 'd'; c++) {
            lc.Put(w, c);
            expect.push_back(static_cast<uint8_t>(c));
        }
        if (use_bad_code) {
            lc.Put(w, 257 + 2);
            w.PutCode(1, 1); // the distance code's unused pattern
            lc.Put(w, 256);
            EXPECT_EQ(BothDecode(ZlibWrap(w.Finish(), expect)), INFLATE_ERR_SYMBOL);
        } else {
            DynMatch(w, lc, dc, 5, 4);
            for (int i = 0; i < 5; i++) expect.push_back(expect[expect.size() - 4]);
            lc.Put(w, 256);
            EXPECT_EQ(BothDecode(ZlibWrap(w.Finish(), expect), &expect), INFLATE_DONE);
        }
    }
}

// No distance code at all: fine for a literal-only block, an error once a match appears.
TEST(Handmade, DynamicNoDistanceCodes) {
    std::vector<int> lit(258, 0);
    lit['x'] = 1;
    lit[256] = 2;
    lit[257] = 2;
    Canonical lc(lit);
    for (bool match : {false, true}) {
        BitWriter w;
        DynamicBlock(w, true, lit, {0});
        Bytes expect(3, 'x');
        for (int i = 0; i < 3; i++) lc.Put(w, 'x');
        if (match) {
            lc.Put(w, 257);
            w.Put(0, 5);
        }
        lc.Put(w, 256);
        EXPECT_EQ(BothDecode(ZlibWrap(w.Finish(), expect), &expect),
                  match ? INFLATE_ERR_SYMBOL : INFLATE_DONE);
    }
}

// Codes of every length up to 15 bits (the table walk beyond the direct lookup), across blocks,
// with every length and distance symbol.
TEST(Handmade, LongCodesEveryLengthAndDistanceSymbol) {
    std::mt19937 rng(77);
    // Kraft budget in units of 2^-15: lengths 1..9 for nine symbols leave 64 units; one code each
    // of 12, 13 and 14 bits takes 14, and fifty 15-bit codes take the remaining 50.
    std::vector<unsigned> syms;
    for (int i = 0; i < 10; i++) syms.push_back('A' + i);
    for (unsigned s = 256; s < 286; s++) syms.push_back(s);
    for (int i = 0; i < 30; i++) syms.push_back('a' + i % 26 + (i >= 26 ? 100 : 0));
    std::vector<int> lit(286, 0);
    size_t k = 0;
    for (int l = 1; l <= 9; l++) lit[syms[k++]] = l;
    for (int l = 12; l <= 14; l++) lit[syms[k++]] = l;
    for (int i = 0; i < 50; i++) lit[syms[k++]] = 15;
    int units = 0;
    for (int l : lit)
        if (l) units += 1 << (15 - l);
    ASSERT_EQ(units, 1 << 15);
    for (unsigned s = 256; s < 286; s++) ASSERT_NE(lit[s], 0) << s;
    // Distances: two 4-bit codes and twenty-eight 5-bit codes, complete.
    std::vector<int> dist(30, 5);
    dist[0] = dist[1] = 4;
    units = 0;
    for (int l : dist) units += 1 << (15 - l);
    ASSERT_EQ(units, 1 << 15);
    Canonical lc(lit), dc(dist);
    std::vector<unsigned> literals;
    for (size_t i = 0; i < lit.size() && i < 256; i++)
        if (lit[i]) literals.push_back(static_cast<unsigned>(i));

    BitWriter w;
    Bytes expect;
    for (int block = 0; block < 3; block++) {
        DynamicBlock(w, block == 2, lit, dist);
        for (int i = 0; i < 40000; i++) {
            if (expect.size() < 100 || rng() % 3 == 0) {
                unsigned c = literals[rng() % literals.size()];
                lc.Put(w, c);
                expect.push_back(static_cast<uint8_t>(c));
            } else {
                int li = static_cast<int>(rng() % 29);
                unsigned len = kLenBase[li] + (kLenExtra[li] ? rng() % (1u << kLenExtra[li]) : 0);
                if (li == 28) len = 258;
                int di = static_cast<int>(rng() % 30);
                unsigned d = kDistBase[di] + (kDistExtra[di] ? rng() % (1u << kDistExtra[di]) : 0);
                if (d > expect.size()) d = static_cast<unsigned>(1 + rng() % expect.size());
                DynMatch(w, lc, dc, len, d);
                for (unsigned j = 0; j < len; j++) expect.push_back(expect[expect.size() - d]);
            }
        }
        lc.Put(w, 256);
    }
    Bytes z = ZlibWrap(w.Finish(), expect);
    EXPECT_EQ(BothDecode(z, &expect), INFLATE_DONE);
    ExpectRoundTrip(expect, z, "long codes");
}

TEST(Handmade, BadHeaders) {
    Bytes good = Compress(TextLike(100, 1), 6);
    ASSERT_EQ(RunInflate(good, Whole).status, INFLATE_DONE);
    auto with = [&](uint8_t cmf, uint8_t flg) {
        Bytes z = good;
        z[0] = cmf;
        z[1] = flg;
        return z;
    };
    auto fix = [](uint8_t cmf, uint8_t flg) {
        flg = static_cast<uint8_t>(flg & ~31);
        flg = static_cast<uint8_t>(flg + (31 - ((cmf * 256 + flg) % 31)) % 31);
        return flg;
    };
    EXPECT_EQ(BothDecode(with(0x78, 0x9d)), INFLATE_ERR_HEADER);            // FCHECK wrong
    EXPECT_EQ(BothDecode(with(0x79, fix(0x79, 0x80))), INFLATE_ERR_HEADER); // method 9
    EXPECT_EQ(BothDecode(with(0x88, fix(0x88, 0x80))), INFLATE_ERR_HEADER); // 64 KB window
    EXPECT_EQ(BothDecode(with(0x78, fix(0x78, 0xa0))), INFLATE_ERR_HEADER); // preset dictionary
    EXPECT_EQ(BothDecode(with(0x08, fix(0x08, 0x00))), INFLATE_DONE);       // 256-byte window: fine
}

TEST(Handmade, AdlerMismatch) {
    Bytes data = TextLike(70000, 4);
    for (int level : {0, 6}) {
        Bytes z = Compress(data, level);
        for (size_t k = 1; k <= 4; k++) {
            Bytes bad = z;
            bad[bad.size() - k] ^= 0x10;
            for (const auto &c : AllChunkings())
                EXPECT_EQ(RunInflate(bad, c.fn).status, INFLATE_ERR_ADLER);
        }
    }
}

TEST(Handmade, ErrorsAreSticky) {
    Bytes z = {0x78, 0x9d, 0, 0, 0};
    auto s = std::make_unique<inflate_state>();
    std::unique_ptr<uint8_t[]> w(new uint8_t[kWindow]);
    inflate_init(s.get(), w.get());
    const uint8_t *in = z.data();
    size_t len = z.size();
    EXPECT_EQ(inflate_run(s.get(), &in, &len), INFLATE_ERR_HEADER);
    size_t left = len;
    EXPECT_EQ(inflate_run(s.get(), &in, &len), INFLATE_ERR_HEADER);
    EXPECT_EQ(len, left);
}

// ------------------------------------------------------------------------------------------------
// Corruption: our decoder and zlib agree on every damaged stream. Never a crash, never a wrong
// DONE. (The one allowed difference: we may reject a stream while zlib still waits for input.)

void CompareDamaged(const Bytes &z, std::mt19937 &rng, size_t &done, size_t &errors,
                    size_t &early) {
    Result whole = RunInflate(z, Whole);
    Result chunked = RunInflate(z, [&rng](size_t) { return size_t{1} + rng() % 64; });
    ZResult ref = ZlibInflate(z);
    ASSERT_EQ(whole.status, chunked.status);
    ASSERT_TRUE(whole.out == chunked.out);
    Outcome ours = OutcomeOf(whole.status);
    if (ours == Outcome::kError && ref.outcome == Outcome::kNeedInput) {
        early++;
        return;
    }
    ASSERT_EQ(ours, ref.outcome) << "ours " << whole.status;
    // Up to the point of an error, both produce the same output.
    ASSERT_TRUE(whole.out == ref.out) << "ours " << whole.out.size() << " zlib " << ref.out.size();
    if (ours == Outcome::kDone) {
        done++;
        ASSERT_TRUE(whole.out == ref.out);
        ASSERT_EQ(whole.consumed, ref.consumed);
    } else if (ours == Outcome::kError) {
        errors++;
    }
}

TEST(Corruption, MatchesZlib) {
    std::mt19937 rng(99);
    std::vector<Bytes> streams;
    const Bytes &fw = DataSet("firmware");
    if (fw.size() < 3000)
        GTEST_SKIP() << "no input files at " << ESPTOOLS_CORPUS_DIR << " or "
                     << ESPTOOLS_TEST_DATA_DIR;
    Bytes fwpart(fw.begin(), fw.begin() + std::min<size_t>(fw.size(), 60000));
    Bytes text = TextLike(60000, 8);
    for (const Bytes *d : {&fwpart, &text}) {
        streams.push_back(Compress(*d, 6));
        streams.push_back(Compress(*d, 9, Z_FIXED));
        streams.push_back(Compress(*d, 1, Z_HUFFMAN_ONLY));
    }
    streams.push_back(Compress(Bytes(fwpart.begin(), fwpart.begin() + 3000), 0));
    size_t done = 0, errors = 0, early = 0;
    for (const Bytes &z : streams) {
        for (int trial = 0; trial < 300; trial++) {
            Bytes bad = z;
            int kind = trial % 3;
            if (kind == 0) {
                size_t bit = rng() % (bad.size() * 8);
                bad[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
            } else if (kind == 1) {
                bad[rng() % bad.size()] = static_cast<uint8_t>(rng());
            } else {
                // Damage near the start, where the block headers are.
                size_t at = 2 + rng() % std::min<size_t>(bad.size() - 2, 200);
                bad[at] = static_cast<uint8_t>(rng());
            }
            ASSERT_NO_FATAL_FAILURE(CompareDamaged(bad, rng, done, errors, early));
        }
    }
    std::printf("corruption: %zu done (harmless flips), %zu errors, %zu early rejects\n", done,
                errors, early);
    EXPECT_GT(errors, 1000u);
}

// Random bytes after a valid header, as a dynamic (or any) block: exercises the header parser.
TEST(Corruption, RandomBodies) {
    std::mt19937 rng(5);
    size_t done = 0, errors = 0, early = 0;
    for (int trial = 0; trial < 20000; trial++) {
        Bytes z = {0x78, 0x9c};
        size_t n = 1 + rng() % 400;
        for (size_t i = 0; i < n; i++) z.push_back(static_cast<uint8_t>(rng()));
        if (trial % 2 == 0) z[2] = static_cast<uint8_t>((z[2] & ~7u) | 5u); // final dynamic block
        ASSERT_NO_FATAL_FAILURE(CompareDamaged(z, rng, done, errors, early));
    }
    std::printf("random bodies: %zu done, %zu errors, %zu early rejects\n", done, errors, early);
}

// ------------------------------------------------------------------------------------------------
// Speed sanity check (reported, not asserted: sanitizer builds are slow).

TEST(Speed, FirmwareMegabyte) {
    const Bytes &data = DataSet("firmware");
    if (data.empty()) GTEST_SKIP();
    Bytes z = Compress(data, 9);
    auto s = std::make_unique<inflate_state>();
    std::unique_ptr<uint8_t[]> w(new uint8_t[kWindow]);
    const int reps = 20;
    size_t total = 0;
    auto t0 = std::chrono::steady_clock::now();
    for (int rep = 0; rep < reps; rep++) {
        inflate_init(s.get(), w.get());
        const uint8_t *in = z.data();
        size_t len = z.size();
        for (;;) {
            inflate_status st = inflate_run(s.get(), &in, &len);
            const uint8_t *out;
            size_t n;
            inflate_take_output(s.get(), &out, &n);
            total += n;
            if (st == INFLATE_DONE) break;
            ASSERT_EQ(st, INFLATE_OUTPUT_FULL);
        }
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ASSERT_EQ(total, reps * data.size());
    std::printf("inflate: %.1f MB/s (%zu -> %zu bytes, sizeof(inflate_state) = %zu)\n",
                static_cast<double>(total) / secs / 1e6, z.size(), data.size(),
                sizeof(inflate_state));
}

} // namespace
