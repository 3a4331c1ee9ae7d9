// src/data/decode_jpeg.cpp — JPEG through libjpeg-turbo's libjpeg API, set up as PIL sets it,
// so graft's pixels are PIL's pixels bit for bit (PIL links the same Debian libjpeg62-turbo).
//
// PIL's JpegDecode.c leaves libjpeg's defaults: the accurate integer IDCT (JDCT_ISLOW), fancy
// (triangle-filter) chroma upsampling, block smoothing for progressive files. The output color
// space follows the number of components, as JpegImagePlugin picks the mode:
//   1 -> JCS_GRAYSCALE ("L"), then r = g = b;
//   3 -> JCS_RGB (libjpeg converts YCbCr, or passes Adobe-RGB through);
//   4 -> JCS_CMYK ("CMYK;I": PIL always assumes Adobe's inverted CMYK, so every value is
//        inverted), then PIL's cmyk2rgb (decoders.h). libjpeg turns YCCK into CMYK itself.
// Truncated files: libjpeg pads a file that ends early with a fake end-of-image and warns
// (JWRN_JPEG_EOF); PIL refuses such files ("image file is truncated"), so graft does too.
// Other libjpeg warnings (e.g. extraneous bytes before a marker) are ignored, like PIL.
//
// libjpeg reports fatal errors through error_exit, which must not return: the usual setjmp /
// longjmp. No C++ object with a destructor is created between setjmp and the last libjpeg
// call (the image is assigned, not constructed, there), so the jump skips no destructor.
#include <csetjmp>
#include <cstdio>

#include <jpeglib.h>
#include <jerror.h>  // JWRN_JPEG_EOF

#include "data/decoders.h"

namespace graft::detail {

namespace {
struct ErrorManager {
  jpeg_error_mgr pub;  // first member: libjpeg passes &pub, which is also &ErrorManager
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX] = {0};
  bool truncated = false;
};

void on_error(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<ErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

// level -1: a warning. Warnings are not printed (a data loader must not spam stderr).
void on_message(j_common_ptr cinfo, int level) {
  auto* err = reinterpret_cast<ErrorManager*>(cinfo->err);
  if (level == -1 && cinfo->err->msg_code == JWRN_JPEG_EOF) err->truncated = true;
}
}  // namespace

Image decode_jpeg(const uint8_t* bytes, size_t n, const std::string& name) {
  jpeg_decompress_struct cinfo;
  ErrorManager err;
  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = on_error;
  err.pub.emit_message = on_message;
  Image img;
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    // After the data ran out libjpeg parses the padding and fails on it: say the real cause.
    if (err.truncated)
      throw ImageError(name, "truncated JPEG (the file ends inside its header); re-copy or delete the file, "
                             "or use the skip-bad option");
    throw ImageError(name, std::string("corrupt JPEG (libjpeg: ") + err.message +
                               "); delete or replace the file, or use the skip-bad option");
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, bytes, static_cast<unsigned long>(n));
  jpeg_read_header(&cinfo, TRUE);
  const int comps = cinfo.num_components;
  if (err.truncated || (comps != 1 && comps != 3 && comps != 4)) {
    jpeg_destroy_decompress(&cinfo);
    if (err.truncated)
      throw ImageError(name, "truncated JPEG (the file ends inside its header); re-copy or delete the file, "
                             "or use the skip-bad option");
    throw ImageError(name, "a JPEG with " + std::to_string(comps) +
                               " components (PIL reads 1, 3 or 4); convert it to a common JPEG or PNG");
  }
  try {
    check_pixel_limit(name, cinfo.image_width, cinfo.image_height, "JPEG");
  } catch (...) {
    jpeg_destroy_decompress(&cinfo);
    throw;
  }
  cinfo.out_color_space = comps == 1 ? JCS_GRAYSCALE : comps == 3 ? JCS_RGB : JCS_CMYK;
  cinfo.dct_method = JDCT_ISLOW;       // libjpeg's default, and PIL's (it changes it only in draft mode)
  cinfo.do_fancy_upsampling = TRUE;    // idem
  jpeg_start_decompress(&cinfo);
  img = Image(cinfo.output_height, cinfo.output_width, 3);
  // One scanline of the decoder's own format (1 or 4 bytes per pixel), in libjpeg's pool
  // (freed by jpeg_destroy_decompress, also after a longjmp).
  JSAMPARRAY line = (*cinfo.mem->alloc_sarray)(reinterpret_cast<j_common_ptr>(&cinfo), JPOOL_IMAGE,
                                               cinfo.output_width * cinfo.output_components, 1);
  while (cinfo.output_scanline < cinfo.output_height && !err.truncated) {
    uint8_t* out = img.row(cinfo.output_scanline);
    if (comps == 3) {
      JSAMPROW row = out;  // RGB lands in place
      jpeg_read_scanlines(&cinfo, &row, 1);
      continue;
    }
    jpeg_read_scanlines(&cinfo, line, 1);
    const uint8_t* in = line[0];
    for (JDIMENSION x = 0; x < cinfo.output_width; ++x, out += 3) {
      if (comps == 1) {
        out[0] = out[1] = out[2] = in[x];
      } else {  // "CMYK;I": invert, then cmyk2rgb
        const uint8_t* p = in + 4 * x;
        const int k = 255 - p[3];
        for (int c = 0; c < 3; ++c) out[c] = cmyk_channel(255 - p[c], k);
      }
    }
  }
  // Reads on to the end-of-image marker: a file cut just before it (all pixels there) warns
  // JWRN_JPEG_EOF too, and PIL refuses it as well ("image file is truncated").
  if (!err.truncated) jpeg_finish_decompress(&cinfo);
  const bool truncated = err.truncated;
  jpeg_destroy_decompress(&cinfo);
  if (truncated)
    throw ImageError(name, "truncated JPEG (the file ends before its end-of-image marker); re-copy or delete "
                           "the file, or use the skip-bad option");
  return img;
}

}  // namespace graft::detail
