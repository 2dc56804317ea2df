# find_package(EspTools) after `cmake --install`: imported executables, then the functions.
get_filename_component(_esptools_prefix "${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)
foreach(_esptools_tool imagegen loader vchip)
  if(NOT TARGET EspTools::${_esptools_tool})
    add_executable(EspTools::${_esptools_tool} IMPORTED)
    set_target_properties(EspTools::${_esptools_tool} PROPERTIES
      IMPORTED_LOCATION "${_esptools_prefix}/bin/esp-${_esptools_tool}")
  endif()
endforeach()
include("${CMAKE_CURRENT_LIST_DIR}/EspTools.cmake")
set(EspTools_FOUND TRUE)
