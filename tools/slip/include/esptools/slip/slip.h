// SLIP framing (RFC 1055 with Espressif's conventions): the only wire code the loader and the
// virtual chip share. Each frame is C0 <payload, C0->DB DC, DB->DB DD> C0.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace esptools::slip {

inline constexpr uint8_t kEnd = 0xC0;
inline constexpr uint8_t kEscape = 0xDB;
inline constexpr uint8_t kEscapedEnd = 0xDC;
inline constexpr uint8_t kEscapedEscape = 0xDD;

// Appends one complete frame (both delimiters) to out.
void encode(std::span<const uint8_t> payload, std::vector<uint8_t> &out);
std::vector<uint8_t> encode(std::span<const uint8_t> payload);

// Byte-at-a-time decoder. It never throws; what to do with noise is the caller's choice
// (esptool treats it as fatal, a ROM ignores it).
class Decoder {
public:
    enum class Event : uint8_t {
        None,              // byte consumed, no frame yet
        Frame,             // a frame ended; frame() holds its (non-empty) payload
        NoiseOutsideFrame, // a byte other than C0 arrived between frames
        BadEscape,         // DB followed by something other than DC/DD; the frame is dropped
    };

    Event push(uint8_t byte);
    const std::vector<uint8_t> &frame() const { return frame_; }
    bool inFrame() const { return state_ != State::Idle; }
    void reset();

private:
    enum class State : uint8_t { Idle, InFrame, Escaped };
    State state_ = State::Idle;
    std::vector<uint8_t> frame_;
    std::vector<uint8_t> building_;
};

} // namespace esptools::slip
