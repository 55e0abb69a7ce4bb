# scorch_library(NAME DIR DEPS...): one static library per part, sources globbed from DIR so that
# adding a file needs no CMake edit. A part with no sources yet is an INTERFACE library.
function(scorch_library name dir)
  file(GLOB_RECURSE _srcs CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/${dir}/*.cpp)
  if(NOT _srcs)
    add_library(${name} INTERFACE)
    target_include_directories(${name} INTERFACE ${CMAKE_SOURCE_DIR} ${CMAKE_BINARY_DIR}/generated)
    target_link_libraries(${name} INTERFACE ${ARGN})
    return()
  endif()
  add_library(${name} STATIC ${_srcs})
  target_include_directories(${name} PUBLIC ${CMAKE_SOURCE_DIR} ${CMAKE_BINARY_DIR}/generated)
  target_link_libraries(${name} PUBLIC ${ARGN})
  scorch_use_pch(${name})
endfunction()

# The torch headers cost ~20 s per unit on this machine; one PCH, shared by every target.
function(scorch_use_pch target)
  if(NOT SCORCH_USE_PCH)
    return()
  endif()
  if(NOT TARGET scorch_pch)
    add_library(scorch_pch STATIC ${CMAKE_SOURCE_DIR}/cmake/pch_anchor.cpp)
    # GCC rejects a PCH built with other macro definitions, so the anchor links every dependency that
    # adds compile definitions (FMT_SHARED, SPDLOG_*, HDF5's, ...) exactly as the consumers do.
    target_link_libraries(scorch_pch PUBLIC ${SCORCH_PCH_DEPS})
    target_precompile_headers(scorch_pch PRIVATE ${CMAKE_SOURCE_DIR}/cmake/pch.h)
  endif()
  if(NOT target STREQUAL "scorch_pch")
    target_precompile_headers(${target} REUSE_FROM scorch_pch)
  endif()
endfunction()
