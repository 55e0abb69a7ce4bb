// TfrecordSource: an index of (file, byte offset) per record built in one checked pass; read() seeks to the
// record, checks it again and decodes it, so even 1024^2 sets are never held in memory.
#include "data/tfrecord_source.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <regex>
#include <set>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/io/image_io.h"
#include "core/io/npz.h"
#include "core/io/protobuf_wire.h"
#include "core/io/tfrecord.h"

namespace scorch::data {

namespace fs = std::filesystem;

namespace {

// One tf.train.Feature: BytesList and Int64List values (FloatList is skipped; no image layout uses it).
struct Feature {
  std::vector<std::string_view> bytes;
  std::vector<int64_t> ints;
};

// tf.train.Example -> Features -> map<string, Feature>, field numbers from tensorflow/core/example/*.proto.
std::map<std::string, Feature, std::less<>> parse_example(std::string_view record, const std::string& what) {
  std::map<std::string, Feature, std::less<>> out;
  io::pb::Reader example(record, what);
  io::pb::Field f;
  while (example.next(f)) {
    if (f.number != 1 || f.type != io::pb::WireType::Bytes) continue;  // Example.features
    io::pb::Reader features(f.bytes, what);
    io::pb::Field entry;
    while (features.next(entry)) {
      if (entry.number != 1 || entry.type != io::pb::WireType::Bytes) continue;  // Features.feature map entry
      std::string key;
      Feature value;
      io::pb::Reader kv(entry.bytes, what);
      io::pb::Field part;
      while (kv.next(part)) {
        if (part.type != io::pb::WireType::Bytes) continue;
        if (part.number == 1) key = std::string(part.bytes);
        if (part.number != 2) continue;
        io::pb::Reader feature(part.bytes, what);
        io::pb::Field list;
        while (feature.next(list)) {
          if (list.type != io::pb::WireType::Bytes) continue;
          io::pb::Reader values(list.bytes, what);
          io::pb::Field v;
          while (values.next(v)) {
            if (v.number != 1) continue;
            if (list.number == 1 && v.type == io::pb::WireType::Bytes) value.bytes.push_back(v.bytes);
            if (list.number == 3 && v.type == io::pb::WireType::Varint)
              value.ints.push_back(static_cast<int64_t>(v.value));
            if (list.number == 3 && v.type == io::pb::WireType::Bytes)
              for (int64_t x : io::pb::packed_varints(v.bytes, what)) value.ints.push_back(x);
          }
        }
      }
      out[key] = std::move(value);
    }
  }
  return out;
}

const Feature* find(const std::map<std::string, Feature, std::less<>>& example, std::string_view key) {
  const auto it = example.find(key);
  return it == example.end() ? nullptr : &it->second;
}

std::string keys_of(const std::map<std::string, Feature, std::less<>>& example) {
  std::string s;
  for (const auto& [k, v] : example) s += (s.empty() ? "" : ", ") + k;
  return s.empty() ? "none" : s;
}

enum class Layout { ProgressiveGan, Encoded };

// The progressive-GAN level of a file name: NAME-r05.tfrecords -> 5, or -1.
int level_of(const std::string& path) {
  static const std::regex re(R"(-r(\d\d)\.tfrecords?$)");
  std::smatch m;
  const std::string name = fs::path(path).filename().string();
  return std::regex_search(name, m, re) ? std::stoi(m[1]) : -1;
}

class TfrecordSource : public Source {
 public:
  TfrecordSource(std::vector<std::string> files, TfrecordOptions options)
      : files_(std::move(files)), options_(options) {
    for (size_t fi = 0; fi < files_.size(); ++fi) {
      io::RecordReader reader(files_[fi]);
      std::string record;
      while (reader.next(record)) {
        const std::string what = fmt::format("{} record {}", files_[fi], reader.index());
        index(parse_example(record, what), what);
        entries_.push_back({fi, reader.offset(), reader.index()});
      }
    }
    SCORCH_CHECK(!entries_.empty(), "no records in {}", fmt::join(files_, ", "));
    read_label_file();
  }

  int64_t count() const override { return static_cast<int64_t>(entries_.size()); }
  std::vector<int64_t> shape() const override { return shape_; }
  bool has_labels() const override { return !labels_.empty(); }
  int64_t label(int64_t i) const override { return labels_.at(static_cast<size_t>(i)); }

  void read(int64_t i, uint8_t* dst) const override {
    const Entry& e = entries_.at(static_cast<size_t>(i));
    io::RecordReader reader(files_[e.file]);
    reader.seek(e.offset, e.record);
    std::string record;
    SCORCH_CHECK(reader.next(record), "{}: record {} is gone (file changed since it was indexed)", files_[e.file],
                 e.record);
    const std::string what = fmt::format("{} record {}", files_[e.file], e.record);
    const auto example = parse_example(record, what);
    const int64_t h = shape_[0], w = shape_[1], c = shape_[2];
    if (layout_ == Layout::ProgressiveGan) {
      const auto* data = find(example, "data")->bytes.at(0).data();
      for (int64_t y = 0; y < h; ++y)  // CHW -> HWC
        for (int64_t x = 0; x < w; ++x)
          for (int64_t ch = 0; ch < c; ++ch)
            dst[(y * w + x) * c + ch] = static_cast<uint8_t>(data[(ch * h + y) * w + x]);
      return;
    }
    const auto image =
        io::decode_image(std::string(find(example, "image/encoded")->bytes.at(0)), static_cast<int>(c), what);
    std::copy(image.pixels.begin(), image.pixels.end(), dst);
  }

  nlohmann::json describe() const override {
    return {{"type", "tfrecord"},
            {"layout", layout_ == Layout::ProgressiveGan ? "progressive_gan" : "image/encoded"},
            {"files", files_},
            {"labels", label_file_.empty() ? nlohmann::json(nullptr) : nlohmann::json(label_file_)}};
  }

 private:
  struct Entry {
    size_t file;
    uint64_t offset;
    int64_t record;
  };

  // Checks one record against the layout and size of the first and collects its label.
  void index(const std::map<std::string, Feature, std::less<>>& example, const std::string& what) {
    const bool pgan = find(example, "shape") && find(example, "data");
    const bool encoded = find(example, "image/encoded") != nullptr;
    SCORCH_CHECK(pgan || encoded,
                 "{}: not an image record (expected features shape + data, or image/encoded; found {})", what,
                 keys_of(example));
    const Layout layout = pgan ? Layout::ProgressiveGan : Layout::Encoded;
    std::vector<int64_t> shape;  // {H, W, C}
    if (pgan) {
      const auto& chw = find(example, "shape")->ints;
      // The side limit keeps H * W * C far from int64 overflow (a forged [1, 2^32, 2^32] wrapped to 0 bytes).
      constexpr int64_t kMaxSide = 1 << 16;
      SCORCH_CHECK(chw.size() == 3 && (chw[0] == 1 || chw[0] == 3) && chw[1] > 0 && chw[2] > 0 && chw[1] <= kMaxSide &&
                       chw[2] <= kMaxSide,
                   "{}: shape must be [C, H, W] with C 1 or 3 and H, W in 1..{}, got [{}]", what, kMaxSide,
                   fmt::join(chw, ", "));
      const auto& data = find(example, "data")->bytes;
      SCORCH_CHECK(data.size() == 1 && data[0].size() == static_cast<size_t>(chw[0] * chw[1] * chw[2]),
                   "{}: data holds {} bytes, shape [{}] needs {}", what, data.empty() ? 0 : data[0].size(),
                   fmt::join(chw, ", "), chw[0] * chw[1] * chw[2]);
      SCORCH_CHECK_HINT(!options_.grayscale || chw[0] == 1, "drop --grayscale",
                        "{}: --grayscale converts image/encoded records; progressive-GAN records are packed as "
                        "stored, here [{}]",
                        what, fmt::join(chw, ", "));
      shape = {chw[1], chw[2], chw[0]};
    } else {
      const auto& bytes = find(example, "image/encoded")->bytes;
      SCORCH_CHECK(bytes.size() == 1, "{}: image/encoded holds {} values, expected 1", what, bytes.size());
      // The header gives the size; the pixels are decoded once, when packing.
      const auto [h, w] = io::encoded_image_size(std::string(bytes[0]), what);
      shape = {h, w, options_.grayscale ? 1 : 3};
      if (const auto* label = find(example, "image/class/label")) {
        SCORCH_CHECK(label->ints.size() == 1, "{}: image/class/label holds {} values, expected 1", what,
                     label->ints.size());
        SCORCH_CHECK(label->ints[0] >= 0, "{}: image/class/label {} is negative", what, label->ints[0]);
        record_labels_.push_back(label->ints[0]);
      }
    }
    if (entries_.empty()) {
      layout_ = layout, shape_ = shape;
      if (options_.resolution > 0)
        SCORCH_CHECK(shape[0] == options_.resolution && shape[1] == options_.resolution,
                     "{}: images are {}x{}, --resolution asks for {}x{} (TFRecord images are not resized)", what,
                     shape[0], shape[1], options_.resolution, options_.resolution);
      return;
    }
    SCORCH_CHECK(layout == layout_, "{}: the layout changes from the first record's", what);
    SCORCH_CHECK(shape == shape_,
                 "{}: image is {}x{}x{}, the first record's {}x{}x{} (every image must be the same "
                 "size; export them to a folder and pack that with --resolution)",
                 what, shape[0], shape[1], shape[2], shape_[0], shape_[1], shape_[2]);
  }

  // image/encoded labels must be on every record or none; progressive-GAN labels come from NAME-rxx.labels.
  void read_label_file() {
    if (layout_ == Layout::Encoded) {
      SCORCH_CHECK(record_labels_.empty() || record_labels_.size() == entries_.size(),
                   "{} of {} records have image/class/label; it must be on all or none", record_labels_.size(),
                   entries_.size());
      labels_ = std::move(record_labels_);
      return;
    }
    std::set<std::string> candidates;
    for (const auto& f : files_) {
      const std::string name = fs::path(f).filename().string();
      const auto dash = name.rfind("-r");
      if (level_of(f) >= 0)
        candidates.insert((fs::path(f).parent_path() / (name.substr(0, dash) + "-rxx.labels")).string());
    }
    if (candidates.size() != 1 || !fs::exists(*candidates.begin())) return;
    label_file_ = *candidates.begin();
    auto labels = io::npz::parse_npy(read_file(label_file_), label_file_);
    if (labels.dim() == 2) labels = labels.argmax(1);
    SCORCH_CHECK(labels.dim() == 1 && !labels.is_floating_point() && labels.size(0) == count(),
                 "{}: expected {} class ids (or one-hot rows), got shape {}", label_file_, count(),
                 c10::str(labels.sizes()));
    labels = labels.to(torch::kInt64).contiguous();
    labels_.assign(labels.data_ptr<int64_t>(), labels.data_ptr<int64_t>() + labels.numel());
  }

  std::vector<std::string> files_;
  TfrecordOptions options_;
  std::vector<Entry> entries_;
  Layout layout_ = Layout::ProgressiveGan;
  std::vector<int64_t> shape_, labels_, record_labels_;
  std::string label_file_;
};

}  // namespace

std::vector<std::string> tfrecord_files(const std::vector<std::string>& inputs, int resolution) {
  std::vector<std::string> files;
  for (const auto& in : inputs) {
    SCORCH_CHECK(fs::exists(in), "TFRecord input '{}' does not exist", in);
    if (!fs::is_directory(in)) {
      files.push_back(in);
      continue;
    }
    std::vector<std::string> found;
    for (const auto& e : fs::directory_iterator(in)) {
      const auto ext = e.path().extension().string();
      if (e.is_regular_file() && (ext == ".tfrecords" || ext == ".tfrecord")) found.push_back(e.path().string());
    }
    SCORCH_CHECK(!found.empty(), "no .tfrecords files in folder '{}'", in);
    std::sort(found.begin(), found.end());
    files.insert(files.end(), found.begin(), found.end());
  }
  std::set<int> levels;
  for (const auto& f : files)
    if (level_of(f) >= 0) levels.insert(level_of(f));
  if (levels.size() <= 1 && resolution == 0) return files;
  std::string listed;
  for (int l : levels) listed += fmt::format("{}r{:02} ({}x{})", listed.empty() ? "" : ", ", l, 1 << l, 1 << l);
  SCORCH_CHECK_HINT(resolution > 0, "pass --resolution N to pick one", "the inputs hold several levels: {}", listed);
  const int want = static_cast<int>(std::lround(std::log2(resolution)));
  if (levels.empty()) return files;  // no level in the names: the size check while indexing decides
  std::vector<std::string> chosen;
  for (const auto& f : files)
    if (level_of(f) == want && (1 << want) == resolution) chosen.push_back(f);
  SCORCH_CHECK(!chosen.empty(), "no level for --resolution {} among the inputs' levels {}", resolution, listed);
  return chosen;
}

std::unique_ptr<Source> open_tfrecords(const std::vector<std::string>& inputs, const TfrecordOptions& options) {
  return std::make_unique<TfrecordSource>(tfrecord_files(inputs, options.resolution), options);
}

}  // namespace scorch::data
