# The libFuzzer targets of tests/fuzz: a clang project of its own (tests/fuzz/CMakeLists.txt), built into
# build/fuzz as part of every build when clang and libFuzzer are installed; CTest runs each target
# (tests/CMakeLists.txt). The main build stays GCC's: only the readers are compiled a second time, instrumented.
option(SCORCH_BUILD_FUZZ "Build the libFuzzer targets of tests/fuzz (needs clang with libFuzzer)" ON)
set(SCORCH_FUZZ_ENABLED OFF)
set(SCORCH_FUZZ_WHY_NOT "SCORCH_BUILD_FUZZ is OFF")
if(SCORCH_BUILD_FUZZ AND SCORCH_BUILD_TESTS)
  find_program(SCORCH_FUZZ_CXX NAMES clang++ clang++-14)
  find_program(SCORCH_FUZZ_CC NAMES clang clang-14)
  set(SCORCH_FUZZ_WHY_NOT "clang is not installed (apt install clang libclang-rt-14-dev)")
  if(SCORCH_FUZZ_CXX AND SCORCH_FUZZ_CC)
    # A one-line fuzz target decides whether this clang links libFuzzer and the sanitizers.
    set(_probe ${CMAKE_BINARY_DIR}/fuzz-probe.cpp)
    file(WRITE ${_probe} "#include <cstddef>\n#include <cstdint>\n"
                         "extern \"C\" int LLVMFuzzerTestOneInput(const uint8_t*, size_t) { return 0; }\n")
    execute_process(COMMAND ${SCORCH_FUZZ_CXX} -fsanitize=fuzzer,address,undefined ${_probe} -o
                            ${CMAKE_BINARY_DIR}/fuzz-probe RESULT_VARIABLE _rc OUTPUT_QUIET ERROR_QUIET)
    if(_rc EQUAL 0)
      set(SCORCH_FUZZ_ENABLED ON)
    else()
      set(SCORCH_FUZZ_WHY_NOT "${SCORCH_FUZZ_CXX} cannot link -fsanitize=fuzzer (apt install libclang-rt-14-dev)")
    endif()
  endif()
endif()

if(SCORCH_FUZZ_ENABLED)
  include(ExternalProject)
  ExternalProject_Add(scorch_fuzz
    SOURCE_DIR ${CMAKE_SOURCE_DIR}/tests/fuzz
    BINARY_DIR ${CMAKE_BINARY_DIR}/fuzz
    CMAKE_GENERATOR ${CMAKE_GENERATOR}
    CMAKE_ARGS -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER=${SCORCH_FUZZ_CC} -DCMAKE_CXX_COMPILER=${SCORCH_FUZZ_CXX}
               -DTorch_DIR=${Torch_DIR} -DSCORCH_USE_CCACHE=${SCORCH_USE_CCACHE}
    BUILD_ALWAYS ON
    INSTALL_COMMAND "")
  message(STATUS "scorch: fuzz targets with ${SCORCH_FUZZ_CXX} in ${CMAKE_BINARY_DIR}/fuzz")
else()
  message(STATUS "scorch: no fuzz targets: ${SCORCH_FUZZ_WHY_NOT}")
endif()
