// Fuzz target: CIFAR-10 binary batches (data/sources open_cifar10), plain or gzipped.
#include "data/sources.h"
#include "fuzz_support.h"

using namespace scorch;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::input_file(data, size, "data_batch_1.bin");
  fuzz::refuse_only_by_name(path, [&] { fuzz::touch(*data::open_cifar10({path})); });
  return 0;
}
