# Driven by ctest (see tests/CMakeLists.txt):
#   cmake -DRELISH_MODE=install|subdirectory -DRELISH_SOURCE_DIR=... -DRELISH_WORK_DIR=...
#         -DRELISH_PACKAGE_TEST_DIR=... [-DRELISH_GENERATOR=...] [-DRELISH_CXX_COMPILER=...]
#         -P run.cmake
#
# install:      install the source tree into <work>/prefix, then build tests/package/consumer
#               against it with find_package(relish) and run it.
# subdirectory: build tests/package/subdir_consumer, which add_subdirectory()s the source tree.

foreach(var RELISH_MODE RELISH_SOURCE_DIR RELISH_WORK_DIR RELISH_PACKAGE_TEST_DIR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run.cmake: -D${var}=... is required")
  endif()
endforeach()

set(common_args -DCMAKE_BUILD_TYPE=Release)
if(RELISH_GENERATOR)
  list(APPEND common_args -G "${RELISH_GENERATOR}")
endif()
if(RELISH_CXX_COMPILER)
  list(APPEND common_args "-DCMAKE_CXX_COMPILER=${RELISH_CXX_COMPILER}")
endif()

# Run a command; stop with its output if it fails.
function(run_step name)
  message(STATUS "[${name}] ${ARGN}")
  execute_process(COMMAND ${ARGN}
    RESULT_VARIABLE result
    OUTPUT_VARIABLE output
    ERROR_VARIABLE output)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "[${name}] failed (${result}):\n${output}")
  endif()
endfunction()

file(REMOVE_RECURSE "${RELISH_WORK_DIR}")
file(MAKE_DIRECTORY "${RELISH_WORK_DIR}")

if(RELISH_MODE STREQUAL "install")
  set(prefix "${RELISH_WORK_DIR}/prefix")
  run_step(configure-relish ${CMAKE_COMMAND} ${common_args}
    -S "${RELISH_SOURCE_DIR}" -B "${RELISH_WORK_DIR}/build"
    -DRELISH_BUILD_TESTS=OFF -DRELISH_BUILD_EXAMPLES=OFF -DRELISH_BUILD_BENCHMARKS=OFF
    -DRELISH_INSTALL=ON
    "-DCMAKE_INSTALL_PREFIX=${prefix}")
  run_step(build-relish ${CMAKE_COMMAND} --build "${RELISH_WORK_DIR}/build")
  run_step(install-relish ${CMAKE_COMMAND} --install "${RELISH_WORK_DIR}/build")
  set(consumer_src "${RELISH_PACKAGE_TEST_DIR}/consumer")
  set(consumer_args "-DCMAKE_PREFIX_PATH=${prefix}")
elseif(RELISH_MODE STREQUAL "subdirectory")
  set(consumer_src "${RELISH_PACKAGE_TEST_DIR}/subdir_consumer")
  set(consumer_args "-DRELISH_SOURCE_DIR=${RELISH_SOURCE_DIR}")
else()
  message(FATAL_ERROR "run.cmake: RELISH_MODE must be 'install' or 'subdirectory'")
endif()

set(consumer_build "${RELISH_WORK_DIR}/consumer-build")
run_step(configure-consumer ${CMAKE_COMMAND} ${common_args}
  -S "${consumer_src}" -B "${consumer_build}" ${consumer_args})
run_step(build-consumer ${CMAKE_COMMAND} --build "${consumer_build}")

# Single-config generators put the binary at the top of the build dir; multi-config ones in
# a per-configuration folder.
set(consumer_exe "")
foreach(candidate "${consumer_build}/relish_consumer" "${consumer_build}/Release/relish_consumer")
  if(EXISTS "${candidate}")
    set(consumer_exe "${candidate}")
    break()
  endif()
endforeach()
if(NOT consumer_exe)
  message(FATAL_ERROR "relish_consumer was not built in ${consumer_build}")
endif()
run_step(run-consumer "${consumer_exe}")
message(STATUS "${RELISH_MODE} consumer built and ran")
