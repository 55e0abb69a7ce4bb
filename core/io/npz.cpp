// .npy parsing/formatting and the minimal zip container (stored + deflate, zip64) that .npz files use.
#include "core/io/npz.h"

#include <zlib.h>

#include <cstring>
#include <regex>

#include "core/atomic_file.h"
#include "core/error.h"

namespace scorch::io::npz {

namespace {

const std::string kMagic = "\x93NUMPY";

struct DtypeCode {
  const char* descr;  // numpy's dtype string, little-endian where it matters
  torch::ScalarType type;
};
const DtypeCode kDtypes[] = {{"<f8", torch::kDouble}, {"<f4", torch::kFloat}, {"<f2", torch::kHalf},
                             {"<i8", torch::kLong},   {"<i4", torch::kInt},   {"<i2", torch::kShort},
                             {"|i1", torch::kChar},   {"|u1", torch::kByte},  {"|b1", torch::kBool}};

uint64_t get_le(const std::string& b, size_t at, int n, const std::string& what) {
  SCORCH_CHECK(at + n <= b.size(), "{}: truncated zip structure at byte {}", what, at);
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(b[at + i]);
  return v;
}

void put_le(std::string& b, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) b.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

std::string inflate_raw(const std::string& in, size_t out_size, const std::string& what) {
  std::string out(out_size, '\0');
  z_stream zs{};
  SCORCH_CHECK(inflateInit2(&zs, -MAX_WBITS) == Z_OK, "{}: zlib inflateInit2 failed", what);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  const int rc = inflate(&zs, Z_FINISH);
  inflateEnd(&zs);
  SCORCH_CHECK(rc == Z_STREAM_END && zs.total_out == out_size, "{}: corrupt deflate data (zlib code {})", what, rc);
  return out;
}

uint32_t crc_of(const std::string& data) {
  uLong crc = crc32(0L, Z_NULL, 0);
  const size_t chunk = 1u << 30;  // crc32 takes uInt lengths
  for (size_t at = 0; at < data.size(); at += chunk)
    crc = crc32(crc, reinterpret_cast<const Bytef*>(data.data() + at),
                static_cast<uInt>(std::min(chunk, data.size() - at)));
  return static_cast<uint32_t>(crc);
}

}  // namespace

torch::Tensor parse_npy(const std::string& b, const std::string& what) {
  SCORCH_CHECK(b.size() >= 10 && b.compare(0, 6, kMagic) == 0, "{}: not a .npy array (bad magic)", what);
  const int major = static_cast<unsigned char>(b[6]);
  SCORCH_CHECK(major >= 1 && major <= 3, "{}: unsupported .npy version {}", what, major);
  const size_t len_bytes = major == 1 ? 2 : 4;
  const size_t header_len = get_le(b, 8, static_cast<int>(len_bytes), what);
  const size_t data_at = 8 + len_bytes + header_len;
  SCORCH_CHECK(data_at <= b.size(), "{}: truncated .npy header", what);
  const std::string header = b.substr(8 + len_bytes, header_len);

  std::smatch m;
  SCORCH_CHECK(std::regex_search(header, m, std::regex("'descr':\\s*'([^']*)'")), "{}: .npy header without descr: {}",
               what, header);
  std::string descr = m[1];
  if (descr.size() == 3 && descr[0] == '=') descr[0] = '<';  // native order on a little-endian host
  const DtypeCode* code = nullptr;
  for (const auto& d : kDtypes)
    if (descr == d.descr || (!descr.empty() && descr.substr(1) == std::string(d.descr).substr(1) && d.descr[0] == '|'))
      code = &d;
  SCORCH_CHECK(code, "{}: unsupported dtype '{}' (expected little-endian f8/f4/f2/i8/i4/i2/i1/u1/b1)", what, descr);
  const bool fortran = std::regex_search(header, std::regex("'fortran_order':\\s*True"));
  SCORCH_CHECK(std::regex_search(header, m, std::regex("'shape':\\s*\\(([^)]*)\\)")), "{}: .npy header without shape",
               what);
  std::vector<int64_t> shape;
  const std::string dims = m[1];
  const std::regex number("\\d+");
  // The element count is bounded by the bytes present before it is multiplied further, so nothing overflows.
  const uint64_t have = b.size() - data_at;
  uint64_t count = 1, nonzero = 1;  // an empty array's other dimensions must still make a shape
  for (std::sregex_iterator it(dims.begin(), dims.end(), number), end; it != end; ++it) {
    SCORCH_CHECK(it->str().size() <= 12, "{}: .npy shape ({}) is larger than any array", what, dims);
    const uint64_t d = std::stoull(it->str());
    shape.push_back(static_cast<int64_t>(d));
    count = d == 0 || count == 0 ? 0 : (d > have / count ? have + 1 : count * d);
    nonzero = std::max<uint64_t>(d, 1) > (uint64_t{1} << 40) / nonzero ? uint64_t{1} << 40
                                                                       : nonzero * std::max<uint64_t>(d, 1);
  }
  SCORCH_CHECK(nonzero < uint64_t{1} << 40, "{}: .npy shape ({}) is larger than any array", what, dims);
  const uint64_t elem = c10::elementSize(code->type);
  SCORCH_CHECK(count <= have && count * elem == have, "{}: .npy data holds {} bytes, shape ({}) of {} needs {}", what,
               have, dims, descr, count <= have ? fmt::to_string(count * elem) : "more than the file holds");
  const size_t nbytes = static_cast<size_t>(count * elem);
  // Fortran order is C order of the reversed shape, transposed back.
  std::vector<int64_t> stored(shape);
  if (fortran) std::reverse(stored.begin(), stored.end());
  auto t = torch::empty(stored, torch::TensorOptions().dtype(code->type));
  if (nbytes) std::memcpy(t.data_ptr(), b.data() + data_at, nbytes);
  if (fortran && t.dim() > 1) {
    std::vector<int64_t> perm(t.dim());
    for (int64_t i = 0; i < t.dim(); ++i) perm[i] = t.dim() - 1 - i;
    t = t.permute(perm).contiguous();
  }
  return t;
}

std::string format_npy(const torch::Tensor& tensor) {
  auto t = tensor.detach().to(torch::kCPU).contiguous();
  const DtypeCode* code = nullptr;
  for (const auto& d : kDtypes)
    if (d.type == t.scalar_type()) code = &d;
  SCORCH_CHECK(code, "cannot write dtype {} to .npy", c10::toString(t.scalar_type()));
  std::string shape;
  for (auto d : t.sizes()) shape += std::to_string(d) + ", ";
  if (t.dim() > 1) shape.resize(shape.size() - 2);  // numpy writes (n,) for 1-d, (a, b) otherwise
  std::string header = fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': ({}), }}", code->descr, shape);
  // numpy pads with spaces so that the data starts on a 64-byte boundary, then ends with '\n'.
  const size_t unpadded = kMagic.size() + 4 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header.push_back('\n');
  std::string out = kMagic + std::string("\x01\x00", 2);
  put_le(out, header.size(), 2);
  out += header;
  out.append(static_cast<const char*>(t.data_ptr()), t.nbytes());
  return out;
}

ArrayMap read_npz(const std::string& path) {
  const std::string b = read_file(path);
  // End of central directory: the last "PK\5\6" record (a comment may follow it).
  const size_t eocd = b.rfind(std::string("PK\x05\x06", 4));
  SCORCH_CHECK(eocd != std::string::npos, "{}: not an .npz (zip) file", path);
  uint64_t entries = get_le(b, eocd + 10, 2, path);
  uint64_t cd_at = get_le(b, eocd + 16, 4, path);
  if (cd_at == 0xffffffffu || entries == 0xffffu) {  // zip64: the locator sits just before the EOCD
    SCORCH_CHECK(eocd >= 20 && get_le(b, eocd - 20, 4, path) == 0x07064b50u, "{}: zip64 locator missing", path);
    const uint64_t z64 = get_le(b, eocd - 20 + 8, 8, path);
    entries = get_le(b, z64 + 32, 8, path);
    cd_at = get_le(b, z64 + 48, 8, path);
  }
  ArrayMap out;
  size_t at = cd_at;
  for (uint64_t e = 0; e < entries; ++e) {
    SCORCH_CHECK(get_le(b, at, 4, path) == 0x02014b50u, "{}: bad central directory entry {}", path, e);
    const int method = static_cast<int>(get_le(b, at + 10, 2, path));
    uint64_t csize = get_le(b, at + 20, 4, path), usize = get_le(b, at + 24, 4, path);
    const size_t name_len = get_le(b, at + 28, 2, path), extra_len = get_le(b, at + 30, 2, path),
                 comment_len = get_le(b, at + 32, 2, path);
    uint64_t local = get_le(b, at + 42, 4, path);
    const std::string name = b.substr(at + 46, name_len);
    // zip64 extra field (id 1): the 0xffffffff fields, in the order usize, csize, offset.
    for (size_t x = at + 46 + name_len; x + 4 <= at + 46 + name_len + extra_len;) {
      const uint64_t id = get_le(b, x, 2, path), len = get_le(b, x + 2, 2, path);
      if (id == 1) {
        size_t f = x + 4;
        if (usize == 0xffffffffu) usize = get_le(b, f, 8, path), f += 8;
        if (csize == 0xffffffffu) csize = get_le(b, f, 8, path), f += 8;
        if (local == 0xffffffffu) local = get_le(b, f, 8, path);
      }
      x += 4 + len;
    }
    at += 46 + name_len + extra_len + comment_len;

    const std::string what = path + ":" + name;
    SCORCH_CHECK(get_le(b, local, 4, path) == 0x04034b50u, "{}: bad local header", what);
    const size_t data_at = local + 30 + get_le(b, local + 26, 2, path) + get_le(b, local + 28, 2, path);
    SCORCH_CHECK(data_at <= b.size() && csize <= b.size() - data_at, "{}: entry runs past the end of the file", what);
    std::string raw = b.substr(data_at, csize);
    SCORCH_CHECK(method == 0 || method == 8, "{}: zip method {} (only stored and deflate are supported)", what, method);
    // Deflate expands at most ~1032:1; a larger claim is a forged size, refused before it is allocated.
    SCORCH_CHECK(method == 0 || usize <= 1032 * csize + 64,
                 "{}: claims {} bytes inflated from {} compressed, more than deflate can produce (a zip bomb or a "
                 "forged header)",
                 what, usize, csize);
    if (method == 8) raw = inflate_raw(raw, usize, what);
    std::string key = name;
    if (key.size() > 4 && key.compare(key.size() - 4, 4, ".npy") == 0) key.resize(key.size() - 4);
    out[key] = parse_npy(raw, what);
  }
  return out;
}

void write_npz(const std::string& path, const ArrayMap& arrays) {
  std::string zip, central;
  for (const auto& [key, tensor] : arrays) {
    const std::string name = key + ".npy";
    const std::string data = format_npy(tensor);
    // Entries past 4 GiB would need zip64 records; FID statistics are far below that.
    SCORCH_CHECK(data.size() < 0xffffffffu && zip.size() < 0xffffffffu, "{}: array '{}' too large for a non-zip64 npz",
                 path, key);
    const uint32_t crc = crc_of(data);
    const uint64_t offset = zip.size();
    auto common = [&](std::string& h) {
      put_le(h, 20, 2);    // version needed
      put_le(h, 0, 2);     // flags
      put_le(h, 0, 2);     // stored
      put_le(h, 0, 2);     // time
      put_le(h, 0x21, 2);  // date 1980-01-01
      put_le(h, crc, 4);
      put_le(h, data.size(), 4);
      put_le(h, data.size(), 4);
      put_le(h, name.size(), 2);
      put_le(h, 0, 2);  // extra length
    };
    put_le(zip, 0x04034b50u, 4);
    common(zip);
    zip += name + data;
    put_le(central, 0x02014b50u, 4);
    put_le(central, 20, 2);  // version made by
    common(central);
    put_le(central, 0, 2);  // comment length
    put_le(central, 0, 2);  // disk
    put_le(central, 0, 2);  // internal attributes
    put_le(central, 0, 4);  // external attributes
    put_le(central, offset, 4);
    central += name;
  }
  const uint64_t cd_at = zip.size();
  zip += central;
  put_le(zip, 0x06054b50u, 4);
  put_le(zip, 0, 4);  // disk numbers
  put_le(zip, arrays.size(), 2);
  put_le(zip, arrays.size(), 2);
  put_le(zip, central.size(), 4);
  put_le(zip, cd_at, 4);
  put_le(zip, 0, 2);  // comment length
  write_file_atomic(path, zip);
}

}  // namespace scorch::io::npz
