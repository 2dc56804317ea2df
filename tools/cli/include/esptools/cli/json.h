// The JSON the tools write and read: a small emitter, and a reader for records (flat objects of
// strings, numbers, booleans and nulls). LLVM 14's JSON.h does not compile as C++20 with clang and
// libstdc++ 12, and Boost.JSON is newer than Debian 12's Boost.
#pragma once

#include <llvm/Support/Error.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace esptools::cli {

class JsonWriter {
public:
    explicit JsonWriter(std::string &out) : out_(out) {}
    JsonWriter &open(char bracket);
    JsonWriter &close(char bracket);
    JsonWriter &key(std::string_view name);
    JsonWriter &value(std::string_view text);
    JsonWriter &value(const char *text) { return value(std::string_view(text)); }
    JsonWriter &value(uint64_t number);
    JsonWriter &value(double number); // three decimals
    JsonWriter &value(bool flag);
    JsonWriter &null();
    template <typename T> JsonWriter &field(std::string_view name, T v) {
        return key(name).value(v);
    }
    // A string, or null when absent.
    JsonWriter &field(std::string_view name, std::optional<std::string_view> v) {
        key(name);
        return v ? value(*v) : null();
    }

private:
    void comma();
    void string(std::string_view text);
    std::string &out_;
    bool first_ = true;
};

// One value of a record: numbers keep their text, so integers of any size stay exact.
struct JsonScalar {
    enum class Kind { Null, Bool, Number, String } kind = Kind::Null;
    std::string text; // a number's digits, or a string's characters (escapes resolved)
    bool flag = false;
};
using JsonRecord = std::map<std::string, JsonScalar>;

// An object, or an array of objects; within them nested arrays and objects are skipped (not
// kept). An error names `origin` and the offset where the text stops being JSON.
llvm::Expected<std::vector<JsonRecord>> parseJsonRecords(std::string_view text,
                                                         const std::string &origin);

} // namespace esptools::cli
