# stubs-update for the ESP8266: the RISC-V part of the target rewrites prebuilt/BUILDINFO with its
# own "compiler" line, then this appends the "xtensa-compiler" line that LINE_FILE holds.
#   cmake -DLINE_FILE=... -DBUILDINFO=... -P append_buildinfo.cmake
file(READ ${LINE_FILE} line)
file(APPEND ${BUILDINFO} "${line}")
