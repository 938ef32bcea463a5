// Whisper's encoder weights, independent of the file format they came from.
#pragma once

#include <string>
#include <vector>

#include "layers/linear.h"
#include "formats/tensor_file.h"

namespace amanuensis {

struct EncoderLayerWeights {
  LayerNormWeights attn_ln;
  Linear qkv;  // rows: Q (d), K (d), V (d)
  Linear attn_out;
  LayerNormWeights mlp_ln;
  Linear fc1, fc2;
};

struct EncoderWeights {
  int n_mels = 0, d_model = 0, n_heads = 0, n_ctx = 1500;
  Linear conv1;                  // [d][3 * n_mels], column = tap * n_mels + channel
  Linear conv2;                  // [d][3 * d]
  std::vector<float> positions;  // [n_ctx][d]
  std::vector<EncoderLayerWeights> layers;
  LayerNormWeights ln_post;
};

struct DecoderLayerWeights {
  LayerNormWeights self_ln;
  Linear self_qkv;  // rows: Q (d), K (d), V (d)
  Linear self_out;
  LayerNormWeights cross_ln;
  Linear cross_q;   // [d][d]
  Linear cross_kv;  // rows: K (d), V (d); applied to the encoder output
  Linear cross_out;
  LayerNormWeights mlp_ln;
  Linear fc1, fc2;
};

struct DecoderWeights {
  int d_model = 0, n_heads = 0, n_vocab = 0, n_ctx = 448;
  Linear embedding;  // [n_vocab][d], zero bias: the token embedding and the tied output projection
  std::vector<float> positions;  // [n_ctx][d]
  std::vector<DecoderLayerWeights> layers;
  LayerNormWeights ln;
};

// The from_* functions move the tensors they use out of `f`.

// From CTranslate2's WhisperSpec names (faster-whisper models). Throws
// ModelError naming `what` for missing or mismatched tensors.
EncoderWeights encoder_from_ct2(TensorFile& f, const std::string& what);

DecoderWeights decoder_from_ct2(TensorFile& f, const std::string& what);

// Hyperparameters from a Hugging Face config.json (0: absent).
struct HfEncoderConfig {
  int heads = 0, layers = 0, n_mels = 0, d_model = 0;
  int decoder_heads = 0, decoder_layers = 0, vocab_size = 0;
};
// Throws ModelError for a file that is not a JSON object or has malformed fields.
HfEncoderConfig read_hf_config(const std::string& path);

// From Hugging Face transformers' names (model.safetensors of openai/whisper-*),
// checked against config.json's hyperparameters where given (without one,
// heads are taken as 64 wide, as in every Whisper).
EncoderWeights encoder_from_hf(TensorFile& f, const std::string& what,
                               const HfEncoderConfig& config = {});

DecoderWeights decoder_from_hf(TensorFile& f, const std::string& what,
                               const HfEncoderConfig& config = {});

// From whisper.cpp's ggml files (openai-whisper's state_dict names).
EncoderWeights encoder_from_ggml(TensorFile& f, const std::string& what);
DecoderWeights decoder_from_ggml(TensorFile& f, const std::string& what);

// Rows of the decoder's token embedding in any of those layouts, from the
// file's index alone (0 without one): the vocabulary can be read on another
// thread while the weights are quantized.
int decoder_vocab_size(const TensorFile& f);

}  // namespace amanuensis
