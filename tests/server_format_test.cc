// The server's response bodies (src/server/openai_format.cc) where they add
// to the engine's output: include[]=logprobs in json and in stream events.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "server/openai_format.h"

namespace amanuensis::server {
namespace {

using nlohmann::json;

constexpr int kTimestamp = 1000;  // ids from here on are special in this toy vocabulary

// Text tokens spell their id's letters; a split UTF-8 character ("é" = C3 A9)
// is two tokens.
const TokenText kTokens = [](int id) -> std::optional<std::string> {
  if (id >= kTimestamp) return std::nullopt;
  if (id == 1) return std::string("\xC3");
  if (id == 2) return std::string("\xA9");
  return std::string(1, char('a' + id % 26));
};

Transcription transcription() {
  Transcription t;
  Segment a, b;
  a.text = " ca\xC3\xA9";
  a.tokens = {kTimestamp, 2 + 26, 0, 1, 2, kTimestamp + 50};
  a.token_logprobs = {-0.5f, -0.25f, -1.0f, -2.0f, -0.125f, -3.0f};
  b.text = " d";
  b.tokens = {kTimestamp + 50, 3, kTimestamp + 100};
  b.token_logprobs = {-0.5f, -0.75f, -0.5f};
  t.segments = {a, b};
  t.text = a.text + b.text;
  t.info.language = "en";
  t.info.duration = 2.5;
  return t;
}

std::vector<std::tuple<std::string, float, std::vector<int>>> listed(const json& logprobs) {
  std::vector<std::tuple<std::string, float, std::vector<int>>> out;
  for (const json& l : logprobs)
    out.emplace_back(l.at("token").get<std::string>(), l.at("logprob").get<float>(),
                     l.at("bytes").get<std::vector<int>>());
  return out;
}

const std::vector<std::tuple<std::string, float, std::vector<int>>> kExpected = {
    {"c", -0.25f, {'c'}},
    {"a", -1.0f, {'a'}},
    {"\xEF\xBF\xBD", -2.0f, {0xC3}},  // half a character: U+FFFD, the byte exact
    {"\xEF\xBF\xBD", -0.125f, {0xA9}},
    {"d", -0.75f, {'d'}}};

TEST(ServerFormat, JsonListsTextTokensLogprobsWhenAsked) {
  const Transcription t = transcription();
  AudioRequest r;
  Body b = response_body(t, r, kTokens);
  json j = json::parse(b.text);
  EXPECT_FALSE(j.contains("logprobs"));
  EXPECT_EQ(j.at("text"), "ca\xC3\xA9 d");
  r.logprobs = true;
  j = json::parse(response_body(t, r, kTokens).text);
  EXPECT_EQ(listed(j.at("logprobs")), kExpected);
  EXPECT_EQ(j.at("usage").at("seconds"), 3);
}

TEST(ServerFormat, StreamEventsListTheirTokens) {
  const Transcription t = transcription();
  auto data = [](const std::string& event) {
    EXPECT_EQ(event.rfind("data: ", 0), 0u);
    return json::parse(event.substr(6));
  };
  EXPECT_FALSE(data(delta_event(t.segments[0], true)).contains("logprobs"));
  EXPECT_FALSE(data(done_event(t)).contains("logprobs"));
  const json first = data(delta_event(t.segments[0], true, &kTokens));
  const json second = data(delta_event(t.segments[1], false, &kTokens));
  EXPECT_EQ(listed(first.at("logprobs")),
            decltype(kExpected)(kExpected.begin(), kExpected.begin() + 4));
  EXPECT_EQ(listed(second.at("logprobs")),
            decltype(kExpected)(kExpected.begin() + 4, kExpected.end()));
  EXPECT_EQ(listed(data(done_event(t, &kTokens)).at("logprobs")), kExpected);
}

}  // namespace
}  // namespace amanuensis::server
