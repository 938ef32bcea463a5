// A whole Whisper checkpoint from any of the formats we read: encoder and
// decoder weights, the vocabulary and the alignment heads.
#pragma once

#include <filesystem>
#include <future>
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

// Reads a checkpoint a part at a time, so that only one part's float weights
// exist at once: map and index the file, then encoder() and decoder() (each
// once) move their tensors out as float32; the caller quantizes one part
// before it asks for the next. A folder's vocabulary file is parsed on a
// thread of its own from the constructor on, beside the weights.
class CheckpointReader {
 public:
  // Throws ModelError. Without `with_vocabulary`, decoder() must not be called.
  explicit CheckpointReader(const std::string& model_path, bool with_vocabulary = true);
  const std::string& format() const { return format_; }
  const std::string& what() const { return what_; }
  EncoderWeights encoder();
  // Also reads the vocabulary and the alignment heads, checked against it
  // (the published ones for the size when the files have none).
  DecoderWeights decoder();
  std::shared_ptr<const text::Tokenizer> tokenizer() const { return tokenizer_; }
  std::vector<std::pair<int, int>> alignment_heads() const { return alignment_heads_; }

 private:
  std::string format_, what_;
  std::filesystem::path folder_;
  HfEncoderConfig hf_;
  TensorFile file_;
  std::shared_ptr<const text::Tokenizer> tokenizer_;
  // The folder's vocabulary, being parsed since the constructor (which knew
  // the size from the file's index); not valid for ggml files.
  std::future<std::shared_ptr<const text::Tokenizer>> folder_tokenizer_;
  std::vector<std::pair<int, int>> alignment_heads_;
};

// The encoder's weights alone (the vocabulary is not read).
EncoderWeights load_encoder(const std::string& model_path);

// The whole checkpoint at once. A CTranslate2 / faster-whisper folder (model.bin + tokenizer.json or
// vocabulary.txt + config.json), a Hugging Face folder (model.safetensors +
// config.json + tokenizer.json or vocab.json [+ generation_config.json]), or
// a whisper.cpp ggml .bin. Throws ModelError with one line for anything
// missing, inconsistent or corrupt.
WhisperCheckpoint load_checkpoint(const std::string& model_path);

}  // namespace amanuensis
