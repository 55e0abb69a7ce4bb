# Finds every external dependency once; targets below link the imported targets they need.
set(TORCH_CUDA_ARCH_LIST "8.0;9.0")
find_package(Torch REQUIRED)
find_package(MPI REQUIRED COMPONENTS CXX)
find_package(HDF5 REQUIRED COMPONENTS C)
find_package(fmt REQUIRED)
find_package(spdlog REQUIRED)
find_package(yaml-cpp REQUIRED)
find_package(CLI11 REQUIRED)
find_package(nlohmann_json REQUIRED)
find_package(Threads REQUIRED)
find_package(ZLIB REQUIRED)  # .npz archives (core/io/npz)
find_package(OpenSSL REQUIRED COMPONENTS Crypto)  # SHA-256 checksums (core/sha256)
find_path(STB_INCLUDE_DIR stb_image.h PATH_SUFFIXES stb REQUIRED)
# Debian's libstb-dev compiles the stb implementations into libstb: link it, never define STB_*_IMPLEMENTATION.
find_library(STB_LIBRARY stb REQUIRED)
# The decoders of core/io/image_codecs.h: libjpeg-turbo (what PIL and TensorFlow decode JPEG with), libtiff, libwebp.
find_package(JPEG REQUIRED)
find_package(TIFF REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(WEBP REQUIRED IMPORTED_TARGET libwebp)

# LibTorch ships fmt 12 headers in its include dir, which precedes /usr/include; Debian's spdlog needs
# Debian's fmt 9. A -I directory holding only a link to Debian's fmt wins over torch's -isystem one.
find_path(SCORCH_DEBIAN_FMT_DIR fmt/format.h PATHS /usr/include NO_DEFAULT_PATH REQUIRED)
file(MAKE_DIRECTORY ${CMAKE_BINARY_DIR}/fmt-shim)
file(CREATE_LINK ${SCORCH_DEBIAN_FMT_DIR}/fmt ${CMAKE_BINARY_DIR}/fmt-shim/fmt SYMBOLIC)
include_directories(BEFORE ${CMAKE_BINARY_DIR}/fmt-shim)

# Torch's CMake flags carry -D_GLIBCXX_USE_CXX11_ABI; everything we link must agree with them.
separate_arguments(_torch_flags UNIX_COMMAND "${TORCH_CXX_FLAGS}")
add_compile_options(${_torch_flags})

set(SCORCH_CUDA_ENABLED OFF)
if(SCORCH_WITH_CUDA)
  find_package(CUDAToolkit QUIET)
  find_library(NCCL_LIBRARY nccl HINTS ${CUDAToolkit_LIBRARY_DIR} ${CUDAToolkit_LIBRARY_ROOT}/lib)
  find_path(NCCL_INCLUDE_DIR nccl.h HINTS ${CUDAToolkit_INCLUDE_DIRS})
  if(CUDAToolkit_FOUND AND NCCL_LIBRARY AND NCCL_INCLUDE_DIR)
    set(SCORCH_CUDA_ENABLED ON)
    enable_language(CUDA)  # core/models/*.cu (LibTorch's CMake enables it too, but need not)
    add_library(scorch_nccl INTERFACE)
    target_include_directories(scorch_nccl INTERFACE ${NCCL_INCLUDE_DIR})
    target_link_libraries(scorch_nccl INTERFACE ${NCCL_LIBRARY} CUDA::cudart)
    message(STATUS "scorch: CUDA ${CUDAToolkit_VERSION}, NCCL ${NCCL_LIBRARY}: CUDA paths ON")
  else()
    message(STATUS "scorch: CUDA toolkit or NCCL not found: CUDA paths OFF")
  endif()
endif()

find_package(GTest QUIET)
set(SCORCH_PCH_DEPS ${TORCH_LIBRARIES} MPI::MPI_CXX HDF5::HDF5 fmt::fmt spdlog::spdlog yaml-cpp
    nlohmann_json::nlohmann_json CLI11::CLI11 Threads::Threads)
if(SCORCH_CUDA_ENABLED)
  list(APPEND SCORCH_PCH_DEPS scorch_nccl)
endif()

# The torch wheel's libtorch.so exports its own, partly broken copy of std::filesystem (remove_all
# jumps to address 0). Symbols resolve in DT_NEEDED order, so libstdc++ must come before libtorch:
# linking it first, ahead of every object and library, makes ours the definitions that win.
add_link_options(-Wl,--push-state,--no-as-needed,-lstdc++,--pop-state)
