// The page `serve` gives at /: live transcription from the microphone over
// /v1/realtime. Its source is src/server/web/index.html (CMake embeds it).
#pragma once

namespace amanuensis::server {

extern const char* const kWebPage;

}  // namespace amanuensis::server
