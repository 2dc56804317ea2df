# EspTools.cmake: firmware images and flash targets in a CMake build graph.
#
# Three ways in:
#   find_package(EspTools)             after `cmake --install` of EspTools (imported executables)
#   add_subdirectory(<EspTools>)       or FetchContent: the tools are built by the same project
#   include(<EspTools>/cmake/EspTools.cmake)  with the tools on PATH or in ESPTOOLS_TOOLS_DIR
#
# Functions (full example in the README):
#   esptools_add_image(<elf-target> CHIP <chip> [OUTPUT <file>] [FLASH_MODE m] [FLASH_FREQ f]
#                      [FLASH_SIZE s] [VERSION v] [RAM_ONLY] [EXTRA_ARGS ...])
#   esptools_add_load_ram_target(<elf-target>)
#   esptools_add_partition_table(CSV <file> [OFFSET 0x8000] [FLASH_SIZE s] [EXTRA_ARGS ...])
#   esptools_add_flash_targets(CHIP <chip> IMAGES <offset|APP> <elf-target|file> [...]
#                              [FLASH_MODE m] [FLASH_FREQ f] [FLASH_SIZE s])
#   esptools_add_firmware_test(NAME <test> TARGET <elf-target> EXPECT <regex> [CHIP <chip>]
#                              [VIA flash|load-ram] [FAIL <regex>] [TIMEOUT <s>] [PORT <port>])
#
# Device settings come from cache variables and can be overridden from the environment when a
# target runs (no reconfigure): ESPPORT, ESPBAUD, ESPCHIP, ESPBEFORE, ESPAFTER.
include_guard(GLOBAL)

set(ESPTOOLS_PORT "" CACHE STRING "Serial port, socket://host:port or vchip:CHIP[?options] (empty: auto-detect)")
set(ESPTOOLS_BAUD "460800" CACHE STRING "Baud rate for flashing")
set(ESPTOOLS_BEFORE "default-reset" CACHE STRING "Reset before connecting")
set(ESPTOOLS_AFTER "hard-reset" CACHE STRING "Reset after the command")
set(ESPTOOLS_TOOLS_DIR "" CACHE PATH "Where esp-imagegen and esp-loader are, when not built or installed with the project")

set(_ESPTOOLS_MODULE_DIR "${CMAKE_CURRENT_LIST_DIR}")

# Makes EspTools::imagegen and EspTools::loader exist, whichever way the module came in.
function(_esptools_define_tool alias target program)
  if(TARGET ${alias})
    return()
  endif()
  if(TARGET ${target})
    add_executable(${alias} ALIAS ${target})
    return()
  endif()
  find_program(_esptools_${target} ${program}
    HINTS ${ESPTOOLS_TOOLS_DIR} "${_ESPTOOLS_MODULE_DIR}/../bin"
    PATH_SUFFIXES bin tools/imagegen tools/loader)
  if(NOT _esptools_${target})
    message(FATAL_ERROR "EspTools: ${program} not found. Install EspTools, add it with "
      "add_subdirectory(), or set ESPTOOLS_TOOLS_DIR to the folder that holds ${program}.")
  endif()
  add_executable(${alias} IMPORTED GLOBAL)
  set_target_properties(${alias} PROPERTIES IMPORTED_LOCATION "${_esptools_${target}}")
endfunction()

macro(_esptools_require_imagegen)
  _esptools_define_tool(EspTools::imagegen esp-imagegen esp-imagegen)
endmacro()
macro(_esptools_require_loader)
  _esptools_define_tool(EspTools::loader esp-loader esp-loader)
endmacro()

# Image of an executable target, rebuilt when the ELF (or esp-imagegen) changes and only then.
function(esptools_add_image elf_target)
  cmake_parse_arguments(PARSE_ARGV 1 ARG "RAM_ONLY"
    "CHIP;OUTPUT;FLASH_MODE;FLASH_FREQ;FLASH_SIZE;VERSION" "EXTRA_ARGS")
  if(NOT ARG_CHIP)
    message(FATAL_ERROR "esptools_add_image(${elf_target}): CHIP is required")
  endif()
  _esptools_require_imagegen()
  if(NOT ARG_OUTPUT)
    set(ARG_OUTPUT "${CMAKE_CURRENT_BINARY_DIR}/${elf_target}.bin")
  endif()
  set(options)
  foreach(pair "FLASH_MODE;--flash-mode" "FLASH_FREQ;--flash-freq" "FLASH_SIZE;--flash-size" "VERSION;--version")
    list(GET pair 0 key)
    list(GET pair 1 flag)
    if(ARG_${key})
      list(APPEND options ${flag} ${ARG_${key}})
    endif()
  endforeach()
  if(ARG_RAM_ONLY)
    list(APPEND options --require-ram-only)
  endif()
  add_custom_command(
    OUTPUT "${ARG_OUTPUT}"
    COMMAND EspTools::imagegen --chip ${ARG_CHIP} elf2image ${options} ${ARG_EXTRA_ARGS}
            -o "${ARG_OUTPUT}" "$<TARGET_FILE:${elf_target}>"
    DEPENDS ${elf_target} "$<TARGET_FILE:EspTools::imagegen>"
    COMMENT "Creating ${ARG_CHIP} image ${ARG_OUTPUT}"
    VERBATIM)
  add_custom_target(${elf_target}-image ALL DEPENDS "${ARG_OUTPUT}")
  set_target_properties(${elf_target}-image PROPERTIES
    ESPTOOLS_IMAGE_FILE "${ARG_OUTPUT}" ESPTOOLS_CHIP "${ARG_CHIP}")
endfunction()

# Runs esp-loader with the device settings, read when the target runs (see EspToolsRun.cmake).
function(_esptools_loader_command out_var chip mode)
  set(arguments ${ARGN})
  string(REPLACE ";" "|" arguments "${arguments}")
  set(${out_var}
    "${CMAKE_COMMAND}"
    "-DESPTOOLS_LOADER=$<TARGET_FILE:EspTools::loader>"
    "-DESPTOOLS_CHIP=${chip}"
    "-DESPTOOLS_PORT=${ESPTOOLS_PORT}"
    "-DESPTOOLS_BAUD=${ESPTOOLS_BAUD}"
    "-DESPTOOLS_BEFORE=${ESPTOOLS_BEFORE}"
    "-DESPTOOLS_AFTER=${ESPTOOLS_AFTER}"
    "-DESPTOOLS_MODE=${mode}"
    "-DESPTOOLS_ARGS=${arguments}"
    -P "${_ESPTOOLS_MODULE_DIR}/EspToolsRun.cmake"
    PARENT_SCOPE)
endfunction()

function(_esptools_image_file out_var item)
  if(TARGET ${item}-image)
    get_target_property(file ${item}-image ESPTOOLS_IMAGE_FILE)
    set(${out_var} "${file}" PARENT_SCOPE)
  else()
    get_filename_component(file "${item}" ABSOLUTE)
    set(${out_var} "${file}" PARENT_SCOPE)
  endif()
endfunction()

# load_ram: the image must have RAM segments only (built with RAM_ONLY, so the build fails first).
function(esptools_add_load_ram_target elf_target)
  if(NOT TARGET ${elf_target}-image)
    message(FATAL_ERROR "esptools_add_load_ram_target(${elf_target}): call esptools_add_image(${elf_target} ... RAM_ONLY) first")
  endif()
  get_target_property(image ${elf_target}-image ESPTOOLS_IMAGE_FILE)
  get_target_property(chip ${elf_target}-image ESPTOOLS_CHIP)
  _esptools_require_loader()
  _esptools_loader_command(command ${chip} plain load-ram "${image}")
  add_custom_target(${elf_target}-load-ram COMMAND ${command} DEPENDS ${elf_target}-image USES_TERMINAL VERBATIM
    COMMENT "Loading ${image} into RAM and running it")
  if(NOT TARGET load_ram)
    add_custom_target(load_ram)
  endif()
  add_dependencies(load_ram ${elf_target}-load-ram)
endfunction()

# A partition table built from CSV with `esp-imagegen partition-table` (ESP-IDF's
# gen_esp32part.py rules) into partition_table/partition-table.bin; esptools_add_flash_targets
# then flashes it at OFFSET and can place the app at its app partition (offset APP).
function(esptools_add_partition_table)
  cmake_parse_arguments(PARSE_ARGV 0 ARG "" "CSV;OFFSET;FLASH_SIZE" "EXTRA_ARGS")
  if(NOT ARG_CSV)
    message(FATAL_ERROR "esptools_add_partition_table: CSV is required")
  endif()
  if(TARGET partition_table)
    message(FATAL_ERROR "esptools_add_partition_table: called twice (a build has one table)")
  endif()
  if(NOT ARG_OFFSET)
    set(ARG_OFFSET 0x8000)
  endif()
  _esptools_require_imagegen()
  get_filename_component(csv "${ARG_CSV}" ABSOLUTE)
  set(output "${CMAKE_BINARY_DIR}/partition_table/partition-table.bin")
  set(options --offset ${ARG_OFFSET})
  if(ARG_FLASH_SIZE)
    list(APPEND options --flash-size ${ARG_FLASH_SIZE})
  endif()
  add_custom_command(OUTPUT "${output}"
    COMMAND EspTools::imagegen partition-table "${csv}" "${output}" ${options} ${ARG_EXTRA_ARGS}
    DEPENDS "${csv}" "$<TARGET_FILE:EspTools::imagegen>"
    COMMENT "Building the partition table ${output}" VERBATIM)
  add_custom_target(partition_table ALL DEPENDS "${output}")
  set_target_properties(partition_table PROPERTIES
    ESPTOOLS_IMAGE_FILE "${output}" ESPTOOLS_TABLE_OFFSET "${ARG_OFFSET}")
endfunction()

# flash, verify, erase_flash, run, dump, merged and <name>-flash, plus flash_args and
# flasher_args.json in ESP-IDF's schema (EspToolsFlashArgs.cmake). An IMAGES offset may be APP:
# the partition table's factory (else ota_0) partition. An image at a partition's start must fit it.
function(esptools_add_flash_targets)
  cmake_parse_arguments(PARSE_ARGV 0 ARG "" "CHIP;FLASH_MODE;FLASH_FREQ;FLASH_SIZE" "IMAGES")
  if(TARGET flash)
    message(FATAL_ERROR "esptools_add_flash_targets: called twice (the flash targets exist already)")
  endif()
  list(LENGTH ARG_IMAGES count)
  math(EXPR odd "${count} % 2")
  if(count EQUAL 0 OR odd)
    message(FATAL_ERROR "esptools_add_flash_targets: IMAGES takes <offset> <image-target-or-file> pairs")
  endif()
  _esptools_require_imagegen()
  _esptools_require_loader()
  foreach(key FLASH_MODE FLASH_FREQ FLASH_SIZE)
    if(NOT ARG_${key})
      set(ARG_${key} keep) # esptool's word for "as the image has it"
    endif()
  endforeach()
  if(TARGET partition_table)
    get_target_property(table partition_table ESPTOOLS_IMAGE_FILE)
    get_target_property(table_offset partition_table ESPTOOLS_TABLE_OFFSET)
    list(APPEND ARG_IMAGES ${table_offset} partition_table)
  else()
    set(table "")
  endif()

  set(image_targets)
  set(image_files)
  set(entries)
  set(names)
  set(elf_options) # the ELFs of the flash set, whose addresses the monitor names
  list(LENGTH ARG_IMAGES count)
  math(EXPR last "${count} - 1")
  foreach(index RANGE 0 ${last} 2)
    math(EXPR file_index "${index} + 1")
    list(GET ARG_IMAGES ${index} offset)
    list(GET ARG_IMAGES ${file_index} item)
    if(offset STREQUAL "APP" AND NOT TARGET partition_table)
      message(FATAL_ERROR "esptools_add_flash_targets: offset APP needs esptools_add_partition_table() first")
    endif()
    if(item STREQUAL "partition_table")
      set(file "${table}")
      set(name partition-table)
      list(APPEND image_targets partition_table)
    else()
      _esptools_image_file(file "${item}")
      get_filename_component(name "${file}" NAME_WE)
      if(offset STREQUAL "APP")
        set(name app)
      endif()
      if(TARGET ${item}-image)
        list(APPEND image_targets ${item}-image)
        list(APPEND elf_options --elf "$<TARGET_FILE:${item}>")
        if(NOT offset STREQUAL "APP")
          set(name ${item})
        endif()
      endif()
    endif()
    list(APPEND image_files "${file}")
    list(APPEND names ${name})
    list(APPEND entries "${name}=${offset}=${file}")
  endforeach()

  string(REPLACE ";" "|" entry_list "${entries}")
  set(outputs "${CMAKE_BINARY_DIR}/flash_args" "${CMAKE_BINARY_DIR}/flasher_args.json")
  foreach(name IN LISTS names)
    list(APPEND outputs "${CMAKE_BINARY_DIR}/${name}-flash_args")
  endforeach()
  add_custom_command(OUTPUT ${outputs}
    COMMAND "${CMAKE_COMMAND}" "-DIMAGEGEN=$<TARGET_FILE:EspTools::imagegen>"
            "-DBUILD_DIR=${CMAKE_BINARY_DIR}" "-DCHIP=${ARG_CHIP}"
            "-DFLASH_MODE=${ARG_FLASH_MODE}" "-DFLASH_FREQ=${ARG_FLASH_FREQ}"
            "-DFLASH_SIZE=${ARG_FLASH_SIZE}" "-DBEFORE=${ESPTOOLS_BEFORE}" "-DAFTER=${ESPTOOLS_AFTER}"
            "-DENTRIES=${entry_list}" "-DTABLE=${table}"
            -P "${_ESPTOOLS_MODULE_DIR}/EspToolsFlashArgs.cmake"
    DEPENDS ${image_targets} ${image_files} "${_ESPTOOLS_MODULE_DIR}/EspToolsFlashArgs.cmake"
    COMMENT "Writing flash_args and flasher_args.json" VERBATIM)
  add_custom_target(esptools_flash_args ALL DEPENDS ${outputs})

  foreach(name IN LISTS names)
    _esptools_loader_command(command ${ARG_CHIP} plain write-flash "@${name}-flash_args")
    add_custom_target(${name}-flash COMMAND ${command} DEPENDS esptools_flash_args
      WORKING_DIRECTORY "${CMAKE_BINARY_DIR}" USES_TERMINAL VERBATIM COMMENT "Flashing ${name}")
  endforeach()
  _esptools_loader_command(command ${ARG_CHIP} plain write-flash @flash_args)
  add_custom_target(flash COMMAND ${command} DEPENDS esptools_flash_args
    WORKING_DIRECTORY "${CMAKE_BINARY_DIR}" USES_TERMINAL VERBATIM COMMENT "Flashing ${ARG_CHIP}")
  _esptools_loader_command(command ${ARG_CHIP} plain verify-flash @flash_args)
  add_custom_target(verify COMMAND ${command} DEPENDS esptools_flash_args
    WORKING_DIRECTORY "${CMAKE_BINARY_DIR}" USES_TERMINAL VERBATIM
    COMMENT "Verifying the flash against the images")
  _esptools_loader_command(command ${ARG_CHIP} plain erase-flash)
  add_custom_target(erase_flash COMMAND ${command} USES_TERMINAL VERBATIM COMMENT "Erasing the flash")
  _esptools_loader_command(command ${ARG_CHIP} plain run)
  add_custom_target(run COMMAND ${command} USES_TERMINAL VERBATIM COMMENT "Running the firmware")
  # The monitor resets the chip into its app and names the addresses of a panic dump.
  _esptools_loader_command(command ${ARG_CHIP} plain monitor ${elf_options})
  add_custom_target(monitor COMMAND ${command} USES_TERMINAL VERBATIM COMMENT "Monitoring ${ARG_CHIP}")
  _esptools_loader_command(command ${ARG_CHIP} plain write-flash @flash_args --monitor ${elf_options})
  add_custom_target(flash_monitor COMMAND ${command} DEPENDS esptools_flash_args
    WORKING_DIRECTORY "${CMAKE_BINARY_DIR}" USES_TERMINAL VERBATIM
    COMMENT "Flashing ${ARG_CHIP}, then monitoring it")
  _esptools_loader_command(command ${ARG_CHIP} dump "${CMAKE_BINARY_DIR}/flash_args")
  add_custom_target(dump COMMAND ${command} DEPENDS esptools_flash_args
    WORKING_DIRECTORY "${CMAKE_BINARY_DIR}" USES_TERMINAL VERBATIM
    COMMENT "Reading the flashed regions back into ${CMAKE_BINARY_DIR}")

  set(merged "${CMAKE_BINARY_DIR}/merged-flash.bin")
  add_custom_command(OUTPUT "${merged}"
    COMMAND EspTools::imagegen --chip ${ARG_CHIP} merge-bin -o "${merged}" @flash_args
    DEPENDS esptools_flash_args ${outputs} "$<TARGET_FILE:EspTools::imagegen>"
    WORKING_DIRECTORY "${CMAKE_BINARY_DIR}"
    COMMENT "Merging the images into ${merged}" VERBATIM)
  add_custom_target(merged DEPENDS "${merged}")
endfunction()

# A CTest test that runs firmware and passes when its output matches EXPECT: esp-loader puts the
# image on a fresh virtual chip (or on PORT, a real board), starts it and watches its output with
# the monitor (--until EXPECT --fail-on FAIL --timeout TIMEOUT), naming a panic's addresses from
# the ELF. VIA flash writes the flash set (flash_args) when the image is in it, else the image at
# 0x0 (an image the ROM boots); VIA load-ram loads it into RAM. Build before running ctest.
function(esptools_add_firmware_test)
  cmake_parse_arguments(PARSE_ARGV 0 ARG "" "NAME;TARGET;CHIP;VIA;EXPECT;FAIL;TIMEOUT;PORT" "")
  foreach(required NAME TARGET EXPECT)
    if(NOT ARG_${required})
      message(FATAL_ERROR "esptools_add_firmware_test: ${required} is required")
    endif()
  endforeach()
  if(NOT TARGET ${ARG_TARGET}-image)
    message(FATAL_ERROR "esptools_add_firmware_test(${ARG_NAME}): call esptools_add_image(${ARG_TARGET} ...) first")
  endif()
  get_target_property(image ${ARG_TARGET}-image ESPTOOLS_IMAGE_FILE)
  if(NOT ARG_CHIP)
    get_target_property(ARG_CHIP ${ARG_TARGET}-image ESPTOOLS_CHIP)
  endif()
  if(NOT ARG_VIA)
    set(ARG_VIA flash)
  endif()
  if(NOT ARG_VIA MATCHES "^(flash|load-ram)$")
    message(FATAL_ERROR "esptools_add_firmware_test(${ARG_NAME}): VIA is flash or load-ram, not '${ARG_VIA}'")
  endif()
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 30)
  endif()
  if(NOT ARG_TIMEOUT MATCHES "^[1-9][0-9]*$")
    message(FATAL_ERROR "esptools_add_firmware_test(${ARG_NAME}): TIMEOUT is whole seconds, not '${ARG_TIMEOUT}'")
  endif()
  _esptools_require_loader()
  set(fresh_flash "")
  if(NOT ARG_PORT)
    set(fresh_flash "${CMAKE_CURRENT_BINARY_DIR}/firmware_tests/${ARG_NAME}.flash.bin")
    set(ARG_PORT "vchip:${ARG_CHIP}?flash=${fresh_flash}")
  endif()
  add_test(NAME ${ARG_NAME}
    COMMAND "${CMAKE_COMMAND}"
            "-DESPTOOLS_LOADER=$<TARGET_FILE:EspTools::loader>" "-DESPTOOLS_CHIP=${ARG_CHIP}"
            "-DESPTOOLS_PORT=${ARG_PORT}" "-DESPTOOLS_BAUD=${ESPTOOLS_BAUD}"
            "-DESPTOOLS_BEFORE=${ESPTOOLS_BEFORE}" "-DESPTOOLS_AFTER=hard-reset"
            "-DESPTOOLS_MODE=firmware-test" "-DESPTOOLS_VIA=${ARG_VIA}" "-DESPTOOLS_IMAGE=${image}"
            "-DESPTOOLS_FRESH_FLASH=${fresh_flash}" "-DESPTOOLS_ELF=$<TARGET_FILE:${ARG_TARGET}>"
            "-DESPTOOLS_EXPECT=${ARG_EXPECT}" "-DESPTOOLS_FAIL=${ARG_FAIL}"
            "-DESPTOOLS_TIMEOUT=${ARG_TIMEOUT}"
            -P "${_ESPTOOLS_MODULE_DIR}/EspToolsRun.cmake"
    WORKING_DIRECTORY "${CMAKE_BINARY_DIR}")
  math(EXPR ctest_timeout "${ARG_TIMEOUT} + 60")
  set_tests_properties(${ARG_NAME} PROPERTIES TIMEOUT ${ctest_timeout})
  if(NOT ARG_PORT MATCHES "^vchip:")
    set_tests_properties(${ARG_NAME} PROPERTIES RESOURCE_LOCK "${ARG_PORT}")
  endif()
endfunction()
