# Turns stub/chips/esp8266/rom.ld ("name = 0xADDRESS;" lines) into the fake ROM's entry points: a jump
# to fake_<name> (fake_rom.c) at each address, so the test serves exactly the addresses the stub
# calls. A routine without a fake_<name> fails the link.
#   cmake -DROM_LD=... -DOUT_S=... -DOUT_LD=... -P generate_rom_entries.cmake
file(STRINGS ${ROM_LD} lines REGEX "^[ \t]*[A-Za-z_][A-Za-z0-9_]*[ \t]*=[ \t]*0x[0-9A-Fa-f]+[ \t]*;")
set(assembly "/* Generated from ${ROM_LD} by generate_rom_entries.cmake. */\n")
set(script "/* Generated from ${ROM_LD} by generate_rom_entries.cmake. */\nSECTIONS\n{\n")
foreach(line ${lines})
  string(REGEX MATCH "([A-Za-z_][A-Za-z0-9_]*)[ \t]*=[ \t]*(0x[0-9A-Fa-f]+)" _ "${line}")
  set(name ${CMAKE_MATCH_1})
  set(address ${CMAKE_MATCH_2})
  string(APPEND assembly "    .section .rom.${name}, \"ax\"\n    j fake_${name}\n")
  string(APPEND script "  .rom.${name} ${address} : { KEEP(*(.rom.${name})) }\n")
endforeach()
if(NOT lines)
  message(FATAL_ERROR "${ROM_LD} names no ROM routine")
endif()
string(APPEND script "}\n")
file(WRITE ${OUT_S} "${assembly}")
file(WRITE ${OUT_LD} "${script}")
