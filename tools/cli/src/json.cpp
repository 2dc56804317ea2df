#include "esptools/cli/json.h"

#include "esptools/cli/cli.h"

#include <cstdio>

namespace esptools::cli {

JsonWriter &JsonWriter::open(char bracket) {
    comma();
    out_ += bracket;
    first_ = true;
    return *this;
}

JsonWriter &JsonWriter::close(char bracket) {
    out_ += bracket;
    first_ = false;
    return *this;
}

JsonWriter &JsonWriter::key(std::string_view name) {
    comma();
    string(name);
    out_ += ':';
    first_ = true;
    return *this;
}

JsonWriter &JsonWriter::value(std::string_view text) {
    comma();
    string(text);
    return *this;
}

JsonWriter &JsonWriter::value(uint64_t number) {
    comma();
    out_ += std::to_string(number);
    return *this;
}

JsonWriter &JsonWriter::value(double number) {
    comma();
    char text[32];
    std::snprintf(text, sizeof text, "%.3f", number);
    out_ += text;
    return *this;
}

JsonWriter &JsonWriter::value(bool flag) {
    comma();
    out_ += flag ? "true" : "false";
    return *this;
}

JsonWriter &JsonWriter::null() {
    comma();
    out_ += "null";
    return *this;
}

void JsonWriter::comma() {
    if (!first_) out_ += ',';
    first_ = false;
}

void JsonWriter::string(std::string_view text) {
    out_ += '"';
    for (unsigned char c : text) {
        if (c == '"' || c == '\\') {
            out_ += '\\';
            out_ += char(c);
        } else if (c < 0x20) {
            char escaped[8];
            std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
            out_ += escaped;
        } else {
            out_ += char(c);
        }
    }
    out_ += '"';
}

namespace {

class RecordReader {
public:
    RecordReader(std::string_view text, const std::string &origin) : text_(text), origin_(origin) {}

    llvm::Expected<std::vector<JsonRecord>> read() {
        std::vector<JsonRecord> records;
        skipSpace();
        if (take('[')) {
            if (!take(']')) {
                do {
                    auto record = object();
                    if (!record) return record.takeError();
                    records.push_back(std::move(*record));
                } while (take(','));
                if (!take(']')) return malformed("',' or ']'");
            }
        } else {
            auto record = object();
            if (!record) return record.takeError();
            records.push_back(std::move(*record));
        }
        skipSpace();
        if (at_ != text_.size()) return malformed("the end of the text");
        return records;
    }

private:
    llvm::Expected<JsonRecord> object() {
        JsonRecord record;
        if (!take('{')) return malformed("'{'");
        if (take('}')) return record;
        do {
            skipSpace();
            auto key = string();
            if (!key) return key.takeError();
            if (!take(':')) return malformed("':'");
            auto value = scalarOrSkip();
            if (!value) return value.takeError();
            if (*value) record[*key] = std::move(**value);
        } while (take(','));
        if (!take('}')) return malformed("',' or '}'");
        return record;
    }

    // A scalar, or nullopt for a nested array or object (skipped whole).
    llvm::Expected<std::optional<JsonScalar>> scalarOrSkip() {
        skipSpace();
        if (at_ >= text_.size()) return malformed("a value");
        const char c = text_[at_];
        JsonScalar scalar;
        if (c == '"') {
            auto text = string();
            if (!text) return text.takeError();
            scalar.kind = JsonScalar::Kind::String;
            scalar.text = std::move(*text);
        } else if (c == '[' || c == '{') {
            if (auto failure = skipNested()) return failure;
            return std::nullopt;
        } else if (word("true") || word("false")) {
            scalar.kind = JsonScalar::Kind::Bool;
            scalar.flag = c == 't';
        } else if (word("null")) {
            scalar.kind = JsonScalar::Kind::Null;
        } else {
            const size_t start = at_;
            while (at_ < text_.size() &&
                   std::string_view("+-.0123456789eE").find(text_[at_]) != std::string_view::npos)
                ++at_;
            if (start == at_) return malformed("a value");
            scalar.kind = JsonScalar::Kind::Number;
            scalar.text = std::string(text_.substr(start, at_ - start));
        }
        return std::optional<JsonScalar>(std::move(scalar));
    }

    llvm::Error skipNested() {
        int depth = 0;
        do {
            if (at_ >= text_.size()) return malformed("the end of an array or object");
            const char c = text_[at_];
            if (c == '"') {
                auto skipped = string();
                if (!skipped) return skipped.takeError();
                continue;
            }
            depth += (c == '[' || c == '{') ? 1 : (c == ']' || c == '}') ? -1 : 0;
            ++at_;
        } while (depth > 0);
        return llvm::Error::success();
    }

    llvm::Expected<std::string> string() {
        if (at_ >= text_.size() || text_[at_] != '"') return malformed("a string");
        ++at_;
        std::string out;
        while (at_ < text_.size() && text_[at_] != '"') {
            char c = text_[at_++];
            if (c != '\\') {
                out += c;
                continue;
            }
            if (at_ >= text_.size()) break;
            c = text_[at_++];
            switch (c) {
            case 'n':
                out += '\n';
                break;
            case 't':
                out += '\t';
                break;
            case 'r':
                out += '\r';
                break;
            case 'b':
                out += '\b';
                break;
            case 'f':
                out += '\f';
                break;
            case 'u': {
                unsigned code = 0;
                if (at_ + 4 > text_.size() ||
                    std::sscanf(std::string(text_.substr(at_, 4)).c_str(), "%4x", &code) != 1)
                    return malformed("four hex digits");
                at_ += 4;
                if (code < 0x80) {
                    out += char(code);
                } else if (code < 0x800) {
                    out += char(0xC0 | code >> 6);
                    out += char(0x80 | (code & 0x3F));
                } else {
                    out += char(0xE0 | code >> 12);
                    out += char(0x80 | (code >> 6 & 0x3F));
                    out += char(0x80 | (code & 0x3F));
                }
                break;
            }
            default:
                out += c; // \" \\ \/
            }
        }
        if (at_ >= text_.size()) return malformed("the end of a string");
        ++at_;
        return out;
    }

    bool word(std::string_view w) {
        if (text_.substr(at_, w.size()) != w) return false;
        at_ += w.size();
        return true;
    }
    void skipSpace() {
        while (at_ < text_.size() &&
               std::string_view(" \t\r\n").find(text_[at_]) != std::string_view::npos)
            ++at_;
    }
    bool take(char c) {
        skipSpace();
        if (at_ < text_.size() && text_[at_] == c) {
            ++at_;
            return true;
        }
        return false;
    }
    llvm::Error malformed(const char *expected) const {
        return makeError("%s: not JSON at offset %zu (expected %s)", origin_.c_str(), at_,
                         expected);
    }

    std::string_view text_;
    const std::string &origin_;
    size_t at_ = 0;
};

} // namespace

llvm::Expected<std::vector<JsonRecord>> parseJsonRecords(std::string_view text,
                                                         const std::string &origin) {
    return RecordReader(text, origin).read();
}

} // namespace esptools::cli
