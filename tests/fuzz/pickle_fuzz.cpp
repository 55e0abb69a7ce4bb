// Fuzz target: the pickle machine itself (core/io/torch_unpickler), without a file around it: every opcode
// sequence, memo and global a torch.save stream could hold.
#include "core/io/torch_pickle.h"
#include "fuzz_support.h"

using namespace scorch;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string what = "fuzz input.pkl";
  fuzz::refuse_only_by_name(what, [&] {
    size_t pos = 0;
    fuzz::touch(io::py::unpickle(std::string(reinterpret_cast<const char*>(data), size), &pos, nullptr, what), what);
  });
  return 0;
}
