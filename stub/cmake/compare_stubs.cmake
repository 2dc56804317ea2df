# Fails when a rebuilt stub differs from the committed one in any byte.
foreach(chip ${CHIPS})
  file(READ ${BUILT}/${chip}.json built)
  file(READ ${PREBUILT}/${chip}.json committed)
  if(NOT built STREQUAL committed)
    message(FATAL_ERROR "stub/prebuilt/${chip}.json differs from the rebuilt stub: run the stubs-update target and commit")
  endif()
endforeach()
message(STATUS "all ${CHIPS} stubs match the committed build")
