#include "model/whisper_weights.h"

#include <filesystem>

#include "model/ct2_format.h"
#include "model/safetensors_format.h"

namespace amanuensis {
namespace {

constexpr int kHeadDim = 64;

LayerNormWeights layer_norm(const TensorFile& f, const std::string& prefix, int d,
                            const std::string& what) {
  return {f.get(prefix + "/gamma", {d}, what).data, f.get(prefix + "/beta", {d}, what).data};
}

// `sep` joins a layer's name and "weight"/"bias": "/" in CTranslate2, "." in
// Hugging Face files.
Linear linear(const TensorFile& f, const std::string& prefix, int out, int in,
              const std::string& what, const std::string& sep = "/") {
  Linear l{out, in, f.get(prefix + sep + "weight", {out, in}, what).data, {}};
  l.bias = f.has(prefix + sep + "bias") ? f.get(prefix + sep + "bias", {out}, what).data
                                        : std::vector<float>(size_t(out), 0.0f);
  return l;
}

// Stored [out][in][tap]; kept as [out][tap][in] so that a row of the im2col
// matrix is three whole input frames side by side.
Linear conv(const TensorFile& f, const std::string& prefix, int out, int in,
            const std::string& what, const std::string& sep = "/") {
  const std::vector<float>& w = f.get(prefix + sep + "weight", {out, in, 3}, what).data;
  Linear l{out, in * 3, std::vector<float>(w.size()),
           f.get(prefix + sep + "bias", {out}, what).data};
  for (int o = 0; o < out; ++o)
    for (int c = 0; c < in; ++c)
      for (int tap = 0; tap < 3; ++tap)
        l.weight[(size_t(o) * 3 + tap) * in + c] = w[(size_t(o) * in + c) * 3 + tap];
  return l;
}

void check_dims(const EncoderWeights& w, const std::string& what) {
  if (w.n_mels != 80 && w.n_mels != 128)
    throw ModelError(what + ": encoder expects " + std::to_string(w.n_mels) +
                     " mel bins; Whisper uses 80 or 128");
  if (w.d_model < kHeadDim || w.d_model % kHeadDim != 0 || w.d_model > 8192)
    throw ModelError(what + ": model width " + std::to_string(w.d_model) +
                     " is not a multiple of 64 up to 8192");
}

}  // namespace

EncoderWeights encoder_from_ct2(const TensorFile& f, const std::string& what) {
  auto it = f.tensors.find("encoder/conv1/weight");
  if (it == f.tensors.end() || it->second.shape.size() != 3)
    throw ModelError(what + ": no Whisper encoder (encoder/conv1/weight) in this model");
  EncoderWeights w;
  w.d_model = int(it->second.shape[0]);
  w.n_mels = int(it->second.shape[1]);
  check_dims(w, what);
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

EncoderWeights encoder_from_hf(const TensorFile& f, const std::string& what) {
  const std::string e = "model.encoder.";
  auto it = f.tensors.find(e + "conv1.weight");
  if (it == f.tensors.end() || it->second.shape.size() != 3)
    throw ModelError(what + ": no Whisper encoder (model.encoder.conv1.weight) in this file");
  EncoderWeights w;
  w.d_model = int(it->second.shape[0]);
  w.n_mels = int(it->second.shape[1]);
  check_dims(w, what);
  w.n_heads = w.d_model / kHeadDim;  // Whisper's heads are 64 wide in every size
  const int d = w.d_model;
  w.conv1 = conv(f, e + "conv1", d, w.n_mels, what, ".");
  w.conv2 = conv(f, e + "conv2", d, d, what, ".");
  w.positions = f.get(e + "embed_positions.weight", {w.n_ctx, d}, what).data;
  auto ln = [&](const std::string& p) {
    return LayerNormWeights{f.get(p + ".weight", {d}, what).data,
                            f.get(p + ".bias", {d}, what).data};
  };
  for (int i = 0;; ++i) {
    const std::string p = e + "layers." + std::to_string(i) + ".";
    if (!f.has(p + "self_attn.q_proj.weight")) break;
    EncoderLayerWeights l;
    l.attn_ln = ln(p + "self_attn_layer_norm");
    // Q, K (no bias), V stacked into one [3d][d] projection, as CTranslate2 stores it.
    l.qkv = {3 * d, d, {}, {}};
    for (const char* part : {"q_proj", "k_proj", "v_proj"}) {
      const Linear one = linear(f, p + "self_attn." + part, d, d, what, ".");
      l.qkv.weight.insert(l.qkv.weight.end(), one.weight.begin(), one.weight.end());
      l.qkv.bias.insert(l.qkv.bias.end(), one.bias.begin(), one.bias.end());
    }
    l.attn_out = linear(f, p + "self_attn.out_proj", d, d, what, ".");
    l.mlp_ln = ln(p + "final_layer_norm");
    l.fc1 = linear(f, p + "fc1", 4 * d, d, what, ".");
    l.fc2 = linear(f, p + "fc2", d, 4 * d, what, ".");
    w.layers.push_back(std::move(l));
  }
  if (w.layers.empty()) throw ModelError(what + ": encoder has no layers");
  w.ln_post = ln(e + "layer_norm");
  return w;
}

EncoderWeights load_encoder(const std::string& model_path) {
  namespace fs = std::filesystem;
  if (!fs::exists(model_path)) throw ModelError(model_path + ": no such model file or folder");
  fs::path file = model_path;
  if (fs::is_directory(file))
    file = fs::exists(file / "model.bin") ? file / "model.bin" : file / "model.safetensors";
  if (!fs::exists(file))
    throw ModelError(model_path +
                     ": no model.bin or model.safetensors here (expected a CTranslate2 / "
                     "faster-whisper or a Hugging Face Whisper model folder)");
  if (file.extension() == ".safetensors")
    return encoder_from_hf(read_safetensors(file.string()), file.string());
  return encoder_from_ct2(read_ct2_model(file.string()), file.string());
}

}  // namespace amanuensis
