#include "streaming/local_agreement.h"

#include <algorithm>
#include <cctype>

namespace amanuensis::streaming {
namespace {

// A hypothesis may restate the end of what is committed, with times a little
// off: a word whose middle is past this much before the committed end still
// counts as new (its middle: a word after a pause may be timed from the
// pause's start), and up to this many of them are matched against the
// committed tail.
constexpr double kTimeSlackSeconds = 0.1;
constexpr size_t kMaxOverlapWords = 5;
// Only a hypothesis that starts this close to the committed end can restate it.
constexpr double kOverlapWindowSeconds = 1.0;

}  // namespace

std::string comparable(const std::string& word) {
  std::string out;
  for (unsigned char c : word) {
    if (c >= 0x80)
      out += char(c);
    else if (std::isalnum(c))
      out += char(std::tolower(c));
  }
  if (!out.empty()) return out;
  // Punctuation alone ("...", "-") is compared as written.
  const size_t b = word.find_first_not_of(' ');
  return b == std::string::npos ? "" : word.substr(b);
}

std::vector<Word> LocalAgreement::unseen(const std::vector<Word>& hypothesis) const {
  std::vector<Word> fresh;
  for (const Word& w : hypothesis)
    if ((w.start + w.end) / 2 > committed_end_ - kTimeSlackSeconds) fresh.push_back(w);
  if (fresh.empty() || recent_.empty() ||
      std::abs(fresh.front().start - committed_end_) >= kOverlapWindowSeconds)
    return fresh;
  // The shortest restated tail of the committed words, if any, is dropped.
  const size_t most = std::min({kMaxOverlapWords, recent_.size(), fresh.size()});
  for (size_t n = 1; n <= most; ++n) {
    bool same = true;
    for (size_t i = 0; i < n && same; ++i)
      same = recent_[recent_.size() - n + i] == comparable(fresh[i].word);
    if (same) {
      fresh.erase(fresh.begin(), fresh.begin() + long(n));
      break;
    }
  }
  return fresh;
}

void LocalAgreement::commit(const std::vector<Word>& words) {
  for (const Word& w : words) {
    committed_text_ += w.word;
    committed_end_ = std::max(committed_end_, w.end);
    recent_.push_back(comparable(w.word));
  }
  if (recent_.size() > kMaxOverlapWords)
    recent_.erase(recent_.begin(), recent_.end() - long(kMaxOverlapWords));
}

std::vector<Word> LocalAgreement::insert(const std::vector<Word>& hypothesis) {
  std::vector<Word> fresh = unseen(hypothesis);
  size_t agreed = 0;
  while (agreed < fresh.size() && agreed < tentative_.size() &&
         comparable(fresh[agreed].word) == comparable(tentative_[agreed].word))
    ++agreed;
  std::vector<Word> committed(fresh.begin(), fresh.begin() + long(agreed));
  commit(committed);
  tentative_.assign(fresh.begin() + long(agreed), fresh.end());
  return committed;
}

std::vector<Word> LocalAgreement::commit_all() {
  std::vector<Word> words = std::move(tentative_);
  tentative_.clear();
  commit(words);
  return words;
}

}  // namespace amanuensis::streaming
