// Fuzz target: TFRecord files of tf.Example images (data/tfrecord_source): score_sde's CelebA-HQ/FFHQ sets.
#include "data/tfrecord_source.h"
#include "fuzz_support.h"

using namespace scorch;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::input_file(data, size, "input-r02.tfrecords");
  fuzz::refuse_only_by_name(path, [&] { fuzz::touch(*data::open_tfrecords({path}, {})); });
  return 0;
}
