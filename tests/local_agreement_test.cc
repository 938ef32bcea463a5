// LocalAgreement-2 (src/streaming/local_agreement.cc) on hand-made
// hypotheses: what two in a row agree on is committed once, in order, never
// again; restated committed words are not committed twice.
#include "streaming/local_agreement.h"

#include <gtest/gtest.h>

namespace amanuensis::streaming {
namespace {

// " a b c" with word i at [i, i + 0.8) seconds from `from`.
std::vector<Word> words(const std::vector<std::string>& texts, double from = 0) {
  std::vector<Word> out;
  for (size_t i = 0; i < texts.size(); ++i)
    out.push_back({from + double(i), from + double(i) + 0.8, " " + texts[i], 0.9f});
  return out;
}

std::string text(const std::vector<Word>& ws) {
  std::string t;
  for (const Word& w : ws) t += w.word;
  return t;
}

TEST(Comparable, IgnoresCaseSpacesAndPunctuation) {
  EXPECT_EQ(comparable(" World,"), "world");
  EXPECT_EQ(comparable(" world"), "world");
  EXPECT_EQ(comparable(" don't"), "dont");
  EXPECT_EQ(comparable(" Grüße!"),
            "gr\xC3\xBC\xC3\x9F"
            "e");
  EXPECT_EQ(comparable(" ..."), "...");  // punctuation alone, as written
  EXPECT_EQ(comparable(" "), "");
}

TEST(LocalAgreement, CommitsTheCommonPrefixOfTwoHypotheses) {
  LocalAgreement a;
  EXPECT_TRUE(a.insert(words({"the", "cat"})).empty());  // nothing to agree with yet
  EXPECT_EQ(text(a.tentative()), " the cat");
  EXPECT_EQ(text(a.insert(words({"the", "cat", "sat"}))), " the cat");
  EXPECT_EQ(text(a.tentative()), " sat");
  EXPECT_DOUBLE_EQ(a.committed_end(), 1.8);
  // "sat" changes to "sang": nothing new agrees.
  EXPECT_TRUE(a.insert(words({"the", "cat", "sang", "on"})).empty());
  EXPECT_EQ(text(a.tentative()), " sang on");
  EXPECT_EQ(text(a.insert(words({"the", "cat", "Sang,", "on", "a"}))), " Sang, on");
  EXPECT_EQ(a.committed_text(), " the cat Sang, on");
  EXPECT_EQ(text(a.commit_all()), " a");
  EXPECT_TRUE(a.tentative().empty());
  EXPECT_EQ(a.committed_text(), " the cat Sang, on a");
}

TEST(LocalAgreement, WordsBeforeTheCommittedEndAreNotNew) {
  LocalAgreement a;
  a.insert(words({"one", "two"}));
  a.insert(words({"one", "two", "three"}));  // commits one two, ending at 1.8
  // A hypothesis of a buffer cut at 1.0: "two" again, then new words.
  const std::vector<Word> cut = words({"two", "three", "four"}, 1.0);
  EXPECT_EQ(text(a.insert(cut)), " three");
  EXPECT_EQ(a.committed_text(), " one two three");
}

TEST(LocalAgreement, ARestatedTailIsDroppedByText) {
  LocalAgreement a;
  a.insert(words({"so", "my", "fellow"}));
  a.insert(words({"so", "my", "fellow", "Americans"}));  // commits so my fellow (ends 2.8)
  // The next hypothesis restates "fellow" with a start past the committed end.
  // "Americans" is the second hypothesis in a row to say it.
  EXPECT_EQ(text(a.insert(words({"fellow", "Americans", "ask"}, 2.75))), " Americans");
  EXPECT_EQ(text(a.tentative()), " ask");
  EXPECT_EQ(text(a.insert(words({"fellow", "Americans", "ask", "not"}, 2.75))), " ask");
  EXPECT_EQ(a.committed_text(), " so my fellow Americans ask");
}

TEST(LocalAgreement, AProposalCommitsNothingButIsAgreedWith) {
  LocalAgreement a;
  a.propose(words({"how", "do"}));
  a.propose(words({"had", "he"}));  // replaces, never commits
  EXPECT_EQ(a.committed_text(), "");
  EXPECT_EQ(text(a.tentative()), " had he");
  EXPECT_EQ(text(a.insert(words({"had", "he", "married"}))), " had he");
}

TEST(LocalAgreement, EmptyHypothesesCommitNothing) {
  LocalAgreement a;
  EXPECT_TRUE(a.insert({}).empty());
  EXPECT_TRUE(a.insert({}).empty());
  EXPECT_TRUE(a.commit_all().empty());
  EXPECT_EQ(a.committed_text(), "");
  EXPECT_EQ(a.committed_end(), 0);
}

}  // namespace
}  // namespace amanuensis::streaming
