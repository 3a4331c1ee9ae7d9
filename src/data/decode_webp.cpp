// src/data/decode_webp.cpp — WebP (lossy, lossless, with alpha, animated) through libwebp.
//
// PIL (with libwebpdemux, as Debian builds it) opens every WebP file, still or animated,
// through WebPAnimDecoder in MODE_RGBA and shows the first frame: so does graft, and the
// pixels are the same bit for bit (same library, same options: fancy upsampling, no dithering).
// The first frame is drawn on a canvas cleared to transparent black (0,0,0,0), so a first frame
// smaller than the canvas leaves black around it after convert("RGB"); alpha is then dropped,
// not composited (image.h).
#include <webp/decode.h>
#include <webp/demux.h>

#include <cstring>
#include <memory>

#include "data/decoders.h"

namespace graft::detail {

namespace {
struct AnimDecoderDelete { void operator()(WebPAnimDecoder* d) const { WebPAnimDecoderDelete(d); } };

const char* status_text(VP8StatusCode s) {
  switch (s) {
    case VP8_STATUS_OUT_OF_MEMORY: return "out of memory";
    case VP8_STATUS_INVALID_PARAM: return "invalid parameter";
    case VP8_STATUS_BITSTREAM_ERROR: return "bitstream error";
    case VP8_STATUS_UNSUPPORTED_FEATURE: return "unsupported feature";
    case VP8_STATUS_SUSPENDED: return "suspended";
    case VP8_STATUS_USER_ABORT: return "aborted";
    case VP8_STATUS_NOT_ENOUGH_DATA: return "not enough data: the file is truncated";
    default: return "ok";
  }
}
}  // namespace

Image decode_webp(const uint8_t* bytes, size_t n, const std::string& name) {
  // The header first: the canvas size (VP8X) or the bitstream's own size, before any pixels.
  WebPBitstreamFeatures features;
  VP8StatusCode status = WebPGetFeatures(bytes, n, &features);
  if (status != VP8_STATUS_OK)
    throw ImageError(name, std::string("corrupt or truncated WebP header (libwebp: ") + status_text(status) +
                               "); delete or replace the file, or use the skip-bad option");
  check_pixel_limit(name, features.width, features.height, "WebP");

  WebPAnimDecoderOptions options;
  if (!WebPAnimDecoderOptionsInit(&options)) throw ImageError(name, "libwebp version mismatch (WebPAnimDecoderOptionsInit)");
  options.color_mode = MODE_RGBA;  // PIL's choice (_webp.c); not premultiplied
  options.use_threads = 0;         // the loader already decodes on worker threads
  WebPData data{bytes, n};
  std::unique_ptr<WebPAnimDecoder, AnimDecoderDelete> dec(WebPAnimDecoderNew(&data, &options));
  // WebPAnimDecoderNew parses the whole RIFF container: a cut file fails here.
  if (!dec)
    throw ImageError(name, "corrupt or truncated WebP (libwebp cannot parse the container); delete or replace "
                           "the file, or use the skip-bad option");
  WebPAnimInfo info;
  if (!WebPAnimDecoderGetInfo(dec.get(), &info)) throw ImageError(name, "corrupt WebP (no animation info)");
  check_pixel_limit(name, info.canvas_width, info.canvas_height, "WebP");
  uint8_t* rgba = nullptr;
  int timestamp = 0;
  if (!WebPAnimDecoderGetNext(dec.get(), &rgba, &timestamp))
    throw ImageError(name, "corrupt or truncated WebP (the first frame does not decode); delete or replace the "
                           "file, or use the skip-bad option");
  Image img(info.canvas_height, info.canvas_width, 3);
  const size_t pixels = size_t(img.H) * size_t(img.W);
  for (size_t i = 0; i < pixels; ++i) std::memcpy(&img.data[3 * i], rgba + 4 * i, 3);
  return img;
}

}  // namespace graft::detail
