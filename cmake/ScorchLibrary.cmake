# scorch_library(NAME DIR DEPS...): one static library per folder, sources globbed from DIR (not its
# subfolders, which are libraries of their own) so that adding a file needs no CMake edit. DEPS are the only
# libraries whose headers NAME may include: a part that includes a header of a part it does not list fails
# to compile, which is how the layering in docs/architecture.md is enforced.
function(scorch_library name dir)
  file(GLOB _srcs CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/${dir}/*.cpp)
  add_library(${name} STATIC ${_srcs})
  target_include_directories(${name} PUBLIC ${CMAKE_SOURCE_DIR} ${CMAKE_BINARY_DIR}/generated)
  target_link_libraries(${name} PUBLIC ${ARGN})
  scorch_use_pch(${name})
  scorch_use_unity(${name})
  set_property(GLOBAL APPEND PROPERTY SCORCH_LIBRARIES ${name})
  set_property(GLOBAL PROPERTY SCORCH_DIR_${name} ${dir})
  set_property(GLOBAL PROPERTY SCORCH_DEPS_${name} ${ARGN})
endfunction()

# Writes FILE with one line per scorch library, "dir=dir1,dir2,..." (the folders of every scorch library it
# links, directly or through them), for the include check in cmake/CheckLayering.cmake.
function(scorch_write_layers file)
  get_property(_libs GLOBAL PROPERTY SCORCH_LIBRARIES)
  set(_text "")
  foreach(_lib IN LISTS _libs)
    set(_todo ${_lib})
    set(_seen "")
    while(_todo)
      list(POP_FRONT _todo _t)
      get_property(_deps GLOBAL PROPERTY SCORCH_DEPS_${_t})
      foreach(_d IN LISTS _deps)
        if(_d IN_LIST _libs AND NOT _d IN_LIST _seen)
          list(APPEND _seen ${_d})
          list(APPEND _todo ${_d})
        endif()
      endforeach()
    endwhile()
    set(_dirs "")
    foreach(_d IN LISTS _seen)
      get_property(_dd GLOBAL PROPERTY SCORCH_DIR_${_d})
      list(APPEND _dirs ${_dd})
    endforeach()
    get_property(_dir GLOBAL PROPERTY SCORCH_DIR_${_lib})
    string(REPLACE ";" "," _dirs "${_dirs}")
    string(APPEND _text "${_dir}=${_dirs}\n")
  endforeach()
  file(WRITE ${file} "${_text}")
endfunction()

# Unity builds: SCORCH_UNITY_BATCH sources of one target compiled as one unit. Every unit pays for the
# torch templates it instantiates (the PCH only saves parsing), so fewer, larger units build a clean tree
# several times faster (docs/dev.md has the figures). 0 turns them off, e.g. to hunt an error in one file.
set(SCORCH_UNITY_BATCH 8 CACHE STRING "Sources per unity-build unit (0: no unity build)")
function(scorch_use_unity target)
  if(SCORCH_UNITY_BATCH GREATER 0)
    set_target_properties(${target} PROPERTIES UNITY_BUILD ON UNITY_BUILD_BATCH_SIZE ${SCORCH_UNITY_BATCH}
                                               UNITY_BUILD_MODE BATCH)
  endif()
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
