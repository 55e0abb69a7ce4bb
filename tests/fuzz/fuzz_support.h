// What every fuzz target shares: the input as a file, and the rule that a reader may only refuse its input
// with a scorch::Error that names it. Anything else (another exception type, an error that does not say
// which file) is a finding: the target aborts, and libFuzzer saves the input as a crash.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "core/io/py_value.h"
#include "data/sources.h"

namespace scorch::fuzz {

// Writes the input to `name` in a folder of this process under $TMPDIR and returns its path; the same path
// serves every input, and the folder goes when the process exits.
std::string input_file(const uint8_t* data, size_t size, const std::string& name);

// Runs `read`; a scorch::Error whose message contains `name` is an accepted refusal, everything else that
// escapes is reported and aborts.
void refuse_only_by_name(const std::string& name, const std::function<void()>& read);

// Reads every byte a reader handed back, through instrumented code, so that AddressSanitizer sees a tensor
// or buffer that points past its memory (LibTorch's own kernels are not instrumented).
void touch(const void* bytes, size_t size);
void touch(const torch::Tensor& t);
void touch(const io::py::Ref& root, const std::string& what);  // every leaf, tensors included, and its text
void touch(const data::Source& source);                        // every item and label

}  // namespace scorch::fuzz
