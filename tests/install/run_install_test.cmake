# cmake -P script: install, then build and run the consumer two ways.
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
set(PREFIX ${WORK_DIR}/prefix)

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  message(STATUS "${out}")
endfunction()

run(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${PREFIX})

set(SAN_FLAGS "")
if(SANITIZE)
  set(SAN_FLAGS "-fsanitize=${SANITIZE}")
endif()

# 1. pkg-config
set(ENV{PKG_CONFIG_PATH} "${PREFIX}/lib/pkgconfig:${PREFIX}/lib64/pkgconfig")
execute_process(COMMAND pkg-config --cflags --libs libmeter OUTPUT_VARIABLE flags
                RESULT_VARIABLE rc OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "pkg-config does not know libmeter")
endif()
separate_arguments(flags UNIX_COMMAND "${flags}")
separate_arguments(san UNIX_COMMAND "${SAN_FLAGS}")
run(${C_COMPILER} -std=c99 -Wall -Wextra -Werror ${san} ${SOURCE_DIR}/consumer.c ${flags}
    -Wl,-rpath,${PREFIX}/lib -o ${WORK_DIR}/consumer_pc)
run(${WORK_DIR}/consumer_pc)

# 2. find_package(libmeter)
file(MAKE_DIRECTORY ${WORK_DIR}/src)
configure_file(${SOURCE_DIR}/consumer.c ${WORK_DIR}/src/consumer.c COPYONLY)
configure_file(${SOURCE_DIR}/CMakeLists.consumer.txt ${WORK_DIR}/src/CMakeLists.txt COPYONLY)
run(${CMAKE_COMMAND} -S ${WORK_DIR}/src -B ${WORK_DIR}/build -DCMAKE_PREFIX_PATH=${PREFIX}
    -DCMAKE_C_COMPILER=${C_COMPILER} "-DCMAKE_C_FLAGS=${SAN_FLAGS}"
    "-DCMAKE_EXE_LINKER_FLAGS=${SAN_FLAGS}" -DCMAKE_BUILD_RPATH=${PREFIX}/lib)
run(${CMAKE_COMMAND} --build ${WORK_DIR}/build)
run(${WORK_DIR}/build/consumer)
