# Warnings, visibility and sanitizers for every target of the project.

set(METER_WARNING_FLAGS
  -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes
  -Wformat=2 -Wwrite-strings -Wpointer-arith -Wvla -Wundef)
if(METER_WERROR)
  list(APPEND METER_WARNING_FLAGS -Werror)
endif()

# Hidden by default; the public API is marked with METER_EXTERN.
set(CMAKE_C_VISIBILITY_PRESET hidden)
set(CMAKE_CXX_VISIBILITY_PRESET hidden)
set(CMAKE_VISIBILITY_INLINES_HIDDEN ON)

if(METER_SANITIZE)
  string(REPLACE "," ";" _san_list "${METER_SANITIZE}")
  set(METER_SANITIZE_FLAGS -fsanitize=${METER_SANITIZE} -fno-omit-frame-pointer -g)
  if("undefined" IN_LIST _san_list)
    list(APPEND METER_SANITIZE_FLAGS -fno-sanitize-recover=undefined)
  endif()
  add_compile_options(${METER_SANITIZE_FLAGS})
  add_link_options(${METER_SANITIZE_FLAGS})
endif()

# Fuzzing: coverage instrumentation for every object, so libFuzzer sees the
# library's branches, not only the harness's.
if(METER_FUZZERS)
  add_compile_options(-fsanitize=fuzzer-no-link,${METER_FUZZ_SANITIZE} -fno-sanitize-recover=undefined
                      -fno-omit-frame-pointer -g)
  add_link_options(-fsanitize=${METER_FUZZ_SANITIZE})
endif()

# Applied per target so that third-party code we do not own is not judged by
# our warning set.
function(meter_target_defaults target)
  target_compile_options(${target} PRIVATE ${METER_WARNING_FLAGS})
  target_compile_definitions(${target} PRIVATE _POSIX_C_SOURCE=200809L _DEFAULT_SOURCE)
endfunction()
