// DTR/RTS sequences that reset a chip into download mode or restart it (protocol.md §16), and
// esptool's custom-sequence syntax ("D0|R1|W0.1|D1|R0|W0.05|D0").
#pragma once

#include "esptools/loader/port.h"

#include <llvm/Support/Error.h>

#include <string>
#include <vector>

namespace esptools::loader {

struct ResetStep {
    enum class Kind { Dtr, Rts, Both, Wait } kind;
    bool dtr = false; // asserted (line low)
    bool rts = false;
    double seconds = 0;
    bool operator==(const ResetStep &) const = default;
};
using ResetSequence = std::vector<ResetStep>;

llvm::Expected<ResetSequence> parseResetSequence(const std::string &text);

ResetSequence classicReset(double delay);
ResetSequence unixTightReset(double delay);
ResetSequence usbJtagSerialReset();
// EN pulsed with IO0 released: the chip starts its app. A chip that talks over its own USB
// (USB-OTG, or the ESP32-C5's USB-Serial-JTAG) leaves the bus while in reset: over_usb holds EN
// longer and waits after it, so that the device is back before the next write (esptool reset.py
// HardReset with uses_usb: 0.2 s and 0.2 s; targets/esp32s2.py, esp32s3.py, esp32c5.py).
ResetSequence hardReset(bool over_usb = false);

// Plays the steps on the port. Every RTS change re-writes DTR, as esptool does, because some
// drivers pass RTS on only then. Waits are skipped on ports without real time (the vchip).
void playResetSequence(Port &port, const ResetSequence &steps);

struct ResetSettings {
    double delay = 0.05;
    double extra_delay = 0.55;
    std::string custom_sequence; // replaces the strategy list when set
    bool usb_reset = false;      // --before usb-reset
};

// The sequences connect tries in turn (§16.2).
llvm::Expected<std::vector<ResetSequence>> resetStrategies(const Port &port,
                                                           const ResetSettings &settings);

} // namespace esptools::loader
