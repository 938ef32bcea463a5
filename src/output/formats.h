// Transcripts as files: txt, srt, vtt, json (ours) and verbose_json (OpenAI's
// shape). Only the public API's types.
#pragma once

#include <string>

#include "amanuensis/types.h"

namespace amanuensis::output {

// How srt and vtt cut word-timed transcripts into subtitles (openai-whisper's
// rules): 0 means no limit. Without both a width and a line count, each
// segment stays one subtitle.
struct SubtitleOptions {
  int max_line_width = 0;      // characters a line
  int max_line_count = 0;      // lines a subtitle
  int max_words_per_line = 0;  // words a line
};
// Throws Error for negative limits, or limits without word timings.
void check(const SubtitleOptions& options, bool word_timestamps);

// "txt", "srt", "vtt", "json", "verbose_json"; "all" is expanded by the caller.
bool is_output_format(const std::string& format);
std::string render(const Transcription& t, const std::string& format, Task task,
                   const SubtitleOptions& subtitles = {});

// "[mm:ss.mmm --> mm:ss.mmm] text" (hours when needed), as segments print.
std::string segment_line(const Segment& s);

}  // namespace amanuensis::output
