// src/data/decode_tiff.cpp — TIFF through libtiff: the first page, as PIL reads it.
//
// libtiff undoes the compression (none, LZW, Deflate, PackBits, JPEG, ...) and the predictor
// and swaps 16-bit samples to the machine's byte order; graft then turns the raw samples into
// RGB by the modes PIL's TiffImagePlugin picks (its OPEN_INFO table) and convert("RGB"):
//   gray (MinIsBlack)  1-bit -> 0/255, 8-bit -> r=g=b, 16-bit ("I;16") -> min(v, 255);
//   gray (MinIsWhite)  1-bit and 8-bit, inverted ("1;I", "L;I");
//   RGB                8-bit ("RGB", "RGBX", "RGBA": extra sample dropped; "RGBa", associated
//                      alpha: un-premultiplied v * 255 / a as PIL's unpacker), 16-bit: v >> 8;
//   palette            1/2/4/8-bit indices, 16-bit colormap entries >> 8 (PIL's v // 256);
//   CMYK (Separated)   8-bit, PIL's cmyk2rgb (decoders.h).
// Not TIFFReadRGBAImage: it premultiplies alpha and rounds 16-bit samples, which PIL does not.
// Orientation tags are ignored, as PIL ignores them. Anything else (float samples, separate
// planes with several samples, 2/4-bit gray, 12-bit, LAB, ...) is refused with the reason.
#include <tiffio.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "data/decoders.h"

namespace graft::detail {

namespace {
// libtiff reads through these callbacks from the bytes already in memory.
struct MemFile {
  const uint8_t* data;
  toff_t size, pos = 0;
  std::string error;  // libtiff's last error message
};
tsize_t mem_read(thandle_t h, tdata_t buf, tsize_t len) {
  auto* f = static_cast<MemFile*>(h);
  toff_t k = std::min<toff_t>(toff_t(len), f->pos < f->size ? f->size - f->pos : 0);
  std::memcpy(buf, f->data + f->pos, k);
  f->pos += k;
  return tsize_t(k);
}
tsize_t mem_write(thandle_t, tdata_t, tsize_t) { return 0; }
toff_t mem_seek(thandle_t h, toff_t off, int whence) {
  auto* f = static_cast<MemFile*>(h);
  toff_t base = whence == SEEK_CUR ? f->pos : whence == SEEK_END ? f->size : 0;
  f->pos = base + off;
  return f->pos;
}
int mem_close(thandle_t) { return 0; }
toff_t mem_size(thandle_t h) { return static_cast<MemFile*>(h)->size; }
int mem_map(thandle_t h, tdata_t* base, toff_t* size) {
  auto* f = static_cast<MemFile*>(h);
  *base = const_cast<uint8_t*>(f->data);
  *size = f->size;
  return 1;
}
void mem_unmap(thandle_t, tdata_t, toff_t) {}

// Per-file handlers (libtiff >= 4.5): errors are kept for the message, warnings are dropped
// (a data loader must not print to stderr for every odd tag); returning 1 stops libtiff from
// also calling its global handlers.
int on_error(TIFF*, void* user, const char* module, const char* fmt, va_list ap) {
  char buf[512];
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  auto* f = static_cast<MemFile*>(user);
  f->error = (module ? std::string(module) + ": " : std::string()) + buf;
  return 1;
}
int on_warning(TIFF*, void*, const char*, const char*, va_list) { return 1; }

struct TiffClose { void operator()(TIFF* t) const { TIFFClose(t); } };

// One raw sample of a row: bits 1/2/4 (most significant bit first), 8 or 16 (host order).
inline int sample(const uint8_t* row, int64_t i, int bits) {
  switch (bits) {
    case 8: return row[i];
    case 16: return reinterpret_cast<const uint16_t*>(row)[i];
    default: {
      const int64_t bit = i * bits;
      return (row[bit >> 3] >> (8 - bits - (bit & 7))) & ((1 << bits) - 1);
    }
  }
}
}  // namespace

Image decode_tiff(const uint8_t* bytes, size_t n, const std::string& name) {
  MemFile file{bytes, toff_t(n), 0, {}};
  std::unique_ptr<TIFFOpenOptions, void (*)(TIFFOpenOptions*)> opts(TIFFOpenOptionsAlloc(), TIFFOpenOptionsFree);
  TIFFOpenOptionsSetErrorHandlerExtR(opts.get(), on_error, &file);
  TIFFOpenOptionsSetWarningHandlerExtR(opts.get(), on_warning, &file);
  std::unique_ptr<TIFF, TiffClose> tif(TIFFClientOpenExt(name.c_str(), "r", &file, mem_read, mem_write, mem_seek,
                                                         mem_close, mem_size, mem_map, mem_unmap, opts.get()));
  auto fail = [&](const std::string& what) {
    return ImageError(name, what + (file.error.empty() ? "" : " (libtiff: " + file.error + ")") +
                                "; delete or replace the file, or use the skip-bad option");
  };
  if (!tif) throw fail("corrupt or truncated TIFF header");
  uint32_t w = 0, h = 0;
  uint16_t bits = 1, spp = 1, photometric = 0, planar = PLANARCONFIG_CONTIG, format = SAMPLEFORMAT_UINT,
           compression = COMPRESSION_NONE, n_extra = 0;
  uint16_t* extra = nullptr;
  if (!TIFFGetField(tif.get(), TIFFTAG_IMAGEWIDTH, &w) || !TIFFGetField(tif.get(), TIFFTAG_IMAGELENGTH, &h))
    throw fail("TIFF without ImageWidth/ImageLength tags");
  check_pixel_limit(name, w, h, "TIFF");
  TIFFGetFieldDefaulted(tif.get(), TIFFTAG_BITSPERSAMPLE, &bits);
  TIFFGetFieldDefaulted(tif.get(), TIFFTAG_SAMPLESPERPIXEL, &spp);
  TIFFGetFieldDefaulted(tif.get(), TIFFTAG_PLANARCONFIG, &planar);
  TIFFGetFieldDefaulted(tif.get(), TIFFTAG_SAMPLEFORMAT, &format);
  TIFFGetFieldDefaulted(tif.get(), TIFFTAG_COMPRESSION, &compression);
  TIFFGetFieldDefaulted(tif.get(), TIFFTAG_EXTRASAMPLES, &n_extra, &extra);
  if (!TIFFGetField(tif.get(), TIFFTAG_PHOTOMETRIC, &photometric))
    throw fail("TIFF without a PhotometricInterpretation tag");
  // JPEG-compressed YCbCr: libjpeg (inside libtiff) converts to RGB, as PIL asks it to.
  if (photometric == PHOTOMETRIC_YCBCR && compression == COMPRESSION_JPEG) {
    TIFFSetField(tif.get(), TIFFTAG_JPEGCOLORMODE, JPEGCOLORMODE_RGB);
    photometric = PHOTOMETRIC_RGB;
  }

  // Which (photometric, bits, samples) graft reproduces, i.e. PIL modes it knows.
  const bool gray = photometric == PHOTOMETRIC_MINISBLACK || photometric == PHOTOMETRIC_MINISWHITE;
  bool ok = format == SAMPLEFORMAT_UINT && (planar == PLANARCONFIG_CONTIG || spp == 1);
  if (photometric == PHOTOMETRIC_MINISBLACK) ok &= (bits == 1 || bits == 8 || (bits == 16 && spp == 1)) && spp <= 2;
  else if (photometric == PHOTOMETRIC_MINISWHITE) ok &= (bits == 1 || bits == 8) && spp == 1;
  else if (photometric == PHOTOMETRIC_RGB) ok &= (bits == 8 || bits == 16) && (spp == 3 || spp == 4);
  else if (photometric == PHOTOMETRIC_PALETTE) ok &= bits <= 8 && spp == 1;
  else if (photometric == PHOTOMETRIC_SEPARATED) ok &= bits == 8 && spp == 4;
  else ok = false;
  if (ok && TIFFIsTiled(tif.get())) ok = bits >= 8;  // sub-byte tiles: rows don't start on bytes
  if (!ok)
    throw ImageError(name, "a TIFF graft does not decode (photometric " + std::to_string(photometric) + ", " +
                               std::to_string(bits) + " bits x " + std::to_string(spp) + " samples, sample format " +
                               std::to_string(format) + ", planar config " + std::to_string(planar) +
                               "); convert it to PNG (e.g. with PIL or ImageMagick)");
  uint16_t *red = nullptr, *green = nullptr, *blue = nullptr;
  if (photometric == PHOTOMETRIC_PALETTE && !TIFFGetField(tif.get(), TIFFTAG_COLORMAP, &red, &green, &blue))
    throw fail("palette TIFF without a ColorMap");
  const bool associated = photometric == PHOTOMETRIC_RGB && spp == 4 && n_extra >= 1 && extra &&
                          extra[0] == EXTRASAMPLE_ASSOCALPHA;

  // The raw samples of every row, contiguous: ceil(w * spp * bits / 8) bytes per row.
  const size_t row_bytes = (size_t(w) * spp * bits + 7) / 8;
  std::vector<uint8_t> raw(row_bytes * h);
  if (TIFFIsTiled(tif.get())) {
    uint32_t tw = 0, th = 0;
    TIFFGetField(tif.get(), TIFFTAG_TILEWIDTH, &tw);
    TIFFGetField(tif.get(), TIFFTAG_TILELENGTH, &th);
    if (tw == 0 || th == 0) throw fail("tiled TIFF without a tile size");
    const size_t pixel_bytes = size_t(spp) * bits / 8, tile_row = size_t(tw) * pixel_bytes;
    std::vector<uint8_t> tile(size_t(TIFFTileSize(tif.get())));
    for (uint32_t ty = 0; ty < h; ty += th)
      for (uint32_t tx = 0; tx < w; tx += tw) {
        if (TIFFReadEncodedTile(tif.get(), TIFFComputeTile(tif.get(), tx, ty, 0, 0), tile.data(), tmsize_t(tile.size())) < 0)
          throw fail("corrupt or truncated TIFF tile at (" + std::to_string(tx) + ", " + std::to_string(ty) + ")");
        const size_t cols = std::min(tw, w - tx) * pixel_bytes;
        for (uint32_t y = ty; y < std::min(h, ty + th); ++y)
          std::memcpy(&raw[y * row_bytes + tx * pixel_bytes], &tile[(y - ty) * tile_row], cols);
      }
  } else {
    if (size_t(TIFFScanlineSize(tif.get())) != row_bytes) throw fail("TIFF with an unexpected scanline size");
    for (uint32_t y = 0; y < h; ++y)
      if (TIFFReadScanline(tif.get(), &raw[y * row_bytes], y, 0) < 0)
        throw fail("corrupt or truncated TIFF at row " + std::to_string(y) + " of " + std::to_string(h));
  }

  Image img(h, w, 3);
  for (uint32_t y = 0; y < h; ++y) {
    const uint8_t* in = &raw[y * row_bytes];
    uint8_t* out = img.row(y);
    for (uint32_t x = 0; x < w; ++x, out += 3) {
      const int64_t i = int64_t(x) * spp;
      if (gray) {
        int v = sample(in, i, bits);
        v = bits == 1 ? v * 255 : std::min(v, 255);  // 16-bit: "I;16" clips
        if (photometric == PHOTOMETRIC_MINISWHITE) v = 255 - v;
        out[0] = out[1] = out[2] = uint8_t(v);
      } else if (photometric == PHOTOMETRIC_PALETTE) {
        const int k = sample(in, i, bits);
        out[0] = uint8_t(red[k] >> 8), out[1] = uint8_t(green[k] >> 8), out[2] = uint8_t(blue[k] >> 8);
      } else if (photometric == PHOTOMETRIC_SEPARATED) {
        const int k = in[i + 3];
        for (int c = 0; c < 3; ++c) out[c] = cmyk_channel(in[i + c], k);
      } else if (bits == 16) {
        for (int c = 0; c < 3; ++c) out[c] = uint8_t(sample(in, i + c, 16) >> 8);
      } else if (associated) {
        // PIL's "RGBa" unpacker: a = 0 -> black, else min(255, v * 255 / a) (truncating).
        const int a = in[i + 3];
        for (int c = 0; c < 3; ++c) out[c] = a == 0 ? 0 : uint8_t(std::min(255, in[i + c] * 255 / a));
      } else {
        std::memcpy(out, in + i, 3);
      }
    }
  }
  return img;
}

}  // namespace graft::detail
