#include "model/whisper_weights.h"

#include <filesystem>

#include "model/ct2_format.h"

namespace amanuensis {
namespace {

constexpr int kHeadDim = 64;

LayerNormWeights layer_norm(const TensorFile& f, const std::string& prefix, int d,
                            const std::string& what) {
  return {f.get(prefix + "/gamma", {d}, what).data, f.get(prefix + "/beta", {d}, what).data};
}

Linear linear(const TensorFile& f, const std::string& prefix, int out, int in,
              const std::string& what) {
  Linear l{out, in, f.get(prefix + "/weight", {out, in}, what).data, {}};
  l.bias = f.has(prefix + "/bias") ? f.get(prefix + "/bias", {out}, what).data
                                   : std::vector<float>(size_t(out), 0.0f);
  return l;
}

// Stored [out][in][tap]; kept as [out][tap][in] so that a row of the im2col
// matrix is three whole input frames side by side.
Linear conv(const TensorFile& f, const std::string& prefix, int out, int in,
            const std::string& what) {
  const std::vector<float>& w = f.get(prefix + "/weight", {out, in, 3}, what).data;
  Linear l{out, in * 3, std::vector<float>(w.size()), f.get(prefix + "/bias", {out}, what).data};
  for (int o = 0; o < out; ++o)
    for (int c = 0; c < in; ++c)
      for (int tap = 0; tap < 3; ++tap)
        l.weight[(size_t(o) * 3 + tap) * in + c] = w[(size_t(o) * in + c) * 3 + tap];
  return l;
}

}  // namespace

EncoderWeights encoder_from_ct2(const TensorFile& f, const std::string& what) {
  auto it = f.tensors.find("encoder/conv1/weight");
  if (it == f.tensors.end() || it->second.shape.size() != 3)
    throw ModelError(what + ": no Whisper encoder (encoder/conv1/weight) in this model");
  EncoderWeights w;
  w.d_model = int(it->second.shape[0]);
  w.n_mels = int(it->second.shape[1]);
  if (w.n_mels != 80 && w.n_mels != 128)
    throw ModelError(what + ": encoder expects " + std::to_string(w.n_mels) +
                     " mel bins; Whisper uses 80 or 128");
  if (w.d_model % kHeadDim != 0 || w.d_model > 8192)
    throw ModelError(what + ": model width " + std::to_string(w.d_model) +
                     " is not a multiple of 64");
  auto heads = f.scalars.find("encoder/num_heads");
  w.n_heads = heads != f.scalars.end() ? int(heads->second) : w.d_model / kHeadDim;
  if (w.n_heads * kHeadDim != w.d_model)
    throw ModelError(what + ": " + std::to_string(w.n_heads) + " heads do not give head size 64");
  const int d = w.d_model;
  w.conv1 = conv(f, "encoder/conv1", d, w.n_mels, what);
  w.conv2 = conv(f, "encoder/conv2", d, d, what);
  w.positions = f.get("encoder/position_encodings/encodings", {w.n_ctx, d}, what).data;
  for (int i = 0;; ++i) {
    const std::string p = "encoder/layer_" + std::to_string(i);
    if (!f.has(p + "/self_attention/linear_0/weight")) break;
    EncoderLayerWeights l;
    l.attn_ln = layer_norm(f, p + "/self_attention/layer_norm", d, what);
    l.qkv = linear(f, p + "/self_attention/linear_0", 3 * d, d, what);
    l.attn_out = linear(f, p + "/self_attention/linear_1", d, d, what);
    l.mlp_ln = layer_norm(f, p + "/ffn/layer_norm", d, what);
    l.fc1 = linear(f, p + "/ffn/linear_0", 4 * d, d, what);
    l.fc2 = linear(f, p + "/ffn/linear_1", d, 4 * d, what);
    w.layers.push_back(std::move(l));
  }
  if (w.layers.empty()) throw ModelError(what + ": encoder has no layers");
  w.ln_post = layer_norm(f, "encoder/layer_norm", d, what);
  return w;
}

EncoderWeights load_encoder(const std::string& model_path) {
  namespace fs = std::filesystem;
  if (!fs::exists(model_path)) throw ModelError(model_path + ": no such model file or folder");
  const fs::path bin =
      fs::is_directory(model_path) ? fs::path(model_path) / "model.bin" : fs::path(model_path);
  if (!fs::exists(bin))
    throw ModelError(model_path +
                     ": no model.bin here (expected a CTranslate2 / faster-whisper model folder)");
  return encoder_from_ct2(read_ct2_model(bin.string()), bin.string());
}

}  // namespace amanuensis
