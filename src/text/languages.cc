// Whisper's languages, in the order of their tokens (openai-whisper's
// tokenizer.py LANGUAGES).
#include "text/tokenizer.h"

namespace amanuensis::text {

const std::vector<std::string>& language_codes() {
  static const std::vector<std::string> codes = {
      "en", "zh", "de", "es",  "ru", "ko", "fr", "ja", "pt", "tr", "pl", "ca", "nl", "ar", "sv",
      "it", "id", "hi", "fi",  "vi", "he", "uk", "el", "ms", "cs", "ro", "da", "hu", "ta", "no",
      "th", "ur", "hr", "bg",  "lt", "la", "mi", "ml", "cy", "sk", "te", "fa", "lv", "bn", "sr",
      "az", "sl", "kn", "et",  "mk", "br", "eu", "is", "hy", "ne", "mn", "bs", "kk", "sq", "sw",
      "gl", "mr", "pa", "si",  "km", "sn", "yo", "so", "af", "oc", "ka", "be", "tg", "sd", "gu",
      "am", "yi", "lo", "uz",  "fo", "ht", "ps", "tk", "nn", "mt", "sa", "lb", "my", "bo", "tl",
      "mg", "as", "tt", "haw", "ln", "ha", "ba", "jw", "su", "yue"};
  return codes;
}

const std::vector<std::string>& language_names() {
  static const std::vector<std::string> names = {
      "english",  "chinese",    "german",         "spanish",     "russian",    "korean",
      "french",   "japanese",   "portuguese",     "turkish",     "polish",     "catalan",
      "dutch",    "arabic",     "swedish",        "italian",     "indonesian", "hindi",
      "finnish",  "vietnamese", "hebrew",         "ukrainian",   "greek",      "malay",
      "czech",    "romanian",   "danish",         "hungarian",   "tamil",      "norwegian",
      "thai",     "urdu",       "croatian",       "bulgarian",   "lithuanian", "latin",
      "maori",    "malayalam",  "welsh",          "slovak",      "telugu",     "persian",
      "latvian",  "bengali",    "serbian",        "azerbaijani", "slovenian",  "kannada",
      "estonian", "macedonian", "breton",         "basque",      "icelandic",  "armenian",
      "nepali",   "mongolian",  "bosnian",        "kazakh",      "albanian",   "swahili",
      "galician", "marathi",    "punjabi",        "sinhala",     "khmer",      "shona",
      "yoruba",   "somali",     "afrikaans",      "occitan",     "georgian",   "belarusian",
      "tajik",    "sindhi",     "gujarati",       "amharic",     "yiddish",    "lao",
      "uzbek",    "faroese",    "haitian creole", "pashto",      "turkmen",    "nynorsk",
      "maltese",  "sanskrit",   "luxembourgish",  "myanmar",     "tibetan",    "tagalog",
      "malagasy", "assamese",   "tatar",          "hawaiian",    "lingala",    "hausa",
      "bashkir",  "javanese",   "sundanese",      "cantonese"};
  return names;
}

int language_index(std::string_view code) {
  const auto& codes = language_codes();
  for (size_t i = 0; i < codes.size(); ++i)
    if (codes[i] == code) return static_cast<int>(i);
  return -1;
}

}  // namespace amanuensis::text
