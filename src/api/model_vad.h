// The Model's Silero VAD for the API's other files (streaming.cc), without
// opening Model::Impl to them.
#pragma once

#include "amanuensis/amanuensis.h"
#include "vad/silero_vad.h"

namespace amanuensis {

// Null when the model was loaded without ModelOptions::vad_model.
const vad::SileroVad* model_vad(const Model& model);

}  // namespace amanuensis
