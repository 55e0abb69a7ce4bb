// JPEG through libjpeg-turbo: stb's own decoder rounds its inverse DCT and chroma upsampling differently, which
// moved 2-15 % of pixels by up to 32 levels against PIL's (and so pytorch-fid's) pixels on the same file.
// jpeglib.h uses FILE and size_t without including their headers, so <cstdio> comes first.
// clang-format off
#include <csetjmp>
#include <cstdio>
#include <jerror.h>
#include <jpeglib.h>
// clang-format on

#include "core/error.h"
#include "core/io/image_codecs.h"

namespace scorch::io {
namespace {

struct JpegErrors {
  jpeg_error_mgr pub;  // first member: libjpeg hands back a pointer to it
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX] = "";
  bool truncated = false;
};

[[noreturn]] void jpeg_error_exit(j_common_ptr cinfo) {
  auto* e = reinterpret_cast<JpegErrors*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, e->message);
  std::longjmp(e->jump, 1);
}

// libjpeg pads a file that ends early with grey and warns; PIL refuses it ("image file is truncated"), and a
// grey-padded image would score as a real one. Other warnings (stray bytes between markers) PIL lets pass too.
void jpeg_message(j_common_ptr cinfo, int level) {
  if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) reinterpret_cast<JpegErrors*>(cinfo->err)->truncated = true;
}

}  // namespace

Image decode_jpeg(const std::string& bytes, int channels, const std::string& what) {
  jpeg_decompress_struct cinfo;
  JpegErrors err;
  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = jpeg_error_exit;
  err.pub.emit_message = jpeg_message;
  Image out;
  // Nothing with a destructor is created between here and a longjmp back: libjpeg's frames are C.
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    SCORCH_FAIL("cannot decode JPEG '{}': {}", what, err.message);
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
  jpeg_read_header(&cinfo, TRUE);
  const auto space = cinfo.jpeg_color_space;
  if (space == JCS_CMYK || space == JCS_YCCK) {
    jpeg_destroy_decompress(&cinfo);
    SCORCH_FAIL(
        "cannot decode JPEG '{}': it is CMYK (a print file); scorch reads RGB and greyscale JPEGs, convert it "
        "to RGB first",
        what);
  }
  const bool grey = channels == 1 || (channels == 0 && space == JCS_GRAYSCALE);
  cinfo.out_color_space = grey ? JCS_GRAYSCALE : JCS_RGB;
  out.file_channels = cinfo.num_components;
  jpeg_calc_output_dimensions(&cinfo);
  try {
    check_claimed_size(cinfo.output_width, cinfo.output_height, grey ? 1 : 3, bytes.size(), what);
  } catch (...) {
    jpeg_destroy_decompress(&cinfo);
    throw;
  }
  jpeg_start_decompress(&cinfo);
  out.width = static_cast<int>(cinfo.output_width);
  out.height = static_cast<int>(cinfo.output_height);
  out.channels = cinfo.output_components;
  out.pixels.resize(size_t(out.width) * out.height * out.channels);
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = out.pixels.data() + size_t(cinfo.output_scanline) * out.width * out.channels;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  SCORCH_CHECK(!err.truncated, "cannot decode JPEG '{}': the file ends before the image does (truncated)", what);
  return out;
}

}  // namespace scorch::io
