#include "esptools/slip/slip.h"

namespace esptools::slip {

void encode(std::span<const uint8_t> payload, std::vector<uint8_t> &out) {
    out.reserve(out.size() + payload.size() + payload.size() / 16 + 2);
    out.push_back(kEnd);
    for (uint8_t byte : payload) {
        if (byte == kEnd) {
            out.push_back(kEscape);
            out.push_back(kEscapedEnd);
        } else if (byte == kEscape) {
            out.push_back(kEscape);
            out.push_back(kEscapedEscape);
        } else {
            out.push_back(byte);
        }
    }
    out.push_back(kEnd);
}

std::vector<uint8_t> encode(std::span<const uint8_t> payload) {
    std::vector<uint8_t> out;
    encode(payload, out);
    return out;
}

Decoder::Event Decoder::push(uint8_t byte) {
    switch (state_) {
    case State::Idle:
        if (byte != kEnd) return Event::NoiseOutsideFrame;
        building_.clear();
        state_ = State::InFrame;
        return Event::None;
    case State::InFrame:
        // An empty frame (C0 C0) is only a delimiter: staying in the frame lets a receiver that
        // lost sync (a damaged C0, say) find the start of the next frame.
        if (byte == kEnd && building_.empty()) return Event::None;
        if (byte == kEnd) {
            frame_.swap(building_);
            building_.clear();
            state_ = State::Idle;
            return Event::Frame;
        }
        if (byte == kEscape)
            state_ = State::Escaped;
        else
            building_.push_back(byte);
        return Event::None;
    case State::Escaped:
        if (byte == kEscapedEnd || byte == kEscapedEscape) {
            building_.push_back(byte == kEscapedEnd ? kEnd : kEscape);
            state_ = State::InFrame;
            return Event::None;
        }
        building_.clear();
        state_ = State::Idle;
        return Event::BadEscape;
    }
    return Event::None;
}

void Decoder::reset() {
    state_ = State::Idle;
    building_.clear();
}

} // namespace esptools::slip
