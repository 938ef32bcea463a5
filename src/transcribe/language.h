// Stage: which language the first window is in, from the decoder's
// probabilities of the language tokens after <|startoftranscript|>.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace amanuensis {

struct DetectedLanguage {
  std::string code;
  float probability = 0;
  std::vector<std::pair<std::string, float>> ranked;  // every language, likeliest first
};

// p[i]: the probability of language i (text::language_codes() order). Ties
// keep that order.
DetectedLanguage rank_languages(const std::vector<float>& p);

}  // namespace amanuensis
