// Transcripts as files: txt, srt, vtt, json (ours) and verbose_json (OpenAI's
// shape). Only the public API's types.
#pragma once

#include <string>

#include "amanuensis/amanuensis.h"

namespace amanuensis::output {

// "txt", "srt", "vtt", "json", "verbose_json"; "all" is expanded by the caller.
bool is_output_format(const std::string& format);
std::string render(const Transcription& t, const std::string& format, const std::string& task);

// "[mm:ss.mmm --> mm:ss.mmm] text" (hours when needed), as segments print.
std::string segment_line(const Segment& s);

}  // namespace amanuensis::output
