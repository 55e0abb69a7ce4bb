// Event and Summary protobufs (tensorflow/core/util/event.proto, framework/summary.proto) written by hand:
// the handful of fields below is all TensorBoard's scalar and image dashboards read.
#include "core/io/tensorboard.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>

#include "core/io/protobuf_wire.h"

namespace scorch::io {
namespace {

// Field numbers of the protobuf messages.
enum EventField { kWallTime = 1, kStep = 2, kFileVersion = 3, kSummary = 5, kSessionLog = 7 };
enum SessionLogField { kStatus = 1 };
constexpr int kSessionStart = 1;
enum SummaryField { kValue = 1 };
enum ValueField { kTag = 1, kSimpleValue = 2, kImage = 4 };
enum ImageField { kHeight = 1, kWidth = 2, kColorspace = 3, kEncoded = 4 };

double wall_time() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string event(int64_t step, const pb::Writer& summary) {
  pb::Writer e;
  e.float64(kWallTime, wall_time()).int64(kStep, step).message(kSummary, summary);
  return e.str();
}

// TensorBoard reads the files of a dir in name order, so a resumed run's file must sort after the killed
// attempt's even when both start within one second: its time field is made later than any file's there.
std::string file_name(const std::filesystem::path& dir) {
  static std::atomic<int> counter{0};
  char host[256] = "localhost";
  gethostname(host, sizeof host - 1);
  int64_t seconds =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  const std::string prefix = "events.out.tfevents.";
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    try {
      seconds = std::max<int64_t>(seconds, std::stoll(name.substr(prefix.size())) + 1);
    } catch (const std::exception&) {
      // not a time field: a file TensorBoard reads in any order anyway
    }
  }
  return fmt::format("{}{}.{}.{}.{}", prefix, seconds, host, ::getpid(), counter++);
}

}  // namespace

EventWriter::EventWriter(const std::string& dir, int64_t start_step) {
  std::filesystem::create_directories(dir);
  records_ = std::make_unique<RecordWriter>((std::filesystem::path(dir) / file_name(dir)).string());
  // Version 2 tells TensorBoard to purge on SessionLog START rather than on any step that goes backwards.
  pb::Writer first;
  first.float64(kWallTime, wall_time()).bytes(kFileVersion, "brain.Event:2");
  records_->write(first.str());
  if (start_step >= 0) {
    pb::Writer status, start;
    status.varint(kStatus, kSessionStart);
    start.float64(kWallTime, wall_time()).int64(kStep, start_step).message(kSessionLog, status);
    records_->write(start.str());
  }
  records_->flush();
}

void EventWriter::scalar(const std::string& tag, int64_t step, double value) {
  pb::Writer v, s;
  v.bytes(kTag, tag).float32(kSimpleValue, static_cast<float>(value));
  s.message(kValue, v);
  records_->write(event(step, s));
}

void EventWriter::image(const std::string& tag, int64_t step, const Image& image) {
  pb::Writer img, v, s;
  img.int64(kHeight, image.height).int64(kWidth, image.width).int64(kColorspace, image.channels);
  img.bytes(kEncoded, encode_png(image));
  v.bytes(kTag, tag).message(kImage, img);
  s.message(kValue, v);
  records_->write(event(step, s));
}

}  // namespace scorch::io
