// Calls to Python globals inside a torch pickle (REDUCE / NEWOBJ), resolved to values; internal to the reader.
#pragma once
#include <string>
#include <vector>

#include "core/io/py_value.h"

namespace scorch::io::py {

// `name` is "module.qualname". Known callables become values (dicts, tensors, numbers, bytes); any other
// becomes an opaque Object holding its arguments, which a consumer that needs it names in its error.
// Throws scorch::Error (naming `what`) for malformed arguments, e.g. a tensor view outside its storage.
Ref call_global(const std::string& name, const std::vector<Ref>& args, const std::string& what);

}  // namespace scorch::io::py
