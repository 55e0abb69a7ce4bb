// TensorBoard event files: scalars and images under a log dir, readable by `tensorboard --logdir`.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "core/io/image_io.h"
#include "core/io/tfrecord.h"

namespace scorch::io {

// One writer is one new events.out.tfevents.<time>.<host>.<pid>.<n> file in `dir` (created when missing).
// Events reach the disk at flush(); call it once per log interval.
class EventWriter {
 public:
  // `start_step` >= 0 begins the file with a SessionLog START at that step: TensorBoard then forgets the
  // points of earlier files at that step and later, the ones an attempt logged after its last checkpoint
  // before it was killed. A run resumed from step N passes N + 1.
  explicit EventWriter(const std::string& dir, int64_t start_step = -1);

  void scalar(const std::string& tag, int64_t step, double value);
  void image(const std::string& tag, int64_t step, const Image& image);
  void flush() { records_->flush(); }
  const std::string& path() const { return records_->path(); }

 private:
  std::unique_ptr<RecordWriter> records_;
};

}  // namespace scorch::io
