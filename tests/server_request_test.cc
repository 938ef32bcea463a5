// The server's form validation (src/server/request.cc): each OpenAI field is
// honoured or rejected with the status and param that name it.
#include <gtest/gtest.h>

#include "server/request.h"

namespace amanuensis::server {
namespace {

const ModelFacts kBase{"base", {"en", "de", "fr"}, true};
const ModelFacts kTinyEn{"tiny.en", {"en"}, false};

std::vector<FormField> form(std::vector<std::pair<std::string, std::string>> extra) {
  std::vector<FormField> f = {{"file", "a.wav", "audio/wav", "RIFF"}, {"model", "", "", "base"}};
  for (auto& [k, v] : extra) f.push_back({k, "", "", v});
  return f;
}

AudioRequest ok(const std::vector<FormField>& f, Endpoint e = Endpoint::kTranscriptions,
                const ModelFacts& m = kBase) {
  auto r = parse_request(e, f, m);
  EXPECT_TRUE(std::holds_alternative<AudioRequest>(r))
      << (std::holds_alternative<ApiError>(r) ? std::get<ApiError>(r).message : "");
  return std::holds_alternative<AudioRequest>(r) ? std::get<AudioRequest>(r) : AudioRequest{};
}

ApiError err(const std::vector<FormField>& f, Endpoint e = Endpoint::kTranscriptions,
             const ModelFacts& m = kBase) {
  auto r = parse_request(e, f, m);
  EXPECT_TRUE(std::holds_alternative<ApiError>(r));
  return std::holds_alternative<ApiError>(r) ? std::get<ApiError>(r) : ApiError{};
}

TEST(ServerRequest, Defaults) {
  const AudioRequest r = ok(form({}));
  EXPECT_EQ(r.response_format, "json");
  EXPECT_FALSE(r.stream);
  EXPECT_TRUE(r.segments);
  EXPECT_FALSE(r.words);
  EXPECT_EQ(r.file, 0u);
  EXPECT_EQ(r.options.task, Task::kTranscribe);
  EXPECT_EQ(r.options.language, "");
  EXPECT_EQ(r.options.temperatures, TranscribeOptions{}.temperatures);
}

TEST(ServerRequest, EveryFieldHonoured) {
  const AudioRequest r = ok(form({{"language", "de"},
                                  {"prompt", "Hallo"},
                                  {"response_format", "verbose_json"},
                                  {"temperature", "0.5"},
                                  {"timestamp_granularities[]", "word"}}));
  EXPECT_EQ(r.options.language, "de");
  EXPECT_EQ(ok(form({{"language", "EN"}})).options.language, "en");  // codes are case-blind
  EXPECT_EQ(r.options.initial_prompt, "Hallo");
  EXPECT_EQ(r.response_format, "verbose_json");
  ASSERT_EQ(r.options.temperatures.size(), 3u);  // 0.5, 0.7, 0.9
  EXPECT_FLOAT_EQ(r.options.temperatures[0], 0.5f);
  EXPECT_FLOAT_EQ(r.options.temperatures[2], 0.9f);
  EXPECT_TRUE(r.words);
  EXPECT_FALSE(r.segments);  // only word granularity was asked
  EXPECT_TRUE(r.options.word_timestamps);
  EXPECT_TRUE(ok(form({{"stream", "true"}})).stream);
  EXPECT_EQ(ok(form({{"batch_size", "8"}})).options.batch_size, 8);
  std::vector<FormField> alias = form({});
  alias[1].value = "whisper-1";
  EXPECT_EQ(ok(alias).response_format, "json");
}

TEST(ServerRequest, BothGranularities) {
  const AudioRequest r = ok(form({{"response_format", "verbose_json"},
                                  {"timestamp_granularities[]", "segment"},
                                  {"timestamp_granularities[]", "word"}}));
  EXPECT_TRUE(r.segments && r.words);
}

TEST(ServerRequest, Translation) {
  const AudioRequest r = ok(form({}), Endpoint::kTranslations);
  EXPECT_EQ(r.options.task, Task::kTranslate);
  EXPECT_EQ(err(form({{"language", "de"}}), Endpoint::kTranslations).param, "language");
  EXPECT_EQ(err(form({{"stream", "true"}}), Endpoint::kTranslations).param, "stream");
  std::vector<FormField> f = form({});
  f[1].value = "tiny.en";
  EXPECT_EQ(err(f, Endpoint::kTranslations, kTinyEn).param, "model");
}

TEST(ServerRequest, ErrorsNameTheParameter) {
  struct Case {
    std::vector<std::pair<std::string, std::string>> extra;
    std::string param;
  };
  const std::vector<Case> cases = {
      {{{"temperature", "abc"}}, "temperature"},
      {{{"temperature", ""}}, "temperature"},
      {{{"temperature", "1.5"}}, "temperature"},
      {{{"temperature", "-0.1"}}, "temperature"},
      {{{"temperature", "nan"}}, "temperature"},
      {{{"temperature", "0.2x"}}, "temperature"},
      {{{"language", "xx"}}, "language"},
      {{{"language", ""}}, "language"},
      {{{"response_format", "xml"}}, "response_format"},
      {{{"stream", "yes"}}, "stream"},
      {{{"batch_size", "8.5"}}, "batch_size"},
      {{{"batch_size", ""}}, "batch_size"},
      {{{"stream", "true"}, {"response_format", "srt"}}, "stream"},
      {{{"timestamp_granularities[]", "char"}}, "timestamp_granularities[]"},
      {{{"timestamp_granularities[]", "word"}}, "timestamp_granularities[]"},  // not verbose_json
      {{{"frobnicate", "1"}}, "frobnicate"},
      {{{"prompt", "a"}, {"prompt", "b"}}, "prompt"},
      {{{"prompt", std::string(5000, 'a')}}, "prompt"},
  };
  for (const Case& c : cases) {
    const ApiError e = err(form(c.extra));
    EXPECT_EQ(e.status, 400) << c.param;
    EXPECT_EQ(e.param, c.param);
    EXPECT_EQ(e.type, "invalid_request_error");
  }
}

TEST(ServerRequest, FieldsMustBeUtf8) {
  const std::string bad = "\xff\xfe";
  EXPECT_EQ(err(form({{"language", bad}})).param, "language");
  EXPECT_EQ(err(form({{"temperature", "0" + bad}})).param, "temperature");
  const ApiError name = err(form({{"x" + bad, "1"}}));
  EXPECT_EQ(name.status, 400);
  EXPECT_EQ(name.param, "");
  auto f = form({});
  f[0].filename = "a" + bad + ".wav";
  EXPECT_EQ(err(f).param, "file");
  f = form({});
  f[1].value = bad;
  EXPECT_EQ(err(f).param, "model");  // 400, not a 404 quoting the bytes
  f = form({});
  f[0].value = bad;  // the audio itself is bytes
  ok(f);
}

TEST(ServerRequest, ChunkingStrategy) {
  EXPECT_FALSE(ok(form({})).options.vad_filter);
  const AudioRequest automatic = ok(form({{"chunking_strategy", "auto"}}));
  EXPECT_TRUE(automatic.options.vad_filter);
  EXPECT_EQ(automatic.options.vad.min_silence_duration_ms, VadOptions{}.min_silence_duration_ms);
  const AudioRequest vad = ok(form({{"chunking_strategy",
                                     R"({"type": "server_vad", "threshold": 0.3,
                                         "prefix_padding_ms": 250, "silence_duration_ms": 700})"}}));
  EXPECT_TRUE(vad.options.vad_filter);
  EXPECT_FLOAT_EQ(vad.options.vad.threshold, 0.3f);
  EXPECT_EQ(vad.options.vad.speech_pad_ms, 250);
  EXPECT_EQ(vad.options.vad.min_silence_duration_ms, 700);
  for (const char* bad : {"", "manual", "{}", R"({"type": "semantic_vad"})", R"({"type": 1})",
                          R"({"type": "server_vad", "threshold": 2})",
                          R"({"type": "server_vad", "threshold": [0.5]})",
                          R"({"type": "server_vad", "eagerness": 1})", "[[[[", "null"})
    EXPECT_EQ(err(form({{"chunking_strategy", bad}})).param, "chunking_strategy") << bad;
  EXPECT_EQ(err(form({{"chunking_strategy", "auto"}}), Endpoint::kTranslations).param,
            "chunking_strategy");  // transcriptions only, as OpenAI's
  // The openai client sends an object's members as bracketed fields.
  const AudioRequest members = ok(form({{"chunking_strategy[type]", "server_vad"},
                                        {"chunking_strategy[silence_duration_ms]", "300"}}));
  EXPECT_TRUE(members.options.vad_filter);
  EXPECT_EQ(members.options.vad.min_silence_duration_ms, 300);
  EXPECT_EQ(err(form({{"chunking_strategy[silence_duration_ms]", "300"}})).param,
            "chunking_strategy");  // no type
  EXPECT_EQ(err(form({{"chunking_strategy[type]", "server_vad"},
                      {"chunking_strategy[threshold]", "0.5x"}}))
                .param,
            "chunking_strategy");
  EXPECT_EQ(
      err(form({{"chunking_strategy", "auto"}, {"chunking_strategy[type]", "server_vad"}})).param,
      "chunking_strategy");
  EXPECT_EQ(err(form({{"chunking_strategy[]", "auto"}})).param, "chunking_strategy[]");
}

// OpenAI's include[]: 'logprobs' (for json, streamed or not); the openai
// client sends include[]=..., a hand-made form may say include.
TEST(ServerRequest, IncludeLogprobs) {
  EXPECT_FALSE(ok(form({})).logprobs);
  EXPECT_TRUE(ok(form({{"include[]", "logprobs"}})).logprobs);
  EXPECT_TRUE(ok(form({{"include", "logprobs"}})).logprobs);
  EXPECT_TRUE(ok(form({{"include[]", "logprobs"}, {"include[]", "logprobs"}})).logprobs);
  EXPECT_TRUE(ok(form({{"include[]", "logprobs"}, {"stream", "true"}})).logprobs);
  ApiError e = err(form({{"include[]", "words"}}));
  EXPECT_EQ(e.param, "include[]");
  EXPECT_EQ(e.code, "unsupported_value");
  for (const char* format : {"text", "verbose_json", "srt", "vtt"}) {
    e = err(form({{"include[]", "logprobs"}, {"response_format", format}}));
    EXPECT_EQ(e.status, 400);
    EXPECT_EQ(e.param, "include[]") << format;
  }
  e = err(form({{"include[]", "logprobs"}}), Endpoint::kTranslations);
  EXPECT_EQ(e.code, "unknown_parameter");  // OpenAI's translations have no include[]
}

TEST(ServerRequest, MissingFileOrModel) {
  EXPECT_EQ(err({{"model", "", "", "base"}}).param, "file");
  EXPECT_EQ(err({{"file", "a.wav", "", "RIFF"}}).param, "model");
  EXPECT_EQ(err({{"file", "a.wav", "", ""}, {"model", "", "", "base"}}).param, "file");
}

TEST(ServerRequest, UnknownModelIs404) {
  std::vector<FormField> f = form({});
  f[1].value = "gpt-4o-transcribe";
  const ApiError e = err(f);
  EXPECT_EQ(e.status, 404);
  EXPECT_EQ(e.param, "model");
  EXPECT_EQ(e.code, "model_not_found");
}

TEST(ServerRequest, EnglishOnlyModel) {
  std::vector<FormField> f = form({{"language", "de"}});
  f[1].value = "tiny.en";
  EXPECT_EQ(err(f, Endpoint::kTranscriptions, kTinyEn).param, "language");
  f[2].value = "en";
  EXPECT_EQ(ok(f, Endpoint::kTranscriptions, kTinyEn).options.language, "en");
}

TEST(ServerRequest, EngineErrorsMapByKind) {
  const ApiError bad = engine_error(Error("unknown language code 'xx'", ErrorKind::kBadInput, "language"));
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.param, "language");
  const ApiError prompt = engine_error(Error("too long", ErrorKind::kBadInput, "initial_prompt"));
  EXPECT_EQ(prompt.param, "prompt");
  EXPECT_EQ(engine_error(Error("no", ErrorKind::kUnsupported, "task")).status, 400);
  EXPECT_EQ(engine_error(Error("too long", ErrorKind::kResourceLimit)).status, 413);
  // A broken model or a bug is the server's fault, and its text is not the client's business.
  const ApiError internal = engine_error(Error("std::bad_variant_access at 0x1234", ErrorKind::kInternal));
  EXPECT_EQ(internal.status, 500);
  EXPECT_EQ(internal.message.find("0x1234"), std::string::npos);
  EXPECT_EQ(internal.type, "server_error");
  EXPECT_EQ(engine_error(Error("model.bin: truncated", ErrorKind::kBadModel)).status, 500);
}

}  // namespace
}  // namespace amanuensis::server
