// Wire rate of the virtual chip's timing model: pipelined READ_REG requests keep the chip->host
// line busy; the rate of reply bytes, measured with the host clock, should be baud/10 bytes/s.
//   vchip_wire_rate [BAUD] [SECONDS]
#include "esptools/slip/slip.h"
#include "esptools/vchip/vchip.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

using namespace esptools;
using Clock = std::chrono::steady_clock;

int main(int argc, char **argv) {
    const uint32_t baud = argc > 1 ? uint32_t(std::atoi(argv[1])) : 115200;
    const double seconds = argc > 2 ? std::atof(argv[2]) : 2.0;
    auto options = vchip::parsePortSpec("esp32c3?timing=1");
    if (!options) return 1;
    auto chip = vchip::VirtualChip::create(*options);
    if (!chip) return 1;
    auto &c = **chip;
    uint8_t buffer[4096];
    while (c.read(buffer, std::chrono::milliseconds(20)) > 0) {
    } // boot text

    std::vector<uint8_t> one;
    if (baud != 115200) {
        std::vector<uint8_t> change = {0x00, 0x0F, 8, 0, 0, 0, 0, 0};
        for (uint32_t v : {baud, 0u})
            for (int i = 0; i < 4; ++i) change.push_back(uint8_t(v >> (8 * i)));
        c.write(slip::encode(change));
        while (c.read(buffer, std::chrono::milliseconds(50)) > 0) {
        }
        c.setBaudRate(baud);
    }
    std::vector<uint8_t> request = {0x00, 0x0A, 4, 0, 0, 0, 0, 0, 0x00, 0x10, 0x00, 0x40};
    one = slip::encode(request);
    const size_t count = size_t(seconds * baud / 10 / one.size());
    std::vector<uint8_t> all;
    for (size_t i = 0; i < count; ++i) all.insert(all.end(), one.begin(), one.end());
    c.write(all);
    size_t received = 0, first_chunk = 0;
    Clock::time_point first{}, last{};
    while (true) {
        size_t n = c.read(buffer, std::chrono::milliseconds(200));
        if (n == 0) break;
        auto now = Clock::now();
        if (received == 0) {
            first = now;
            first_chunk = n;
        }
        last = now;
        received += n;
    }
    double elapsed = std::chrono::duration<double>(last - first).count();
    double rate = double(received - first_chunk) / elapsed;
    double expected = baud / 10.0;
    std::printf(
        "baud %u: %zu reply bytes in %.3f s = %.1f bytes/s, baud/10 = %.1f, deviation %+.2f%%\n",
        baud, received, elapsed, rate, expected, (rate / expected - 1) * 100);
    return 0;
}
