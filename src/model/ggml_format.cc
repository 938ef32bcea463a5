// Layout (little-endian int32 unless stated): magic; 11 hyperparameters; mel
// filters (n_mels, n_fft, n_mels * n_fft float32); vocabulary (count, then per
// token a length and its bytes); then tensors until the end of the file:
// n_dims, name length, type (0 f32, 1 f16, others quantized), dims innermost
// first, name, data.
#include "model/ggml_format.h"

#include <cstring>
#include <vector>

namespace amanuensis {
namespace {

constexpr int64_t kMaxElements = int64_t{1} << 34;
constexpr const char* kHparams[] = {"n_vocab",       "n_audio_ctx", "n_audio_state", "n_audio_head",
                                    "n_audio_layer", "n_text_ctx",  "n_text_state",  "n_text_head",
                                    "n_text_layer",  "n_mels",      "ftype"};

class Reader {
 public:
  Reader(const uint8_t* p, size_t n, const std::string& what) : p_(p), n_(n), what_(what) {}
  [[noreturn]] void fail(const std::string& why) const {
    throw ModelError(what_ + ": " + why + " (at byte " + std::to_string(pos_) + ")");
  }
  const uint8_t* take(uint64_t n) {
    if (n > n_ - pos_) fail("truncated ggml model");
    const uint8_t* r = p_ + pos_;
    pos_ += size_t(n);
    return r;
  }
  int32_t i32() {
    int32_t v;
    std::memcpy(&v, take(4), 4);
    return v;
  }
  int32_t count(const char* what, int32_t max) {
    const int32_t v = i32();
    if (v < 0 || v > max) fail(std::string("implausible ") + what + " " + std::to_string(v));
    return v;
  }
  bool done() const { return pos_ == n_; }

 private:
  const uint8_t* p_;
  size_t n_, pos_ = 0;
  std::string what_;
};

}  // namespace

TensorFile parse_ggml(const uint8_t* bytes, size_t size, const std::string& what) {
  Reader r(bytes, size, what);
  if (size < 4 || r.i32() != int32_t(kGgmlMagic))
    throw ModelError(what + ": not a whisper.cpp ggml model (bad magic)");
  TensorFile file;
  for (const char* name : kHparams) file.scalars[name] = r.count(name, 1 << 20);
  const int32_t mels = r.count("mel filter count", 1024), fft = r.count("FFT size", 1 << 16);
  r.take(uint64_t(mels) * fft * 4);  // whisper.cpp's own filterbank; ours is computed
  const int32_t tokens = r.count("vocabulary size", 1 << 20);
  for (int32_t t = 0; t < tokens; ++t) r.take(uint64_t(r.count("token length", 1 << 16)));
  while (!r.done()) {
    const int32_t dims = r.count("tensor rank", 4), name_len = r.count("name length", 1024);
    const int32_t type = r.i32();
    if (type != 0 && type != 1)
      r.fail("tensor type " + std::to_string(type) +
             " is quantized; only f32 and f16 ggml models are supported");
    Tensor t;
    int64_t elements = 1;
    for (int d = 0; d < dims; ++d) {
      const int64_t n = r.count("dimension", 1 << 24);
      if (n != 0 && elements > kMaxElements / n) r.fail("tensor is absurdly large");
      t.shape.insert(t.shape.begin(), n);  // innermost first on disk
      elements *= n;
    }
    const std::string name(reinterpret_cast<const char*>(r.take(uint64_t(name_len))), name_len);
    const uint8_t* data = r.take(uint64_t(elements) * (type == 0 ? 4 : 2));
    t.data = decode_floats(data, elements, type == 0 ? FloatEncoding::kF32 : FloatEncoding::kF16);
    // openai-whisper keeps conv biases as [n, 1]; the loaders want [n].
    if (t.shape.size() == 2 && t.shape[1] == 1 && name.size() > 5 &&
        name.compare(name.size() - 5, 5, ".bias") == 0)
      t.shape.pop_back();
    file.tensors[name] = std::move(t);
  }
  return file;
}

TensorFile read_ggml(const std::string& path) {
  const std::vector<uint8_t> bytes = read_model_file(path);
  return parse_ggml(bytes.data(), bytes.size(), path);
}

}  // namespace amanuensis
