// Layout (little-endian int32 unless stated): magic; 11 hyperparameters; mel
// filters (n_mels, n_fft, n_mels * n_fft float32); vocabulary (count, then per
// token a length and its bytes: the text tokens, kept); then tensors until the end of the file:
// n_dims, name length, type (0 f32, 1 f16, others quantized), dims innermost
// first, name, data.
#include "formats/ggml_format.h"

#include <cstring>
#include <vector>

#include "formats/byte_reader.h"

namespace amanuensis {
namespace {

constexpr int64_t kMaxElements = int64_t{1} << 34;
constexpr const char* kHparams[] = {"n_vocab",       "n_audio_ctx", "n_audio_state", "n_audio_head",
                                    "n_audio_layer", "n_text_ctx",  "n_text_state",  "n_text_head",
                                    "n_text_layer",  "n_mels",      "ftype"};

// A non-negative int32 count, at most `max`.
int32_t read_count(ByteReader& r, const char* what, int32_t max) {
  const int32_t v = r.get<int32_t>();
  if (v < 0 || v > max) r.fail(std::string("implausible ") + what + " " + std::to_string(v));
  return v;
}

}  // namespace

TensorFile parse_ggml(const uint8_t* bytes, size_t size, const std::string& what) {
  ByteReader r(bytes, size, what, "ggml model");
  if (size < 4 || r.get<int32_t>() != int32_t(kGgmlMagic))
    throw ModelError(what + ": not a whisper.cpp ggml model (bad magic)");
  TensorFile file;
  for (const char* name : kHparams) file.scalars[name] = read_count(r, name, 1 << 20);
  const int32_t mels = read_count(r, "mel filter count", 1024),
                fft = read_count(r, "FFT size", 1 << 16);
  r.take(uint64_t(mels) * fft * 4);  // whisper.cpp's own filterbank; ours is computed
  const int32_t tokens = read_count(r, "vocabulary size", 1 << 20);
  for (int32_t t = 0; t < tokens; ++t) {
    const int32_t len = read_count(r, "token length", 1 << 16);
    file.vocabulary.emplace_back(reinterpret_cast<const char*>(r.take(uint64_t(len))), len);
  }
  while (!r.done()) {
    const int32_t dims = read_count(r, "tensor rank", 4),
                  name_len = read_count(r, "name length", 1024);
    const int32_t type = r.get<int32_t>();
    if (type != 0 && type != 1)
      r.fail("tensor type " + std::to_string(type) +
             " is quantized; only f32 and f16 ggml models are supported");
    Tensor t;
    int64_t elements = 1;
    for (int d = 0; d < dims; ++d) {
      const int64_t n = read_count(r, "dimension", 1 << 24);
      if (n != 0 && elements > kMaxElements / n) r.fail("tensor is absurdly large");
      t.shape.insert(t.shape.begin(), n);  // innermost first on disk
      elements *= n;
    }
    const std::string name(reinterpret_cast<const char*>(r.take(uint64_t(name_len))), name_len);
    const uint8_t* data = r.take(uint64_t(elements) * (type == 0 ? 4 : 2));
    t.raw = data;
    t.elements = elements;
    t.encoding = type == 0 ? FloatEncoding::kF32 : FloatEncoding::kF16;
    // openai-whisper keeps conv biases as [n, 1]; the loaders want [n].
    if (t.shape.size() == 2 && t.shape[1] == 1 && name.size() > 5 &&
        name.compare(name.size() - 5, 5, ".bias") == 0)
      t.shape.pop_back();
    file.tensors[name] = std::move(t);
  }
  return file;
}

TensorFile read_ggml(const std::string& path) {
  std::shared_ptr<const MappedFile> bytes = map_model_file(path);
  TensorFile file = parse_ggml(bytes->data(), bytes->size(), path);
  file.storage = std::move(bytes);
  return file;
}

}  // namespace amanuensis
