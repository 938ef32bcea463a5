// A whole Whisper checkpoint from any of the formats we read: encoder and
// decoder weights, the vocabulary and the alignment heads.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "model/whisper_weights.h"
#include "text/tokenizer.h"

namespace amanuensis {

struct WhisperCheckpoint {
  std::string format;  // "CTranslate2", "Hugging Face" or "whisper.cpp ggml"
  EncoderWeights encoder;
  DecoderWeights decoder;
  std::shared_ptr<const text::Tokenizer> tokenizer;
  // (decoder layer, head) pairs whose cross-attention follows the audio, as
  // the model's files list them; empty where they do not.
  std::vector<std::pair<int, int>> alignment_heads;
};

// A CTranslate2 / faster-whisper folder (model.bin + tokenizer.json or
// vocabulary.txt + config.json), a Hugging Face folder (model.safetensors +
// config.json + tokenizer.json or vocab.json [+ generation_config.json]), or
// a whisper.cpp ggml .bin. Throws ModelError with one line for anything
// missing, inconsistent or corrupt.
WhisperCheckpoint load_checkpoint(const std::string& model_path);

}  // namespace amanuensis
