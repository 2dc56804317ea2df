# Runs esp-loader for an EspTools target (cmake -P). Device settings come from the cache values
# baked into the target, overridden by the environment at run time: ESPPORT, ESPBAUD, ESPCHIP,
# ESPBEFORE, ESPAFTER. ESPTOOLS_MODE "plain" runs one command; "dump" reads back each
# (offset, image, output) triple's length of flash.
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
  list(LENGTH arguments count)
  math(EXPR last "${count} - 1")
  foreach(index RANGE 0 ${last} 3)
    math(EXPR image_index "${index} + 1")
    math(EXPR output_index "${index} + 2")
    list(GET arguments ${index} offset)
    list(GET arguments ${image_index} image)
    list(GET arguments ${output_index} output)
    file(SIZE "${image}" size)
    run_loader(read-flash ${offset} ${size} "${output}")
  endforeach()
else()
  run_loader(${arguments})
endif()
