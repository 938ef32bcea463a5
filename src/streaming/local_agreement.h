// LocalAgreement-2 (Macháček et al., whisper_streaming): a word is final once
// two consecutive hypotheses of the growing audio agree on it and on every
// word before it. Pure: hypotheses in, committed words out, so the policy is
// tested without a model.
#pragma once

#include <string>
#include <vector>

#include "amanuensis/types.h"

namespace amanuensis::streaming {

// The form two hypotheses must share for a word to count as agreed: letters
// and digits, lower-cased (ASCII; other bytes as they are), so that " world,"
// and " World" agree. The committed form is the later hypothesis's.
std::string comparable(const std::string& word);

class LocalAgreement {
 public:
  // A hypothesis of the audio since some point at or before the committed
  // end, its word times on the stream's timeline. Returns the words it
  // commits (in order, never revisited).
  std::vector<Word> insert(const std::vector<Word>& hypothesis);
  // The same, but committing nothing: a hypothesis too short to trust sets
  // what the next one must agree with.
  void propose(const std::vector<Word>& hypothesis) { tentative_ = unseen(hypothesis); }
  // Commits the tentative words as they stand (end of turn or stream).
  std::vector<Word> commit_all();
  // A new turn follows silence or a cut: its first words cannot restate the
  // last committed ones ("Yes." and "Yes." are two answers).
  void new_turn() { recent_.clear(); }
  // The latest hypothesis's words after the committed ones: may change.
  const std::vector<Word>& tentative() const { return tentative_; }
  // Where the committed words end, in seconds (0 before any).
  double committed_end() const { return committed_end_; }
  // The committed words' text.
  const std::string& committed_text() const { return committed_text_; }

 private:
  std::vector<Word> unseen(const std::vector<Word>& hypothesis) const;
  void commit(const std::vector<Word>& words);

  std::vector<Word> tentative_;
  std::vector<std::string> recent_;  // the last committed words, comparable
  double committed_end_ = 0;
  std::string committed_text_;
};

}  // namespace amanuensis::streaming
