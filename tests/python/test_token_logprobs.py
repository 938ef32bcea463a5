"""Each text token's log-probability (Segment::token_logprobs, which the
server lists for include[]=logprobs) against CTranslate2's: float32, greedy,
the first window of clips in four languages. CTranslate2 gives each step's
logits after Whisper's rules (return_logits_vocab, greedy only), masked ones
at float's lowest. Timestamp tokens are left out: near the end of the audio
their distribution is flat and sensitive to the last frames' features (which
differ slightly between faster-whisper's feature extractor and ours): single
timestamps moved by up to 0.26 when this was written."""
import numpy as np
import pytest
import ctranslate2
from faster_whisper.feature_extractor import FeatureExtractor

import amanuensis
from amanuensis import _core
from conftest import JFK, MODELS, dev_clips

BASE = MODELS / "base"
EOT, SOT, TRANSCRIBE = 50257, 50258, 50359


def clips():
    """jfk.wav and one clip per language of the development set (names
    start with the language's code; mixed-language ones are left out)."""
    by_language = {}
    for p in dev_clips():
        if len(p.name.split("_")[0]) == 2:
            by_language.setdefault(p.name.split("_")[0], p)
    return [JFK] + sorted(by_language.values())[::2]  # every other: CI's time


@pytest.fixture(scope="module")
def models():
    return (_core.Model(str(BASE), precision="fp32"),
            ctranslate2.models.Whisper(str(BASE), compute_type="float32", intra_threads=2))


def test_token_logprobs_match_ctranslate2(models):
    ours_model, ct2 = models
    languages = ours_model.languages
    session = _core.Session(ours_model, 2)
    differences = []
    for clip in clips():
        samples = amanuensis.decode_audio(str(clip))
        language = "en" if clip == JFK else clip.name.split("_")[0]
        o = _core.TranscribeOptions()
        o.beam_size, o.temperatures, o.language = 1, [0.0], language
        window = [s for s in session.transcribe(samples, o).segments if s.seek == 0]
        assert window, clip.name
        tokens = [tok for s in window for tok in s.tokens]
        ours = [lp for s in window for lp in s.token_logprobs]
        assert len(ours) == len(tokens)
        assert all(lp <= 0 for lp in ours)
        for s in window:  # the text tokens' bytes spell the text
            spelled = b"".join(ours_model.token_bytes(t) for t in s.tokens if t < EOT)
            assert spelled.decode() == s.text

        features = FeatureExtractor(80)(samples)[:, :3000]
        features = np.pad(features, ((0, 0), (0, 3000 - features.shape[1])))
        prompt = [SOT, SOT + 1 + languages.index(language), TRANSCRIBE]
        r = ct2.generate(ctranslate2.StorageView.from_array(features[None].astype(np.float32)),
                         [prompt], beam_size=1, return_logits_vocab=True)[0]
        # Up to the first token that differs: a near tie may go either way.
        n = next((i for i, (a, b) in enumerate(zip(tokens, r.sequences_ids[0])) if a != b),
                 min(len(tokens), len(r.sequences_ids[0])))
        assert n >= 8, f"{clip.name}: the decodings part after {n} tokens"
        for i in range(n):
            if tokens[i] >= EOT:
                continue
            logits = np.asarray(r.logits[0][i], dtype=np.float64).ravel()
            kept = logits[logits > -1e30]  # the rules mask with float's lowest
            m = kept.max()
            reference = logits[tokens[i]] - m - np.log(np.exp(kept - m).sum())
            differences.append(ours[i] - reference)
            assert abs(ours[i] - reference) < 0.1, (clip.name, i, tokens[i], ours[i], reference)
    differences = np.abs(differences)
    print(f"{len(differences)} tokens: |ours - CTranslate2| mean {differences.mean():.4f}, "
          f"median {np.median(differences):.4f}, max {differences.max():.4f}")
    assert len(differences) > 60
    assert differences.mean() < 0.01
