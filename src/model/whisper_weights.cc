#include "model/whisper_weights.h"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>

#include "util/whisper_geometry.h"


namespace amanuensis {
namespace {


LayerNormWeights layer_norm(TensorFile& f, const std::string& prefix, int d,
                            const std::string& what) {
  return {f.take(prefix + "/gamma", {d}, what), f.take(prefix + "/beta", {d}, what)};
}

// `sep` joins a layer's name and "weight"/"bias": "/" in CTranslate2, "." in
// Hugging Face files.
Linear linear(TensorFile& f, const std::string& prefix, int out, int in,
              const std::string& what, const std::string& sep = "/") {
  Linear l{out, in, {}, {}, f.rows(prefix + sep + "weight", {out, in}, what)};
  l.bias = f.has(prefix + sep + "bias") ? f.take(prefix + sep + "bias", {out}, what)
                                        : std::vector<float>(size_t(out), 0.0f);
  return l;
}

// [d][in] projections of the layouts that keep them apart (Hugging Face,
// openai-whisper's names in ggml files: "." separators) stacked into one
// [parts * d][in], as CTranslate2 stores Q, K and V.
Linear stacked(TensorFile& f, const std::string& prefix,
               std::initializer_list<const std::string*> parts, int d, int in,
               const std::string& what) {
  std::vector<gemm::WeightRows> rows;
  Linear l{int(parts.size()) * d, in, {}, {}, {}};
  for (const std::string* part : parts) {
    Linear one = linear(f, prefix + *part, d, in, what, ".");
    rows.push_back(std::move(one.rows));
    l.bias.insert(l.bias.end(), one.bias.begin(), one.bias.end());
  }
  l.rows = [rows = std::move(rows), d, in](int r0, int r1, float* out) {
    for (int r = r0; r < r1;) {  // the rows of part r / d up to r1
      const int part = r / d, end = std::min(r1, (part + 1) * d);
      rows[part](r - part * d, end - part * d, out + size_t(r - r0) * in);
      r = end;
    }
  };
  return l;
}

// Stored [out][in][tap]; kept as [out][tap][in] so that a row of the im2col
// matrix is three whole input frames side by side.
Linear conv(TensorFile& f, const std::string& prefix, int out, int in,
            const std::string& what, const std::string& sep = "/") {
  const std::vector<float>& w = f.take(prefix + sep + "weight", {out, in, 3}, what);
  Linear l{
      out, in * 3, std::vector<float>(w.size()), f.take(prefix + sep + "bias", {out}, what), {}};
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

EncoderWeights encoder_from_ct2(TensorFile& f, const std::string& what) {
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
  w.positions = f.take("encoder/position_encodings/encodings", {w.n_ctx, d}, what);
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

DecoderWeights decoder_from_ct2(TensorFile& f, const std::string& what) {
  auto it = f.tensors.find("decoder/embeddings/weight");
  if (it == f.tensors.end() || it->second.shape.size() != 2)
    throw ModelError(what + ": no Whisper decoder (decoder/embeddings/weight) in this model");
  DecoderWeights w;
  w.n_vocab = int(it->second.shape[0]);
  w.d_model = int(it->second.shape[1]);
  const int d = w.d_model;
  auto heads = f.scalars.find("decoder/num_heads");
  w.n_heads = heads != f.scalars.end() ? int(heads->second) : d / kHeadDim;
  if (w.n_heads * kHeadDim != d || d % kHeadDim != 0)
    throw ModelError(what + ": decoder heads do not give head size 64");
  w.embedding = {w.n_vocab,
                 d,
                 {},
                 std::vector<float>(size_t(w.n_vocab), 0.0f),
                 f.rows("decoder/embeddings/weight", {w.n_vocab, d}, what)};
  auto pos = f.tensors.find("decoder/position_encodings/encodings");
  if (pos == f.tensors.end() || pos->second.shape.size() != 2)
    throw ModelError(what + ": decoder position encodings are missing");
  w.n_ctx = int(pos->second.shape[0]);
  w.positions = f.take("decoder/position_encodings/encodings", {w.n_ctx, d}, what);
  for (int i = 0;; ++i) {
    const std::string p = "decoder/layer_" + std::to_string(i);
    if (!f.has(p + "/self_attention/linear_0/weight")) break;
    DecoderLayerWeights l;
    l.self_ln = layer_norm(f, p + "/self_attention/layer_norm", d, what);
    l.self_qkv = linear(f, p + "/self_attention/linear_0", 3 * d, d, what);
    l.self_out = linear(f, p + "/self_attention/linear_1", d, d, what);
    l.cross_ln = layer_norm(f, p + "/attention/layer_norm", d, what);
    l.cross_q = linear(f, p + "/attention/linear_0", d, d, what);
    l.cross_kv = linear(f, p + "/attention/linear_1", 2 * d, d, what);
    l.cross_out = linear(f, p + "/attention/linear_2", d, d, what);
    l.mlp_ln = layer_norm(f, p + "/ffn/layer_norm", d, what);
    l.fc1 = linear(f, p + "/ffn/linear_0", 4 * d, d, what);
    l.fc2 = linear(f, p + "/ffn/linear_1", d, 4 * d, what);
    w.layers.push_back(std::move(l));
  }
  if (w.layers.empty()) throw ModelError(what + ": decoder has no layers");
  w.ln = layer_norm(f, "decoder/layer_norm", d, what);
  return w;
}

namespace {

// Names of one decoder in the layouts that keep Q, K and V apart.
struct SplitDecoderNames {
  std::string embedding, positions, layer, self_ln, self_q, self_k, self_v, self_out, cross_ln,
      cross_q, cross_k, cross_v, cross_out, mlp_ln, fc1, fc2, ln;
};
const SplitDecoderNames kHfDecoderNames = {
    "model.decoder.embed_tokens.weight",
    "model.decoder.embed_positions.weight",
    "model.decoder.layers.",
    "self_attn_layer_norm",
    "self_attn.q_proj",
    "self_attn.k_proj",
    "self_attn.v_proj",
    "self_attn.out_proj",
    "encoder_attn_layer_norm",
    "encoder_attn.q_proj",
    "encoder_attn.k_proj",
    "encoder_attn.v_proj",
    "encoder_attn.out_proj",
    "final_layer_norm",
    "fc1",
    "fc2",
    "model.decoder.layer_norm"};
const SplitDecoderNames kOpenAiDecoderNames = {
    "decoder.token_embedding.weight", "decoder.positional_embedding", "decoder.blocks.",
    "attn_ln", "attn.query", "attn.key", "attn.value", "attn.out", "cross_attn_ln",
    "cross_attn.query", "cross_attn.key", "cross_attn.value", "cross_attn.out", "mlp_ln", "mlp.0",
    "mlp.2", "decoder.ln"};

DecoderWeights decoder_from_split(TensorFile& f, const SplitDecoderNames& n, int n_heads,
                                  const std::string& what) {
  auto it = f.tensors.find(n.embedding);
  if (it == f.tensors.end() || it->second.shape.size() != 2)
    throw ModelError(what + ": no Whisper decoder (" + n.embedding + ") in this file");
  DecoderWeights w;
  w.n_vocab = int(it->second.shape[0]);
  w.d_model = int(it->second.shape[1]);
  const int d = w.d_model;
  w.n_heads = n_heads ? n_heads : d / kHeadDim;
  if (w.n_heads * kHeadDim != d)
    throw ModelError(what + ": decoder heads do not give head size 64");
  w.embedding = {w.n_vocab,
                 d,
                 {},
                 std::vector<float>(size_t(w.n_vocab), 0.0f),
                 f.rows(n.embedding, {w.n_vocab, d}, what)};
  auto pos = f.tensors.find(n.positions);
  if (pos == f.tensors.end() || pos->second.shape.size() != 2)
    throw ModelError(what + ": decoder positions (" + n.positions + ") are missing");
  w.n_ctx = int(pos->second.shape[0]);
  w.positions = f.take(n.positions, {w.n_ctx, d}, what);
  auto ln = [&](const std::string& p) {
    return LayerNormWeights{f.take(p + ".weight", {d}, what),
                            f.take(p + ".bias", {d}, what)};
  };
  for (int i = 0;; ++i) {
    const std::string p = n.layer + std::to_string(i) + ".";
    if (!f.has(p + n.self_q + ".weight")) break;
    DecoderLayerWeights l;
    l.self_ln = ln(p + n.self_ln);
    l.self_qkv = stacked(f, p, {&n.self_q, &n.self_k, &n.self_v}, d, d, what);
    l.self_out = linear(f, p + n.self_out, d, d, what, ".");
    l.cross_ln = ln(p + n.cross_ln);
    l.cross_q = linear(f, p + n.cross_q, d, d, what, ".");
    l.cross_kv = stacked(f, p, {&n.cross_k, &n.cross_v}, d, d, what);
    l.cross_out = linear(f, p + n.cross_out, d, d, what, ".");
    l.mlp_ln = ln(p + n.mlp_ln);
    l.fc1 = linear(f, p + n.fc1, 4 * d, d, what, ".");
    l.fc2 = linear(f, p + n.fc2, d, 4 * d, what, ".");
    w.layers.push_back(std::move(l));
  }
  if (w.layers.empty()) throw ModelError(what + ": decoder has no layers");
  w.ln = ln(n.ln);
  return w;
}

// Names of one encoder in the layouts that keep Q, K and V apart.
struct SplitQkvNames {
  std::string conv1, conv2, positions, layer, attn_ln, q, k, v, attn_out, mlp_ln, fc1, fc2, ln_post;
};

// Hugging Face transformers (model.safetensors of openai/whisper-*).
const SplitQkvNames kHfNames = {"model.encoder.conv1",
                                "model.encoder.conv2",
                                "model.encoder.embed_positions.weight",
                                "model.encoder.layers.",
                                "self_attn_layer_norm",
                                "self_attn.q_proj",
                                "self_attn.k_proj",
                                "self_attn.v_proj",
                                "self_attn.out_proj",
                                "final_layer_norm",
                                "fc1",
                                "fc2",
                                "model.encoder.layer_norm"};
// openai-whisper's state_dict, as whisper.cpp's ggml files name it.
const SplitQkvNames kOpenAiNames = {
    "encoder.conv1",   "encoder.conv2", "encoder.positional_embedding",
    "encoder.blocks.", "attn_ln",       "attn.query",
    "attn.key",        "attn.value",    "attn.out",
    "mlp_ln",          "mlp.0",         "mlp.2",
    "encoder.ln_post"};

EncoderWeights encoder_from_split_qkv(TensorFile& f, const SplitQkvNames& n, int n_heads,
                                      const std::string& what) {
  auto it = f.tensors.find(n.conv1 + ".weight");
  if (it == f.tensors.end() || it->second.shape.size() != 3)
    throw ModelError(what + ": no Whisper encoder (" + n.conv1 + ".weight) in this file");
  EncoderWeights w;
  w.d_model = int(it->second.shape[0]);
  w.n_mels = int(it->second.shape[1]);
  check_dims(w, what);
  w.n_heads = n_heads;
  if (w.n_heads * kHeadDim != w.d_model)
    throw ModelError(what + ": " + std::to_string(n_heads) + " heads do not give head size 64");
  const int d = w.d_model;
  w.conv1 = conv(f, n.conv1, d, w.n_mels, what, ".");
  w.conv2 = conv(f, n.conv2, d, d, what, ".");
  w.positions = f.take(n.positions, {w.n_ctx, d}, what);
  auto ln = [&](const std::string& p) {
    return LayerNormWeights{f.take(p + ".weight", {d}, what),
                            f.take(p + ".bias", {d}, what)};
  };
  for (int i = 0;; ++i) {
    const std::string p = n.layer + std::to_string(i) + ".";
    if (!f.has(p + n.q + ".weight")) break;
    EncoderLayerWeights l;
    l.attn_ln = ln(p + n.attn_ln);
    l.qkv = stacked(f, p, {&n.q, &n.k, &n.v}, d, d, what);  // K has no bias: zeros
    l.attn_out = linear(f, p + n.attn_out, d, d, what, ".");
    l.mlp_ln = ln(p + n.mlp_ln);
    l.fc1 = linear(f, p + n.fc1, 4 * d, d, what, ".");
    l.fc2 = linear(f, p + n.fc2, d, 4 * d, what, ".");
    w.layers.push_back(std::move(l));
  }
  if (w.layers.empty()) throw ModelError(what + ": encoder has no layers");
  w.ln_post = ln(n.ln_post);
  return w;
}

}  // namespace

HfEncoderConfig read_hf_config(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ModelError(path + ": cannot read");
  const nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) throw ModelError(path + ": not a JSON object");
  HfEncoderConfig c;
  auto field = [&](const char* name, int& out) {
    if (!j.contains(name)) return;
    const nlohmann::json& v = j[name];
    if (!v.is_number_integer() || v.get<int64_t>() < 1 || v.get<int64_t>() > 1 << 20)
      throw ModelError(path + ": " + name + " must be a positive integer");
    out = int(v.get<int64_t>());
  };
  field("encoder_attention_heads", c.heads);
  field("encoder_layers", c.layers);
  field("num_mel_bins", c.n_mels);
  field("d_model", c.d_model);
  field("decoder_attention_heads", c.decoder_heads);
  field("decoder_layers", c.decoder_layers);
  field("vocab_size", c.vocab_size);
  return c;
}

EncoderWeights encoder_from_hf(TensorFile& f, const std::string& what,
                               const HfEncoderConfig& config) {
  auto it = f.tensors.find(kHfNames.conv1 + ".weight");
  const int d = it != f.tensors.end() && !it->second.shape.empty() ? int(it->second.shape[0]) : 0;
  EncoderWeights w =
      encoder_from_split_qkv(f, kHfNames, config.heads ? config.heads : d / kHeadDim, what);
  auto check = [&](const char* name, int expected, int found) {
    if (expected && expected != found)
      throw ModelError(what + ": config.json says " + name + " = " + std::to_string(expected) +
                       " but the weights have " + std::to_string(found));
  };
  check("encoder_layers", config.layers, int(w.layers.size()));
  check("num_mel_bins", config.n_mels, w.n_mels);
  check("d_model", config.d_model, w.d_model);
  return w;
}

DecoderWeights decoder_from_hf(TensorFile& f, const std::string& what,
                               const HfEncoderConfig& config) {
  DecoderWeights w = decoder_from_split(f, kHfDecoderNames, config.decoder_heads, what);
  if (config.decoder_layers && config.decoder_layers != int(w.layers.size()))
    throw ModelError(what + ": config.json says decoder_layers = " +
                     std::to_string(config.decoder_layers) + " but the weights have " +
                     std::to_string(w.layers.size()));
  if (config.vocab_size && config.vocab_size != w.n_vocab)
    throw ModelError(what + ": config.json says vocab_size = " + std::to_string(config.vocab_size) +
                     " but the embedding has " + std::to_string(w.n_vocab) + " rows");
  return w;
}

DecoderWeights decoder_from_ggml(TensorFile& f, const std::string& what) {
  auto heads = f.scalars.find("n_text_head");
  if (heads == f.scalars.end()) throw ModelError(what + ": ggml hyperparameters are missing");
  return decoder_from_split(f, kOpenAiDecoderNames, int(heads->second), what);
}

EncoderWeights encoder_from_ggml(TensorFile& f, const std::string& what) {
  auto heads = f.scalars.find("n_audio_head");
  if (heads == f.scalars.end()) throw ModelError(what + ": ggml hyperparameters are missing");
  return encoder_from_split_qkv(f, kOpenAiNames, int(heads->second), what);
}

int decoder_vocab_size(const TensorFile& f) {
  for (const std::string& name : {std::string("decoder/embeddings/weight"),
                                  kHfDecoderNames.embedding, kOpenAiDecoderNames.embedding}) {
    auto it = f.tensors.find(name);
    if (it != f.tensors.end() && it->second.shape.size() == 2) return int(it->second.shape[0]);
  }
  return 0;
}

}  // namespace amanuensis
