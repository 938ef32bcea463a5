#include "model/checkpoint.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "io/file.h"
#include "layers/linear.h"
#include "model/alignment_heads.h"
#include "formats/ct2_format.h"
#include "formats/ggml_format.h"
#include "formats/safetensors_format.h"

namespace amanuensis {
namespace {

namespace fs = std::filesystem;

// "alignment_heads": [[layer, head], ...] from a JSON file, if it has them.
std::vector<std::pair<int, int>> read_alignment_heads(const fs::path& path, const DecoderWeights& d) {
  std::vector<std::pair<int, int>> heads;
  if (!fs::exists(path)) return heads;
  std::ifstream in(path);
  const nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) throw ModelError(path.string() + ": not a JSON object");
  if (!j.contains("alignment_heads") || j["alignment_heads"].is_null()) return heads;
  const nlohmann::json& a = j["alignment_heads"];
  if (!a.is_array()) throw ModelError(path.string() + ": alignment_heads is not a list");
  for (const nlohmann::json& pair : a) {
    if (!pair.is_array() || pair.size() != 2 || !pair[0].is_number_integer() ||
        !pair[1].is_number_integer())
      throw ModelError(path.string() + ": alignment_heads holds something other than pairs");
    const int layer = pair[0].get<int>(), head = pair[1].get<int>();
    if (layer < 0 || layer >= int(d.layers.size()) || head < 0 || head >= d.n_heads)
      throw ModelError(path.string() + ": alignment head (" + std::to_string(layer) + ", " +
                       std::to_string(head) + ") is not in the decoder");
    heads.emplace_back(layer, head);
  }
  return heads;
}

std::shared_ptr<const text::Tokenizer> folder_tokenizer(const fs::path& folder, int n_vocab) {
  if (fs::exists(folder / "tokenizer.json"))
    return std::make_shared<const text::Tokenizer>(
        text::Tokenizer::from_tokenizer_json((folder / "tokenizer.json").string(), n_vocab));
  if (fs::exists(folder / "vocabulary.txt"))
    return std::make_shared<const text::Tokenizer>(
        text::Tokenizer::from_vocabulary_txt((folder / "vocabulary.txt").string(), n_vocab));
  if (fs::exists(folder / "vocabulary.json"))  // CTranslate2 converters since 3.x
    return std::make_shared<const text::Tokenizer>(
        text::Tokenizer::from_vocabulary_json((folder / "vocabulary.json").string(), n_vocab));
  if (fs::exists(folder / "vocab.json"))
    return std::make_shared<const text::Tokenizer>(
        text::Tokenizer::from_vocab_json((folder / "vocab.json").string(), n_vocab));
  throw ModelError(folder.string() +
                   ": no vocabulary (tokenizer.json, vocabulary.txt, vocabulary.json or vocab.json) beside the "
                   "weights; a Whisper model folder needs one to turn tokens into text");
}

}  // namespace

CheckpointReader::CheckpointReader(const std::string& model_path, bool with_vocabulary) {
  if (!fs::exists(model_path)) throw ModelError(model_path + ": no such model file or folder");
  fs::path file = model_path;
  if (fs::is_directory(file))
    file = fs::exists(file / "model.bin") ? file / "model.bin" : file / "model.safetensors";
  if (!fs::exists(file))
    throw ModelError(model_path +
                     ": no model.bin or model.safetensors here (expected a CTranslate2 / "
                     "faster-whisper or a Hugging Face Whisper model folder)");
  folder_ = file.parent_path().empty() ? fs::path(".") : file.parent_path();
  what_ = file.string();
  if (file.extension() == ".safetensors") {
    format_ = "Hugging Face";
    const fs::path config = folder_ / "config.json";
    hf_ = fs::exists(config) ? read_hf_config(config.string()) : HfEncoderConfig{};
    file_ = read_safetensors(what_);
  } else {
    const std::vector<uint8_t> head = read_file_head(what_, 4);
    uint32_t magic = 0;
    if (head.size() == 4) std::memcpy(&magic, head.data(), 4);
    format_ = magic == kGgmlMagic ? "whisper.cpp ggml" : "CTranslate2";
    file_ = magic == kGgmlMagic ? read_ggml(what_) : read_ct2_model(what_);
  }
  // Parsing tokenizer.json takes about as long as quantizing the encoder,
  // which leaves the other cores idle. decoder() checks the size again.
  const int n_vocab = decoder_vocab_size(file_);
  if (with_vocabulary && format_ != "whisper.cpp ggml" && n_vocab > 0)
    folder_tokenizer_ = std::async(std::launch::async, [folder = folder_, n_vocab] {
      return folder_tokenizer(folder, n_vocab);
    });
}

EncoderWeights CheckpointReader::encoder() {
  if (format_ == "Hugging Face") return encoder_from_hf(file_, what_, hf_);
  if (format_ == "whisper.cpp ggml") return encoder_from_ggml(file_, what_);
  return encoder_from_ct2(file_, what_);
}

DecoderWeights CheckpointReader::decoder() {
  DecoderWeights d = format_ == "Hugging Face"       ? decoder_from_hf(file_, what_, hf_)
                     : format_ == "whisper.cpp ggml" ? decoder_from_ggml(file_, what_)
                                                     : decoder_from_ct2(file_, what_);
  if (d.n_ctx < 16 || d.n_ctx > 4096)
    throw ModelError(what_ + ": implausible text context " + std::to_string(d.n_ctx));
  try {
    if (format_ == "whisper.cpp ggml") {
      // ggml files list the text tokens, and some (English-only ones from
      // the usual converters) one more: GPT-2's <|endoftext|>.
      std::vector<std::string> tokens = file_.vocabulary;
      const int eot = text::special_tokens(d.n_vocab).eot;
      if (int(tokens.size()) > eot) tokens.resize(size_t(eot));
      tokenizer_ = std::make_shared<const text::Tokenizer>(std::move(tokens), d.n_vocab, what_);
    }
    else {
      tokenizer_ = folder_tokenizer_.valid() ? folder_tokenizer_.get()
                                             : folder_tokenizer(folder_, d.n_vocab);
    }
  } catch (const text::TokenizerError& e) {
    throw ModelError(e.what());
  }
  if (tokenizer_->n_vocab() != d.n_vocab)
    throw ModelError(what_ + ": the vocabulary has " + std::to_string(tokenizer_->n_vocab()) +
                     " tokens but the decoder " + std::to_string(d.n_vocab));
  if (format_ == "Hugging Face")
    alignment_heads_ = read_alignment_heads(folder_ / "generation_config.json", d);
  else if (format_ == "CTranslate2")
    alignment_heads_ = read_alignment_heads(folder_ / "config.json", d);
  if (alignment_heads_.empty())  // ggml files, and folders converted without them
    alignment_heads_ = default_alignment_heads(int(d.layers.size()), d.d_model, d.n_heads, d.n_vocab);
  return d;
}

EncoderWeights load_encoder(const std::string& model_path) {
  return CheckpointReader(model_path, /*with_vocabulary=*/false).encoder();
}

WhisperCheckpoint load_checkpoint(const std::string& model_path) {
  CheckpointReader r(model_path);
  WhisperCheckpoint c;
  c.format = r.format();
  c.encoder = r.encoder();
  c.decoder = r.decoder();
  c.tokenizer = r.tokenizer();
  c.alignment_heads = r.alignment_heads();
  if (c.encoder.d_model != c.decoder.d_model)
    throw ModelError(r.what() + ": encoder width " + std::to_string(c.encoder.d_model) +
                     " and decoder width " + std::to_string(c.decoder.d_model) + " differ");
  return c;
}

}  // namespace amanuensis
