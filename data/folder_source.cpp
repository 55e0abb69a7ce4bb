// FolderSource: a validation pass over all files (split over ranks, results all-gathered as JSON), then
// decoding again while packing; decoding twice keeps memory flat for folders of any size.
#include "data/folder_source.h"

#include <fmt/ranges.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "core/dist/communicator.h"
#include "core/error.h"
#include "core/io/image_io.h"
#include "core/progress.h"

namespace scorch::data {

namespace fs = std::filesystem;

namespace {

// The manifest and the ranks' exchanges hold names as JSON text, which must be UTF-8: a name that is not used to
// escape as nlohmann's "invalid UTF-8 byte" with no file named.
void check_utf8_name(const std::string& root, const std::string& name) {
  try {
    (void)nlohmann::json(name).dump();
  } catch (const nlohmann::json::type_error&) {
    const auto shown = nlohmann::json(name).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    SCORCH_FAIL(
        "image folder '{}': the name {} is not UTF-8 (class names and file names are recorded as text); "
        "rename it",
        root, shown);
  }
}

}  // namespace

std::vector<std::string> list_images(const std::string& root) {
  SCORCH_CHECK(fs::is_directory(root), "image folder '{}' does not exist", root);
  std::vector<std::string> files;
  try {
    for (const auto& e : fs::recursive_directory_iterator(root, fs::directory_options::follow_directory_symlink)) {
      if (!e.is_regular_file()) continue;
      std::string ext = e.path().extension().string();
      std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
      if (ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp" || ext == ".tif" || ext == ".tiff" ||
          ext == ".webp")
        files.push_back(fs::relative(e.path(), root).generic_string());
    }
  } catch (const fs::filesystem_error& e) {  // a symlink loop, a folder that cannot be read
    SCORCH_FAIL("image folder '{}': cannot list '{}': {}", root, e.path1().string(), e.code().message());
  }
  for (const auto& f : files) check_utf8_name(root, f);
  std::sort(files.begin(), files.end());  // byte order: the same dataset order on every machine
  return files;
}

FolderSource::FolderSource(const std::string& root, FolderOptions options, dist::Communicator& comm)
    : root_(root), options_(options) {
  const auto all = list_images(root);
  SCORCH_CHECK(!all.empty(), "image folder '{}' holds no .png/.jpg/.jpeg/.bmp/.tif/.tiff/.webp files", root);
  const int channels = options.grayscale ? 1 : 3;
  // Each rank checks files i % world == rank: decodable? which size?
  nlohmann::json mine = {{"bad", nlohmann::json::array()}, {"sizes", nlohmann::json::object()}};
  Progress progress("checking images", (static_cast<int64_t>(all.size()) + comm.world() - 1) / comm.world(), "img",
                    comm.rank() == 0);
  for (size_t i = comm.rank(); i < all.size(); i += comm.world()) {
    try {
      const io::Image im = io::read_image((fs::path(root) / all[i]).string(), channels);
      SCORCH_CHECK(options.crop <= std::min(im.height, im.width), "'{}' is {}x{}: smaller than --crop {}",
                   (fs::path(root) / all[i]).string(), im.height, im.width, options.crop);
      const std::string key = fmt::format("{}x{}", im.height, im.width);
      if (!mine["sizes"].contains(key)) mine["sizes"][key] = all[i];
    } catch (const Error& e) {
      mine["bad"].push_back({i, e.message()});
    }
    progress.add(1);
  }
  progress.finish();
  std::vector<bool> bad(all.size(), false);
  nlohmann::json sizes = nlohmann::json::object();
  std::vector<std::string> reasons;
  for (const auto& text : comm.all_gather(mine.dump())) {
    const auto j = nlohmann::json::parse(text);
    for (const auto& b : j["bad"]) bad[b[0].get<size_t>()] = true, reasons.push_back(b[1].get<std::string>());
    for (const auto& [k, v] : j["sizes"].items())
      if (!sizes.contains(k)) sizes[k] = v;
  }
  std::sort(reasons.begin(), reasons.end());
  if (!reasons.empty() && !options.skip_bad)
    throw Error(
        __FILE__, __LINE__,
        fmt::format("{} of {} images in '{}' cannot be used; first: {}", reasons.size(), all.size(), root, reasons[0]),
        "pass --skip-bad to leave them out");
  for (size_t i = 0; i < all.size(); ++i) (bad[i] ? skipped_ : files_).push_back(all[i]);
  SCORCH_CHECK(!files_.empty(), "no usable image in '{}'", root);
  if (options.resolution > 0 || options.crop > 0) {
    const int side = options.resolution > 0 ? options.resolution : options.crop;
    shape_ = {side, side, channels};
  } else {
    if (sizes.size() > 1) {
      auto it = sizes.items().begin();
      const std::string a = it.key(), fa = it.value();
      ++it;
      SCORCH_FAIL(
          "images in '{}' have different sizes ({} e.g. '{}', {} e.g. '{}'); pass --resolution N to centre-crop "
          "and resize them all to N x N",
          root, a, fa, it.key(), it.value().get<std::string>());
    }
    const std::string key = sizes.items().begin().key();
    const auto x = key.find('x');
    shape_ = {std::stoll(key.substr(0, x)), std::stoll(key.substr(x + 1)), channels};
  }
  label_by_folder();
}

void FolderSource::label_by_folder() {
  std::vector<std::string> folder_of;
  for (const auto& f : files_) {
    const auto slash = f.find('/');
    if (slash == std::string::npos) return;  // an image in the root: the folders are not classes
    folder_of.push_back(f.substr(0, slash));
  }
  // The classes are the root's folders, as torchvision's ImageFolder takes them, not those that kept an image: a
  // class without one shifted every later label, so two splits packed apart could disagree on them.
  for (const auto& e : fs::directory_iterator(root_))
    if (e.is_directory()) classes_.push_back(e.path().filename().string());
  std::sort(classes_.begin(), classes_.end());
  const std::set<std::string> used(folder_of.begin(), folder_of.end());
  std::vector<std::string> empty;
  for (const auto& c : classes_)
    if (!used.count(c)) empty.push_back(c);
  SCORCH_CHECK_HINT(empty.empty(),
                    "move folders that are not classes (hidden ones such as .ipynb_checkpoints too, as torchvision's "
                    "ImageFolder counts them) out of the root, or give every class images",
                    "class folder(s) '{}' of '{}' hold no usable image{}: a class without images would shift the "
                    "labels of the classes after it",
                    fmt::join(empty, "', '"), root_, skipped_.empty() ? "" : " (after --skip-bad)");
  for (const auto& c : folder_of)
    labels_.push_back(std::lower_bound(classes_.begin(), classes_.end(), c) - classes_.begin());
}

void FolderSource::read(int64_t index, uint8_t* dst) const {
  const std::string path = (fs::path(root_) / files_.at(index)).string();
  io::Image im = io::read_image(path, static_cast<int>(shape_[2]));
  if (options_.resolution > 0 || options_.crop > 0)
    im = io::center_crop_resize(im, static_cast<int>(shape_[0]), options_.crop, options_.filter);
  SCORCH_CHECK(im.height == shape_[0] && im.width == shape_[1], "'{}' is {}x{}, expected {}x{}", path, im.height,
               im.width, shape_[0], shape_[1]);
  std::memcpy(dst, im.pixels.data(), im.pixels.size());
}

nlohmann::json FolderSource::describe() const {
  return {{"type", "folder"},
          {"root", root_},
          {"resolution", options_.resolution},
          {"crop", options_.crop},
          {"resize_filter", io::resize_filter_name(options_.filter)},
          {"grayscale", options_.grayscale},
          {"files", files_.size()},
          {"skipped", skipped_},
          {"classes", classes_}};
}

}  // namespace scorch::data
