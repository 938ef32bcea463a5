#include "model/checkpoint.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "io/file.h"
#include "model/ct2_format.h"
#include "model/ggml_format.h"
#include "model/safetensors_format.h"

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
  if (fs::exists(folder / "vocab.json"))
    return std::make_shared<const text::Tokenizer>(
        text::Tokenizer::from_vocab_json((folder / "vocab.json").string(), n_vocab));
  throw ModelError(folder.string() +
                   ": no vocabulary (tokenizer.json, vocabulary.txt or vocab.json) beside the "
                   "weights; a Whisper model folder needs one to turn tokens into text");
}

void check_pair(const WhisperCheckpoint& c, const std::string& what) {
  if (c.encoder.d_model != c.decoder.d_model)
    throw ModelError(what + ": encoder width " + std::to_string(c.encoder.d_model) +
                     " and decoder width " + std::to_string(c.decoder.d_model) + " differ");
  if (c.decoder.n_ctx < 16 || c.decoder.n_ctx > 4096)
    throw ModelError(what + ": implausible text context " + std::to_string(c.decoder.n_ctx));
  if (c.tokenizer->n_vocab() != c.decoder.n_vocab)
    throw ModelError(what + ": the vocabulary has " + std::to_string(c.tokenizer->n_vocab()) +
                     " tokens but the decoder " + std::to_string(c.decoder.n_vocab));
}

}  // namespace

WhisperCheckpoint load_checkpoint(const std::string& model_path) {
  if (!fs::exists(model_path)) throw ModelError(model_path + ": no such model file or folder");
  fs::path file = model_path;
  if (fs::is_directory(file))
    file = fs::exists(file / "model.bin") ? file / "model.bin" : file / "model.safetensors";
  if (!fs::exists(file))
    throw ModelError(model_path +
                     ": no model.bin or model.safetensors here (expected a CTranslate2 / "
                     "faster-whisper or a Hugging Face Whisper model folder)");
  const fs::path folder = file.parent_path().empty() ? fs::path(".") : file.parent_path();
  const std::string what = file.string();
  WhisperCheckpoint c;
  try {
    if (file.extension() == ".safetensors") {
      c.format = "Hugging Face";
      const fs::path config = folder / "config.json";
      const HfEncoderConfig hf =
          fs::exists(config) ? read_hf_config(config.string()) : HfEncoderConfig{};
      TensorFile f = read_safetensors(what);
      c.encoder = encoder_from_hf(f, what, hf);
      c.decoder = decoder_from_hf(f, what, hf);
      c.tokenizer = folder_tokenizer(folder, c.decoder.n_vocab);
      c.alignment_heads = read_alignment_heads(folder / "generation_config.json", c.decoder);
    } else {
      const std::vector<uint8_t> head = read_file_head(what, 4);
      uint32_t magic = 0;
      if (head.size() == 4) std::memcpy(&magic, head.data(), 4);
      if (magic == kGgmlMagic) {
        c.format = "whisper.cpp ggml";
        TensorFile f = read_ggml(what);
        c.encoder = encoder_from_ggml(f, what);
        c.decoder = decoder_from_ggml(f, what);
        c.tokenizer =
            std::make_shared<const text::Tokenizer>(std::move(f.vocabulary), c.decoder.n_vocab);
      } else {
        c.format = "CTranslate2";
        TensorFile f = read_ct2_model(what);
        c.encoder = encoder_from_ct2(f, what);
        c.decoder = decoder_from_ct2(f, what);
        c.tokenizer = folder_tokenizer(folder, c.decoder.n_vocab);
        c.alignment_heads = read_alignment_heads(folder / "config.json", c.decoder);
      }
    }
  } catch (const text::TokenizerError& e) {
    throw ModelError(e.what());
  }
  check_pair(c, what);
  return c;
}

}  // namespace amanuensis
