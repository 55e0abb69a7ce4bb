// Versions of the communication libraries this binary runs with, for `scorch info`.
#pragma once
#include <string>

namespace scorch::dist {

std::string mpi_library_version();  // first line of MPI_Get_library_version
std::string nccl_version();         // "2.x.y", or "not built" without the CUDA paths

}  // namespace scorch::dist
