#include "esptools/loader/reset.h"

#include <llvm/ADT/StringExtras.h>

#include <chrono>
#include <thread>

namespace esptools::loader {
namespace {

llvm::Error badStep(const std::string &step) {
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "Invalid custom reset sequence option format: %s", step.c_str());
}

llvm::Expected<bool> lineLevel(llvm::StringRef digit, const std::string &step) {
    if (digit == "0") return false;
    if (digit == "1") return true;
    return badStep(step);
}

ResetStep dtr(bool asserted) {
    return {ResetStep::Kind::Dtr, asserted, false, 0};
}
ResetStep rts(bool asserted) {
    return {ResetStep::Kind::Rts, false, asserted, 0};
}
ResetStep both(bool d, bool r) {
    return {ResetStep::Kind::Both, d, r, 0};
}
ResetStep wait(double seconds) {
    return {ResetStep::Kind::Wait, false, false, seconds};
}

} // namespace

llvm::Expected<ResetSequence> parseResetSequence(const std::string &text) {
    ResetSequence steps;
    llvm::SmallVector<llvm::StringRef, 16> parts;
    std::string compact;
    for (char c : text)
        if (!llvm::isSpace(c)) compact += c;
    llvm::StringRef(compact).split(parts, '|', -1, false);
    for (llvm::StringRef part : parts) {
        const std::string step = part.str();
        char kind = part.front();
        llvm::StringRef rest = part.drop_front();
        if (kind == 'D' || kind == 'R') {
            auto level = lineLevel(rest, step);
            if (!level) return level.takeError();
            steps.push_back(kind == 'D' ? dtr(*level) : rts(*level));
        } else if (kind == 'U') {
            auto [d, r] = rest.split(',');
            auto dtr_level = lineLevel(d, step);
            if (!dtr_level) return dtr_level.takeError();
            auto rts_level = lineLevel(r, step);
            if (!rts_level) return rts_level.takeError();
            steps.push_back(both(*dtr_level, *rts_level));
        } else if (kind == 'W') {
            double seconds = 0;
            if (rest.getAsDouble(seconds) || seconds < 0) return badStep(step);
            steps.push_back(wait(seconds));
        } else {
            return badStep(step);
        }
    }
    return steps;
}

ResetSequence classicReset(double delay) {
    return {dtr(false), rts(true), wait(0.1), dtr(true), rts(false), wait(delay), dtr(false)};
}

ResetSequence unixTightReset(double delay) {
    return {both(false, false), both(true, true), both(false, true),  wait(0.1),
            both(true, false),  wait(delay),      both(false, false), dtr(false)};
}

ResetSequence usbJtagSerialReset() {
    return {rts(false), dtr(false), wait(0.1), dtr(true), rts(false), wait(0.1),
            rts(true),  dtr(false), rts(true), wait(0.1), dtr(false), rts(false)};
}

ResetSequence hardReset(bool over_usb) {
    if (over_usb) return {rts(true), wait(0.2), rts(false), wait(0.2)};
    return {rts(true), wait(0.1), rts(false)};
}

void playResetSequence(Port &port, const ResetSequence &steps) {
    bool dtr_now = false;
    for (const ResetStep &step : steps) {
        switch (step.kind) {
        case ResetStep::Kind::Dtr:
            port.setDtr(dtr_now = step.dtr);
            break;
        case ResetStep::Kind::Rts:
            port.setRts(step.rts);
            port.setDtr(dtr_now);
            break;
        case ResetStep::Kind::Both:
            port.setDtrRts(dtr_now = step.dtr, step.rts);
            break;
        case ResetStep::Kind::Wait:
            if (port.runsInRealTime())
                std::this_thread::sleep_for(std::chrono::duration<double>(step.seconds));
            break;
        }
    }
}

llvm::Expected<std::vector<ResetSequence>> resetStrategies(const Port &port,
                                                           const ResetSettings &settings) {
    if (!settings.custom_sequence.empty()) {
        auto custom = parseResetSequence(settings.custom_sequence);
        if (!custom) return custom.takeError();
        return std::vector<ResetSequence>{*custom};
    }
    // esptool's reset choice looks at the product id alone.
    auto usb = port.usbId();
    if (settings.usb_reset || (usb && usb->pid == UsbId::kUsbSerialJtagPid))
        return std::vector<ResetSequence>{usbJtagSerialReset()};
    std::vector<ResetSequence> strategies;
    if (port.setsBothLinesAtOnce()) {
        strategies.push_back(unixTightReset(settings.delay));
        strategies.push_back(unixTightReset(settings.extra_delay));
    }
    strategies.push_back(classicReset(settings.delay));
    strategies.push_back(classicReset(settings.extra_delay));
    return strategies;
}

} // namespace esptools::loader
