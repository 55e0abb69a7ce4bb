// Version and build identity of this scorch binary (the commit is stamped at build time).
#pragma once

namespace scorch {
const char* version_string();
const char* git_commit();
}  // namespace scorch
