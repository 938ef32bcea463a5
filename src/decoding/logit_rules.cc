#include "decoding/logit_rules.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <set>
#include <span>
#include <string>

#include "kernels/per_isa.h"
#include "layers/float_math.h"

namespace amanuensis::decoding {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

void suppress_range(float* logits, int begin, int end) {
  for (int i = begin; i < end; ++i) logits[i] = kNegInf;
}

// The largest of x[0, n), 16 lanes at a time (as a plain loop the reduction
// stays scalar). A maximum is the same value in any order; only the sign of
// a zero maximum could differ, which no caller can tell (it is subtracted
// from, added to and compared with other values).
[[gnu::always_inline]] inline float max_of(const float* x, int n) {
  constexpr int kLanes = 16;
  Floats8 low = Floats8{} + kNegInf, high = low;
  const int body = n / kLanes * kLanes;
  for (int i = 0; i < body; i += kLanes) {
    Floats8 a, b;
    std::memcpy(&a, x + i, sizeof a);
    std::memcpy(&b, x + i + 8, sizeof b);
    low = a > low ? a : low;
    high = b > high ? b : high;
  }
  float m = kNegInf;
  for (int l = 0; l < 8; ++l) m = std::max({m, low[l], high[l]});
  for (int i = body; i < n; ++i) m = x[i] > m ? x[i] : m;
  return m;
}

// sum exp(x[i] - shift) in 16 interleaved lanes added in a fixed order, a
// vector V (16 floats, or two of 8) at a time: exp_nonpositive_lanes gives
// exp_nonpositive's bytes.
template <typename V>
[[gnu::always_inline]] inline double sum_exp(const float* x, int n, float shift) {
  constexpr int kLanes = 16, kPerVector = int(sizeof(V) / sizeof(float));
  static_assert(kLanes % kPerVector == 0);
  V acc[kLanes / kPerVector] = {};
  const int body = n / kLanes * kLanes;
  for (int i = 0; i < body; i += kLanes)
    for (int part = 0; part < kLanes / kPerVector; ++part) {
      V e;
      std::memcpy(&e, x + i + part * kPerVector, sizeof e);
      e -= shift;
      float lanes[kPerVector];
      std::memcpy(lanes, &e, sizeof e);
      exp_nonpositive_lanes<V>(lanes);
      std::memcpy(&e, lanes, sizeof e);
      acc[part] += e;
    }
  float lanes[kLanes];
  std::memcpy(lanes, acc, sizeof lanes);
  for (int i = body; i < n; ++i) lanes[i - body] += exp_nonpositive(x[i] - shift);
  double total = 0;
  for (int l = 0; l < kLanes; ++l) total += lanes[l];
  return total;
}

// log sum_i exp(x[i]) over [0, n), or -inf if every x is -inf.
double log_sum_exp(const float* x, int n, Backend backend) {
  const float m = per_isa<max_of>(backend, x, n);
  if (m == kNegInf) return -std::numeric_limits<double>::infinity();
  const double sum = vector_isa(backend) == Backend::kAvx512
                         ? PerIsa<sum_exp<Floats16>>::avx512(x, n, m)
                         : per_isa<sum_exp<Floats8>>(backend, x, n, m);
  return double(m) + log_positive(sum);
}

// out[i] = x[i] - shift, in double, rounded to float.
[[gnu::always_inline]] inline void subtract(const float* x, int n, double shift, float* out) {
  for (int i = 0; i < n; ++i) out[i] = float(double(x[i]) - shift);
}

}  // namespace

std::vector<int> default_suppressed_tokens(const text::Tokenizer& tokenizer) {
  // openai-whisper's tokenizer.non_speech_tokens: symbols that are never
  // speech, kept where they are a single token (with or without a leading
  // space), and the musical notes whatever their length.
  const char* symbols[] = {"\"", "#", "(", ")", "*", "+", "/", ":", ";", "<", "=", ">", "@", "[",
                           "\\", "]", "^", "_", "`", "{", "|", "}", "~", "「", "」", "『", "』",
                           "<<", ">>", "<<<", ">>>", "--", "---", "-(", "-[", "('", "(\"", "((",
                           "))", "(((", ")))", "[[", "]]", "{{", "}}", "♪♪", "♪♪♪"};
  const char* notes[] = {"♩", "♪", "♫", "♬", "♭", "♮", "♯"};
  std::set<int> out;
  for (const char* s : symbols)
    for (const std::string& text : {std::string(s), " " + std::string(s)}) {
      const std::vector<int> ids = tokenizer.encode(text);
      if (ids.size() == 1) out.insert(ids[0]);
    }
  for (const char* s : notes)
    for (const std::string& text : {std::string(s), " " + std::string(s)})
      out.insert(tokenizer.encode(text).at(0));
  out.insert(tokenizer.encode(" -").at(0));  // hyphens and quotes may begin words
  out.insert(tokenizer.encode(" '").at(0));
  const text::SpecialTokens& sp = tokenizer.special();
  for (int id : {sp.transcribe, sp.translate, sp.sot, sp.startofprev, sp.startoflm, sp.nospeech})
    out.insert(id);
  return {out.begin(), out.end()};
}

void log_softmax(const float* logits, int n, float* out, Backend backend) {
  per_isa<subtract>(backend, logits, n, log_sum_exp(logits, n, backend), out);
}

void apply_logit_rules(const LogitRules& r, const std::vector<int>& tokens, size_t forced,
                       float* logits, Backend backend) {
  const text::SpecialTokens& sp = r.special;
  const int n_vocab = sp.n_vocab;
  if (r.repetition_penalty != 1.0f) {  // CTRL's penalty, as CTranslate2 applies it
    std::set<int> seen(tokens.begin(), tokens.end());
    for (int t : seen) {
      float& v = logits[t];
      v = v < 0 ? v * r.repetition_penalty : v / r.repetition_penalty;
    }
  }
  const int ngram = r.no_repeat_ngram_size;
  if (ngram > 0 && int(tokens.size()) >= ngram - 1) {
    // Ban every token that would repeat an n-gram already in the sequence.
    const size_t len = tokens.size(), tail = size_t(ngram - 1);
    for (size_t start = 0; start + ngram <= len; ++start)
      if (std::equal(tokens.begin() + start, tokens.begin() + start + tail, tokens.end() - tail))
        logits[tokens[start + tail]] = kNegInf;
  }
  const std::span<const int> sampled(tokens.data() + forced, tokens.size() - forced);
  if (sampled.empty())
    for (int t : r.suppress_begin) logits[t] = kNegInf;
  for (int t : r.suppress) logits[t] = kNegInf;
  if (!r.timestamps) {
    suppress_range(logits, sp.timestamp_begin, n_vocab);
    return;
  }
  logits[sp.notimestamps] = kNegInf;
  const int ts = sp.timestamp_begin;
  const size_t n = sampled.size();
  const bool last_was_ts = n >= 1 && sampled[n - 1] >= ts;
  const bool penultimate_was_ts = n < 2 || sampled[n - 2] >= ts;
  if (last_was_ts) {
    if (penultimate_was_ts)
      suppress_range(logits, ts, n_vocab);  // a pair is closed: text (or eot) next
    else
      suppress_range(logits, 0, sp.eot);  // a segment is open: close it, or end
  }
  int last_ts = -1;
  for (int t : sampled)
    if (t >= ts) last_ts = t;
  if (last_ts >= 0) {
    // Timestamps never decrease, and a segment has a nonzero length.
    const int first_allowed = last_was_ts && !penultimate_was_ts ? last_ts : last_ts + 1;
    suppress_range(logits, ts, std::min(first_allowed, n_vocab));
  }
  if (r.eot_from_timestamp_index >= 0 && last_ts < ts + r.eot_from_timestamp_index)
    logits[sp.eot] = kNegInf;
  if (n == 0 && forced == 0) {
    suppress_range(logits, 0, ts);  // the window opens with a timestamp
    if (r.max_initial_timestamp_index >= 0)
      suppress_range(logits, std::min(n_vocab, ts + r.max_initial_timestamp_index + 1), n_vocab);
  }
  // If the timestamps together are likelier than any single text token, take
  // a timestamp. (Both log-probabilities share the normalizer, so the
  // comparison needs neither.)
  const double ts_log_mass = log_sum_exp(logits + ts, n_vocab - ts, backend);
  const double max_text = double(per_isa<max_of>(backend, logits, ts));
  if (ts_log_mass > max_text) suppress_range(logits, 0, ts);
}

}  // namespace amanuensis::decoding
