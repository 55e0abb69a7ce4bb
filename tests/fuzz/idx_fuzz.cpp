// Fuzz target: IDX files (data/sources open_idx: MNIST, Fashion-MNIST), plain or gzipped; the input's last byte says
// where the rest splits into an images file and a labels file.
#include "data/sources.h"
#include "fuzz_support.h"

using namespace scorch;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t cut = data[size - 1] * (size - 1) / 256;
  const std::string images = fuzz::input_file(data, cut, "images-idx3-ubyte");
  const std::string labels = fuzz::input_file(data + cut, size - 1 - cut, "labels-idx1-ubyte");
  fuzz::refuse_only_by_name("-idx", [&] { fuzz::touch(*data::open_idx(images, labels)); });
  return 0;
}
