// esp-loader's monitor naming the addresses of panic reports it did not print itself: an Xtensa
// "Backtrace:" line and ROM addresses through Espressif's ROM ELF files ($ESP_ROM_ELF_DIR). The
// reports come from a TCP port (socket://) that plays them back, in the shape ESP-IDF's panic
// handler prints them (components/esp_system/port/arch/*/panic_arch.c, esp_backtrace_print).
#include "loader_fixture.h"

// Not ELFObjectFile.h: through JSON.h it does not compile as C++20 with clang 14 and libstdc++ 12.
#include <llvm/Object/ObjectFile.h>
#include <llvm/Support/Format.h>
#include <llvm/Support/raw_ostream.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pty.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <thread>

namespace {

using namespace loader_e2e;

// A serial port at socket://127.0.0.1:port() that plays back one text per connection: each
// client but the last is sent its text and dropped (as a board that leaves the bus when reset);
// the last one's connection stays open until the test ends, unless `last_stays` is false, when the
// port then goes away for good.
class PlaybackPort {
public:
    explicit PlaybackPort(std::vector<std::string> sessions, bool last_stays = true)
        : sessions_(std::move(sessions)), last_stays_(last_stays) {
        listener_ = socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t length = sizeof address;
        if (bind(listener_, reinterpret_cast<sockaddr *>(&address), length) != 0 ||
            listen(listener_, 1) != 0 ||
            getsockname(listener_, reinterpret_cast<sockaddr *>(&address), &length) != 0)
            ADD_FAILURE() << "no loopback TCP port to listen on";
        port_ = ntohs(address.sin_port);
        server_ = std::thread([this] {
            for (size_t index = 0; index < sessions_.size(); ++index) {
                int client = accept(listener_, nullptr, nullptr);
                if (client < 0) return;
                (void)!write(client, sessions_[index].data(), sessions_[index].size());
                if (index + 1 == sessions_.size() && last_stays_)
                    while (!done_) std::this_thread::sleep_for(std::chrono::milliseconds(20));
                close(client);
            }
            if (!last_stays_) shutdown(listener_, SHUT_RDWR); // nobody answers any more
        });
    }
    explicit PlaybackPort(std::string text) : PlaybackPort(std::vector<std::string>{text}) {}
    ~PlaybackPort() {
        done_ = true;
        shutdown(listener_, SHUT_RDWR); // ends an accept() nobody came to
        server_.join();
        close(listener_);
    }
    std::string spec() const { return "socket://127.0.0.1:" + std::to_string(port_); }

private:
    std::vector<std::string> sessions_;
    bool last_stays_;
    int listener_ = -1;
    uint16_t port_ = 0;
    std::atomic<bool> done_{false};
    std::thread server_;
};

std::string hex(uint64_t address) {
    std::string text;
    llvm::raw_string_ostream(text) << llvm::format("0x%08llx", (unsigned long long)address);
    return text;
}

class Monitor : public LoaderE2E {
protected:
    // esp-loader with these arguments, with $ESP_ROM_ELF_DIR set to `rom_elf_dir` (unset when
    // empty); stdout and stderr together.
    LoaderRun run(std::vector<std::string> args, const std::string &rom_elf_dir = "") {
        std::vector<std::string> variables;
        if (!rom_elf_dir.empty()) variables.push_back("ESP_ROM_ELF_DIR=" + rom_elf_dir);
        return loaderWithEnvironment(std::move(args), "ESP_ROM_ELF_DIR=", variables);
    }

    static std::string romElfDir() { return std::string(ESPTOOLS_TEST_DATA_DIR) + "/rom_elfs"; }

    // A RISC-V panic report whose MEPC (0x40000210) and RA (0x40000150) are in the ESP32-C3's ROM.
    static std::string romPanic() {
        return "Guru Meditation Error: Core  0 panic'ed (Load access fault). Exception was "
               "unhandled.\r\n\r\nCore  0 register dump:\r\n"
               "MEPC    : 0x40000210  RA      : 0x40000150  SP      : 0x3fc8e6e0  GP      : "
               "0x3fc8a000\r\n\r\nRebooting...\r\n";
    }
};

// ESP-IDF prints an Xtensa chip's call stack as "Backtrace: PC:SP PC:SP ...", each PC already
// moved back to its call instruction (esp_cpu_process_stack_pc): each is named as it is, and code
// inlined into a function names both, innermost first (as addr2line -i).
TEST_P(Monitor, NamesEachFrameOfAnXtensaBacktrace) {
    const std::string elf = std::string(ESPTOOLS_TEST_DATA_DIR) + "/inputs/xtensa_backtrace.elf";
    const std::string source = std::string(ESPTOOLS_SOURCE_DIR) + "/tests/data/xtensa_backtrace.c";
    if (!llvm::sys::fs::exists(elf))
        GTEST_SKIP() << elf << " was not built: xtensa-lx106-elf-gcc (gcc-xtensa-lx106) is missing";
    auto binary = llvm::object::ObjectFile::createObjectFile(elf);
    ASSERT_TRUE(bool(binary)) << llvm::toString(binary.takeError());
    ASSERT_EQ(binary->getBinary()->getArch(), llvm::Triple::UnknownArch); // EM_XTENSA: LLVM 14
    // Where each function is, from the symbol table, and its line, from the source's markers.
    const std::string text = readText(source);
    auto where = [&](const char *function) {
        auto marker = text.find(std::string("/* line of ") + function + " */");
        EXPECT_NE(marker, std::string::npos) << function;
        return source + ":" +
               std::to_string(1 + std::count(text.begin(), text.begin() + long(marker), '\n'));
    };
    // Each function's start and end: the next code symbol's start (the file has no data between).
    std::map<std::string, std::pair<uint64_t, uint64_t>> functions; // name: start, size
    std::map<uint64_t, std::string> by_address;
    for (const auto &symbol : binary->getBinary()->symbols()) {
        auto name = symbol.getName();
        auto address = symbol.getAddress();
        auto type = symbol.getType();
        ASSERT_TRUE(name && address && type);
        if (*type == llvm::object::SymbolRef::ST_Function) by_address[*address] = name->str();
    }
    for (auto it = by_address.begin(); it != by_address.end(); ++it) {
        auto next = std::next(it);
        functions[it->second] = {it->first, next == by_address.end() ? 4 : next->first - it->first};
    }
    std::string backtrace = "Backtrace:";
    uint32_t sp = 0x3ffb0000;
    for (const char *function : {"leaf", "middle", "call_start_cpu0"}) {
        ASSERT_TRUE(functions.count(function)) << function;
        backtrace += " " + hex(functions[function].first) + ":" + hex(sp);
        sp += 0x20;
    }
    // Every address of middle(), a part of which is twice()'s inlined code.
    auto [middle, middle_size] = functions["middle"];
    std::string every_address = "Backtrace:";
    for (uint64_t address = middle; address < middle + middle_size; ++address)
        every_address += " " + hex(address) + ":" + hex(0x3ffb0000);
    PlaybackPort board(
        "Guru Meditation Error: Core  0 panic'ed (LoadProhibited). Exception was unhandled.\r\n"
        "\r\nCore  0 register dump:\r\nPC      : " +
        hex(functions["leaf"].first) + "  PS      : 0x00060730  A0      : 0x80201010  A1      : " +
        hex(0x3ffb0000) + "\r\n\r\n\r\n" + backtrace + " |<-CORRUPTED\r\n" + every_address +
        "\r\n\r\n\r\nRebooting...\r\n");

    LoaderRun monitor = run({"--port", board.spec(), "monitor", "--elf", elf, "--timeout", "20"});
    EXPECT_EQ(monitor.exit_code, 1) << monitor.out;
    EXPECT_NE(monitor.out.find("the chip panicked"), std::string::npos) << monitor.out;
    for (const char *function : {"leaf", "middle", "call_start_cpu0"})
        EXPECT_NE(monitor.out.find("--- " + hex(functions[function].first) + ": " + function +
                                   " at " + where(function) + "\n"),
                  std::string::npos)
            << function << "\n"
            << monitor.out;
    EXPECT_NE(monitor.out.find(": twice at " + where("twice") + " (inlined by) middle at " +
                               where("middle") + "\n"),
              std::string::npos)
        << monitor.out;
    // The stack pointers are data, not code: none is named.
    EXPECT_EQ(monitor.out.find("--- 0x3ffb"), std::string::npos) << monitor.out;
}

// With $ESP_ROM_ELF_DIR (ESP-IDF's export sets it to esp-rom-elfs), the ROM ELF of the chip's
// revision, or of the newest ROM revision before it, names ROM addresses.
TEST_P(Monitor, NamesRomAddressesFromTheRomElfOfTheChipsRevision) {
    struct Case {
        const char *revision;
        const char *rom_file, *rom_version;
        const char *mepc_function, *ra_function;
    };
    for (const Case &expected :
         {Case{"3", "esp32c3_rev3_rom.elf", "v0.3", "ets_printf", "uart_tx_one_char"},
          Case{"4", "esp32c3_rev3_rom.elf", "v0.3", "ets_printf", "uart_tx_one_char"},
          Case{"101", "esp32c3_rev3_rom.elf", "v0.3", "ets_printf", "uart_tx_one_char"},
          Case{"2", "esp32c3_rev0_rom.elf", "v0.0", "uart_tx_one_char", "ets_printf"}}) {
        PlaybackPort board(romPanic());
        LoaderRun monitor = run({"--chip", "esp32c3", "--port", board.spec(), "monitor",
                                 "--revision", expected.revision, "--timeout", "20"},
                                romElfDir());
        SCOPED_TRACE(std::string("--revision ") + expected.revision + "\n" + monitor.out);
        EXPECT_EQ(monitor.exit_code, 1);
        EXPECT_NE(monitor.out.find("--- ROM ELF " + romElfDir() + "/" + expected.rom_file +
                                   " (ROM " + expected.rom_version + ") for esp32c3 "),
                  std::string::npos);
        EXPECT_NE(monitor.out.find(std::string("--- 0x40000210: ") + expected.mepc_function),
                  std::string::npos);
        // RA is a return address: the call before it is what is named.
        EXPECT_NE(monitor.out.find(std::string("--- 0x40000150: ") + expected.ra_function),
                  std::string::npos);
    }
}

// Without --revision, the revision ESP-IDF's bootloader prints at boot ("chip revision: v0.4")
// picks the ROM ELF for the panic that follows.
TEST_P(Monitor, TheBootLogsChipRevisionPicksTheRomElf) {
    PlaybackPort board("ESP-ROM:esp32c3-api1-20210207\r\nI (29) boot: ESP-IDF v6.0.2 2nd stage "
                       "bootloader\r\nI (30) boot: chip revision: v0.4\r\nI (31) boot: efuse "
                       "block revision: v1.3\r\n" +
                       romPanic());
    LoaderRun monitor = run(
        {"--chip", "esp32c3", "--port", board.spec(), "monitor", "--timeout", "20"}, romElfDir());
    EXPECT_EQ(monitor.exit_code, 1) << monitor.out;
    const size_t boot_line = monitor.out.find("chip revision: v0.4"),
                 picked = monitor.out.find("--- ROM ELF " + romElfDir() +
                                           "/esp32c3_rev3_rom.elf (ROM v0.3) for esp32c3 v0.4 ---"),
                 named = monitor.out.find("--- 0x40000210: ets_printf");
    EXPECT_TRUE(boot_line < picked && picked < named && named != std::string::npos) << monitor.out;
}

// Without what picks a ROM ELF, the monitor says why ROM addresses go unnamed, and watches anyway.
TEST_P(Monitor, SaysWhyRomAddressesAreNotNamed) {
    struct Case {
        std::vector<std::string> args;
        std::string says;
    };
    for (const Case &expected :
         {Case{{"--chip", "esp32c3", "monitor"},
               "the ROM ELF is picked when the bootloader prints the chip revision"},
          Case{{"monitor", "--revision", "3"}, "give --chip to pick a ROM ELF"},
          Case{{"--chip", "esp32c6", "monitor", "--revision", "0"},
               "no ROM ELF for esp32c6 v0.0 in " + romElfDir()}}) {
        PlaybackPort board(romPanic());
        std::vector<std::string> args = {"--port", board.spec()};
        args.insert(args.end(), expected.args.begin(), expected.args.end());
        args.insert(args.end(), {"--timeout", "20"});
        LoaderRun monitor = run(args, romElfDir());
        SCOPED_TRACE(monitor.out);
        EXPECT_EQ(monitor.exit_code, 1);
        EXPECT_NE(monitor.out.find(expected.says), std::string::npos);
        EXPECT_NE(monitor.out.find("the chip panicked"), std::string::npos);
        EXPECT_EQ(monitor.out.find("--- 0x40000210:"), std::string::npos);
    }
    // A ROM ELF that does not load is named as such, not as an --elf the user gave, and the
    // monitor goes on without ROM names.
    {
        const std::string broken = path("broken_rom_elfs");
        ASSERT_FALSE(llvm::sys::fs::create_directory(broken));
        std::ofstream(broken + "/esp32c3_rev3_rom.elf") << "not an ELF file";
        PlaybackPort board(romPanic());
        LoaderRun monitor = run({"--chip", "esp32c3", "--port", board.spec(), "monitor",
                                 "--revision", "3", "--timeout", "20"},
                                broken);
        SCOPED_TRACE(monitor.out);
        EXPECT_NE(monitor.out.find("warning: ROM ELF " + broken + "/esp32c3_rev3_rom.elf: "),
                  std::string::npos);
        EXPECT_EQ(monitor.out.find("--elf"), std::string::npos);
        EXPECT_NE(monitor.out.find("the chip panicked"), std::string::npos);
    }
    // Without $ESP_ROM_ELF_DIR nothing is said about ROM ELFs.
    PlaybackPort board(romPanic());
    LoaderRun monitor = run({"--chip", "esp32c3", "--port", board.spec(), "monitor", "--revision",
                             "3", "--timeout", "20"});
    EXPECT_EQ(monitor.out.find("ROM"), std::string::npos) << monitor.out;
}

// After write-flash, the monitor knows the chip and its revision from the session: the ROM ELF
// is picked without --revision.
TEST_P(Monitor, AfterWriteFlashTheSessionsRevisionPicksTheRomElf) {
    randomFile("app.bin", 4096, 7);
    LoaderRun flashed = run({"--port", port("&rev=4"), "write-flash", "0x10000", path("app.bin"),
                             "--monitor", "--timeout", "0.5"},
                            romElfDir());
    EXPECT_NE(flashed.out.find("--- ROM ELF " + romElfDir() +
                               "/esp32c3_rev3_rom.elf (ROM v0.3) for esp32c3 v0.4 ---"),
              std::string::npos)
        << flashed.out;
}

// A port that goes away (a chip on its own USB re-enumerates when reset; a bridge restarts) is
// opened again by name, and the monitor goes on with what the chip prints then.
TEST_P(Monitor, WaitsForAPortThatWentAwayToComeBack) {
    PlaybackPort board(
        std::vector<std::string>{"I (10) app: first boot\r\n", "I (10) app: second boot\r\n"});
    LoaderRun monitor =
        run({"--port", board.spec(), "monitor", "--until", "second boot", "--timeout", "20"});
    EXPECT_EQ(monitor.exit_code, 0) << monitor.out;
    const size_t first = monitor.out.find("first boot"),
                 away = monitor.out.find("--- " + board.spec() + " went away; waiting up to 10 s"),
                 back = monitor.out.find("--- " + board.spec() + " is back ---"),
                 second = monitor.out.find("second boot");
    EXPECT_TRUE(first < away && away < back && back < second) << monitor.out;
}

// One that does not come back ends the monitor, bounded, with an error that says so.
TEST_P(Monitor, APortThatDoesNotComeBackEndsItWithAnError) {
    PlaybackPort board(std::vector<std::string>{"I (10) app: booted\r\n"}, false);
    const auto start = std::chrono::steady_clock::now();
    LoaderRun monitor = run({"--port", board.spec(), "monitor", "--timeout", "60"});
    const auto took = std::chrono::steady_clock::now() - start;
    EXPECT_EQ(monitor.exit_code, 1) << monitor.out;
    EXPECT_NE(monitor.out.find(board.spec() + " went away and did not come back within 10 s"),
              std::string::npos)
        << monitor.out;
    EXPECT_LT(took, std::chrono::seconds(30)); // not the --timeout
}

// Waiting for the port to come back ends with --timeout when that comes first: a CI job that
// gave the monitor 2 s is not held for the 10 s a port gets to come back.
TEST_P(Monitor, WaitingForAPortEndsAtTheTimeout) {
    PlaybackPort board(std::vector<std::string>{"I (10) app: booted\r\n"}, false);
    const auto start = std::chrono::steady_clock::now();
    LoaderRun monitor = run({"--port", board.spec(), "monitor", "--timeout", "2"});
    const auto took = std::chrono::steady_clock::now() - start;
    EXPECT_EQ(monitor.exit_code, 1) << monitor.out;
    EXPECT_NE(monitor.out.find("went away; waiting up to 10 s"), std::string::npos) << monitor.out;
    EXPECT_NE(monitor.out.find("--timeout 2 s passed"), std::string::npos) << monitor.out;
    EXPECT_LT(took, std::chrono::seconds(8));
}

// A terminal session: the monitor in a pseudo-terminal, keys typed as a user types them.
class TerminalSession {
public:
    explicit TerminalSession(const std::vector<std::string> &args) {
        std::vector<char *> argv;
        for (const std::string &arg : args) argv.push_back(const_cast<char *>(arg.c_str()));
        argv.push_back(nullptr);
        pid_ = forkpty(&terminal_, nullptr, nullptr, nullptr);
        if (pid_ == 0) {
            execv(argv[0], argv.data());
            _exit(127);
        }
    }
    ~TerminalSession() {
        if (pid_ > 0 && !exit_code_) {
            kill(pid_, SIGKILL);
            waitpid(pid_, nullptr, 0);
        }
        if (terminal_ >= 0) close(terminal_);
    }
    bool started() const { return pid_ > 0; }
    void type(const std::string &keys) { (void)!write(terminal_, keys.data(), keys.size()); }
    // Reads until `text` appears after `from` in what the terminal showed, for up to 20 s.
    bool waitFor(const std::string &text, size_t from = 0) {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        while (shown_.find(text, from) == std::string::npos) {
            if (std::chrono::steady_clock::now() > deadline || !readSome()) return false;
        }
        return true;
    }
    // The exit code, once the process ended (within 20 s).
    std::optional<int> exitCode() {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        while (!exit_code_ && std::chrono::steady_clock::now() < deadline) {
            int status = 0;
            if (waitpid(pid_, &status, WNOHANG) == pid_)
                exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            else
                readSome();
        }
        return exit_code_;
    }
    // True while the terminal reads keys one at a time, unechoed (the monitor's raw mode).
    bool raw() const {
        termios mode{};
        return tcgetattr(terminal_, &mode) == 0 && !(mode.c_lflag & (ICANON | ECHO));
    }
    const std::string &shown() const { return shown_; }

private:
    bool readSome() {
        pollfd input{terminal_, POLLIN, 0};
        if (poll(&input, 1, 50) < 0) return false;
        if (!(input.revents & POLLIN)) return true;
        char buffer[4096];
        ssize_t got = read(terminal_, buffer, sizeof buffer);
        if (got <= 0) return false;
        shown_.append(buffer, size_t(got));
        return true;
    }

    int terminal_ = -1;
    pid_t pid_ = -1;
    std::optional<int> exit_code_;
    std::string shown_;
};

// At a terminal, the monitor is idf.py monitor's: Ctrl-T Ctrl-R resets the chip (its ROM greets
// again), Ctrl-] quits with exit 0, and the terminal is given back as it was.
TEST_P(Monitor, AtATerminalCtrlTCtrlRResetsAndCtrlRightBracketQuits) {
    TerminalSession session({ESPTOOLS_LOADER, "--port", port(), "monitor"});
    ASSERT_TRUE(session.started());
    ASSERT_TRUE(session.waitFor("--- Quit: Ctrl+] | Reset: Ctrl+T followed by Ctrl+R ---"))
        << session.shown();
    ASSERT_TRUE(session.waitFor("rst:0x1 (POWERON)")) << session.shown();
    EXPECT_TRUE(session.raw());
    session.type("\x14\x12");
    ASSERT_TRUE(session.waitFor("--- Resetting the chip ---")) << session.shown();
    const size_t reset_at = session.shown().find("--- Resetting the chip ---");
    EXPECT_TRUE(session.waitFor("rst:0x1 (POWERON)", reset_at)) << session.shown();
    session.type("\x1d");
    EXPECT_EQ(session.exitCode(), std::optional<int>(0)) << session.shown();
    EXPECT_FALSE(session.raw()) << "the terminal was left in raw mode";
}

INSTANTIATE_TEST_SUITE_P(Rom, Monitor, testing::Values(Target{"esp32c3", false}),
                         [](const auto &) { return std::string("esp32c3"); });

} // namespace
