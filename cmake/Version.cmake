# Regenerates build/generated/version.cpp on every build (rewritten only when the commit changes),
# so `scorch info` always names the commit the binary was built from.
add_custom_target(scorch_version_stamp
  COMMAND ${CMAKE_COMMAND} -DSRC=${CMAKE_SOURCE_DIR} -DOUT=${CMAKE_BINARY_DIR}/generated/version.cpp
          -DVERSION=${PROJECT_VERSION} -P ${CMAKE_SOURCE_DIR}/cmake/WriteVersion.cmake
  BYPRODUCTS ${CMAKE_BINARY_DIR}/generated/version.cpp
  COMMENT "scorch: stamping git commit")
