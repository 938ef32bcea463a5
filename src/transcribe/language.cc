#include "transcribe/language.h"

#include <algorithm>

#include "text/tokenizer.h"

namespace amanuensis {

DetectedLanguage rank_languages(const std::vector<float>& p) {
  std::vector<int> order(p.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = int(i);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return p[a] > p[b]; });
  DetectedLanguage d;
  for (int i : order) d.ranked.emplace_back(text::language_codes()[i], p[i]);
  if (!order.empty()) {
    d.code = text::language_codes()[order[0]];
    d.probability = p[order[0]];
  }
  return d;
}

}  // namespace amanuensis
