# Runs esp-loader for an EspTools target (cmake -P). Device settings come from the cache values
# baked into the target, overridden by the environment at run time: ESPPORT, ESPBAUD, ESPCHIP,
# ESPBEFORE, ESPAFTER. ESPTOOLS_MODE "plain" runs one command; "dump" reads back the images that
# a flash_args file lists.
cmake_minimum_required(VERSION 3.22)

foreach(setting PORT BAUD CHIP BEFORE AFTER)
  if(DEFINED ENV{ESP${setting}} AND NOT "$ENV{ESP${setting}}" STREQUAL "")
    set(ESPTOOLS_${setting} "$ENV{ESP${setting}}")
  endif()
endforeach()

set(global --chip "${ESPTOOLS_CHIP}" --baud "${ESPTOOLS_BAUD}" --before "${ESPTOOLS_BEFORE}" --after "${ESPTOOLS_AFTER}")
if(NOT "${ESPTOOLS_PORT}" STREQUAL "")
  list(PREPEND global --port "${ESPTOOLS_PORT}")
endif()
string(REPLACE "|" ";" arguments "${ESPTOOLS_ARGS}")

function(run_loader)
  execute_process(COMMAND "${ESPTOOLS_LOADER}" ${global} ${ARGN} RESULT_VARIABLE result)
  if(NOT result EQUAL 0)
    string(REPLACE ";" " " shown "${ARGN}")
    message(FATAL_ERROR "esp-loader ${shown} failed (${result})")
  endif()
endfunction()

if(ESPTOOLS_MODE STREQUAL "dump")
  # The argument is a flash_args file: each "OFFSET FILE" line is read back into FILE's
  # <stem>.dump.bin, as long as FILE is.
  file(STRINGS "${arguments}" lines)
  list(POP_FRONT lines) # the flash settings
  foreach(line IN LISTS lines)
    separate_arguments(words UNIX_COMMAND "${line}")
    list(GET words 0 offset)
    list(GET words 1 image)
    get_filename_component(stem "${image}" NAME_WE)
    file(SIZE "${image}" size)
    run_loader(read-flash ${offset} ${size} "${stem}.dump.bin")
  endforeach()
else()
  run_loader(${arguments})
endif()
