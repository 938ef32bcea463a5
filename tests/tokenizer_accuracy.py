#!/usr/bin/env python3
"""The text tokenizer against Hugging Face `tokenizers` (PyPI) on the real
tokenizer.json of base (multilingual) and tiny.en (English-only).

Checks: identical ids and exact round trips on a few hundred strings in many
scripts; decode of random id sequences against HF's decode and against
Python's bytes.decode(errors="replace"); the special-token layout against the
file's added tokens; and that tokenizer.json, vocab.json and CTranslate2's
vocabulary.txt give the same answers. Our side runs as one
`amanuensis-dev tokenize` process per vocabulary file (JSON lines).

Older copies of the multilingual tokenizer.json lack the first BPE merge
"Ġ t" (Hugging Face fixed the Hub files in 2024, transformers PR #29368), so
they split " the" into " " + "the", unlike openai-whisper's tiktoken that the
models were trained with. The oracle gets the merge back (the Hub's fix);
we follow tiktoken. Exits 1 on any mismatch.
"""
import argparse
import json
import pathlib
import random
import subprocess
import sys
import tempfile
from testdata import dev_tool

HERE = pathlib.Path(__file__).resolve().parent

BASE_STRINGS = [
    # English: contractions, numbers, punctuation
    "Hello world", "Hello, world!", "I'm sure you'll see they've done it, haven't they?",
    "It's 3:45 pm on 12/25/2023 and the price is $1,234.56.", "She'd've said 'no'.",
    "DON'T SHOUT. I'LL LISTEN.", "e.g. i.e. etc... (really?!)", "The year 1999 vs 2000s",
    "And so, my fellow Americans, ask not what your country can do for you",
    "  leading spaces", "trailing spaces   ", "tabs\tin\tbetween", "new\nlines\n\nhere\n",
    "\r\nwindows\r\nlines", "multiple     spaces     between", " ", "  ", "\n", "\t \n \t",
    "!!!???...", "--- *** ### @@@", "a-b_c/d\\e|f", "\"quoted\" and 'single'",
    "x = y + 2 * (z - 1) / 3;", "http://example.com/path?q=1&r=2#frag", "user@example.org",
    "100%", "3.14159", "1e-10", "0x1F", "v1.2.3-rc4", "COVID-19", "24/7", "MP3s", "the",
    " the", "The the THE tHe", "t", " t", " t t", "it's", "'s", "'S 'T 'RE 'VE 'M 'LL 'D",
    # German, French, Spanish, Italian, Portuguese, Polish, Czech, Turkish, Vietnamese
    "Größe, Maßstab und Übung — äöü ÄÖÜ ß", "Zwölf Boxkämpfer jagen Viktor quer über den großen Sylter Deich.",
    "Le cœur déçu mais l'âme plutôt naïve, Louÿs rêva de crapaüter.", "Où est la bibliothèque ?",
    "¿Dónde está el baño? ¡Olé! El niño comió piña.", "Perché così? È già qui.",
    "Não há coração que não ame.", "Zażółć gęślą jaźń", "Příliš žluťoučký kůň úpěl ďábelské ódy",
    "Pijamalı hasta yağız şoföre çabucak güvendi.", "Tiếng Việt có dấu: Xin chào thế giới!",
    # Cyrillic, Greek
    "Съешь же ещё этих мягких французских булок, да выпей чаю.", "Привет, мир! 123 тест",
    "Ελληνικά: Ξεσκεπάζω την ψυχοφθόρα βδελυγμία.", "Γειά σου Κόσμε",
    # Arabic, Hebrew, Persian, Urdu
    "مرحبا بالعالم! كيف حالك؟", "نص حكيم له سر قاطع وذو شأن عظيم", "שלום עולם, מה שלומך?",
    "דג סקרן שט בים מאוכזב", "سلام دنیا", "اردو ایک زبان ہے",
    # Indic and South-East Asian
    "नमस्ते दुनिया", "ऋषियों को सताने वाले दुष्ट राक्षसों के राजा रावण का सर्वनाश करने वाले",
    "வணக்கம் உலகம்", "ਸਤਿ ਸ੍ਰੀ ਅਕਾਲ", "হ্যালো বিশ্ব", "สวัสดีชาวโลก ภาษาไทยไม่มีช่องว่าง",
    "ສະບາຍດີ", "မင်္ဂလာပါ", "ជំរាបសួរ",
    # CJK
    "你好，世界！今天天气很好。", "我们在2023年去了北京和上海。", "繁體中文與简体中文",
    "こんにちは世界。カタカナとひらがなと漢字。", "東京タワーは333メートルです", "ｶﾀｶﾅ（全角）ＡＢＣ１２３",
    "안녕하세요 세계! 한국어 문장입니다.", "서울특별시 2024년",
    # Other scripts
    "Բարեւ աշխարհ", "გამარჯობა მსოფლიო", "ሰላም ዓለም", "Сәлем әлем", "Salam dünya",
    # Emoji and symbols
    "😀😃😄😁", "👍🏽 thumbs", "👨‍👩‍👧‍👦 family", "🇩🇪🇫🇷🇯🇵", "♪♪ music ♪♪", "→ ← ↑ ↓ ∑ ∫ √ ∞ ≠ ≤",
    "© ® ™ § ¶ † ‡ • …", "€100 £50 ¥1000 ₹500", "½ ¼ ¾ ² ³ ①②③", "Ⅻ ⅷ",
    # Whitespace oddities (Unicode spaces, zero-width, combining marks)
    "non\u00a0breaking\u00a0space", "ideographic\u3000space", "thin\u2009space",
    "zero\u200bwidth", "joiner\u200djoiner", "e\u0301 combining", "line\u2028separator",
    "para\u2029graph", "soft\u00adhyphen", "nel\u0085char", "form\x0cfeed\x0bvtab",
    "mixed: Hello 世界 Привет 🌍 123 !!", "<|endoftext|> is just text here <|en|>",
    "[MUSIC] (applause) ♪", "- Hey there.\n- Hi!", "   \n\n   x   \n",
]


def random_unicode(rng, n):
    ranges = [(0x20, 0x7E), (0xA0, 0x24F), (0x370, 0x3FF), (0x400, 0x4FF), (0x590, 0x6FF),
              (0x900, 0x97F), (0xE00, 0xE7F), (0x2000, 0x206F), (0x3000, 0x30FF), (0x4E00, 0x4FFF),
              (0xAC00, 0xAD00), (0x1F300, 0x1F64F), (0x9, 0xD)]
    out = []
    for _ in range(n):
        lo, hi = rng.choice(ranges)
        out.append(chr(rng.randint(lo, hi)))
    return "".join(out)


def test_strings():
    rng = random.Random(1)
    strings = list(BASE_STRINGS)
    seps = ["", " ", "  ", "\n", "\t", " \n ", ", ", "   ", "\n\n"]
    for _ in range(200):  # mixtures of the above
        parts = rng.sample(BASE_STRINGS, rng.randint(2, 4))
        strings.append("".join(p + rng.choice(seps) for p in parts))
    for _ in range(80):  # random code points from many blocks
        strings.append(random_unicode(rng, rng.randint(1, 30)))
    return strings


def gpt2_unicode_to_byte():
    bs = list(range(0x21, 0x7F)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


def hf_tokenizer(path):
    """HF's tokenizer from the file, with the missing first merge restored."""
    from tokenizers import Tokenizer
    j = json.loads(pathlib.Path(path).read_text(encoding="utf-8"))
    model = j["model"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    made = {model["vocab"][a + b] for a, b in merges}
    missing = sorted(i for t, i in model["vocab"].items() if i >= 256 and i not in made and t)
    restored = []
    for i in missing:  # only the known case: a two-byte token that is the first merge
        t = next(t for t, k in model["vocab"].items() if k == i)
        if len(t) == 2 and i == 256:
            restored.append([t[0], t[1]])
    if restored:
        as_str = isinstance(model["merges"][0], str)
        model["merges"] = [" ".join(m) if as_str else m for m in restored] + model["merges"]
    raw, fixed = Tokenizer.from_file(str(path)), Tokenizer.from_str(json.dumps(j))
    for t in (raw, fixed):  # special-token strings are plain text to our encode()
        t.encode_special_tokens = True
    return raw, fixed, restored, j


def run_ours(exe, vocab, n_vocab, requests):
    r = subprocess.run([exe, "tokenize", "--vocab", str(vocab), "--n-vocab", str(n_vocab)],
                       input="".join(json.dumps(q) + "\n" for q in requests),
                       capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        sys.exit(f"tokenizer: amanuensis-dev tokenize failed on {vocab}: {r.stderr.strip()}")
    # split("\n"), not splitlines(): answers hold raw U+2028, U+0085 and the like.
    answers = [json.loads(line) for line in r.stdout.split("\n") if line]
    if len(answers) != len(requests):
        sys.exit(f"tokenizer: {len(answers)} answers to {len(requests)} requests")
    return answers


def check_model(exe, model_dir, strings, rng, report):
    tok_json = pathlib.Path(model_dir) / "tokenizer.json"
    hf_raw, hf, restored, j = hf_tokenizer(tok_json)
    added = {t["content"]: t["id"] for t in j["added_tokens"]}
    # The file lists no timestamps; they follow <|notimestamps|>, 1501 of them.
    n_vocab = added["<|notimestamps|>"] + 1 + 1501
    eot = added["<|endoftext|>"]
    name = pathlib.Path(model_dir).name
    bad = 0

    def mismatch(what, detail):
        nonlocal bad
        bad += 1
        if bad <= 10:
            print(f"FAIL {name}: {what}: {detail}")

    # Random id sequences, rich in lone high bytes so that characters get split.
    vocab = j["model"]["vocab"]
    byte_of = gpt2_unicode_to_byte()
    token_bytes = {i: bytes(byte_of[c] for c in t) for t, i in vocab.items() if i < eot}
    lone = [i for i, b in token_bytes.items() if len(b) == 1 and b[0] >= 0x80]
    id_seqs = []
    for _ in range(300):
        seq = []
        for _ in range(rng.randint(1, 12)):
            p = rng.random()
            seq.append(rng.randrange(eot) if p < 0.6 else rng.choice(lone) if p < 0.85
                       else rng.randrange(eot, n_vocab))
        id_seqs.append(seq)

    requests = ([{"special": True}] + [{"encode": s} for s in strings] +
                [{"decode": seq} for seq in id_seqs] + [{"token": i} for i in added.values()])
    answers = run_ours(exe, tok_json, n_vocab, requests)

    # The other two file forms must answer identically.
    with tempfile.TemporaryDirectory() as tmp:
        vocab_json = pathlib.Path(tmp) / "vocab.json"
        vocab_json.write_text(json.dumps(vocab), encoding="utf-8")
        others = [vocab_json]
        if (pathlib.Path(model_dir) / "vocabulary.txt").exists():
            others.append(pathlib.Path(model_dir) / "vocabulary.txt")
        for other in others:
            if run_ours(exe, other, n_vocab, requests) != answers:
                mismatch(other.name, "answers differ from tokenizer.json's")

    special = answers[0]
    for key, content in [("eot", "<|endoftext|>"), ("sot", "<|startoftranscript|>"),
                         ("translate", "<|translate|>"), ("transcribe", "<|transcribe|>"),
                         ("startoflm", "<|startoflm|>"), ("startofprev", "<|startofprev|>"),
                         ("nospeech", "<|nocaptions|>"), ("notimestamps", "<|notimestamps|>")]:
        if special[key] != added[content]:
            mismatch("special " + key, f"{special[key]} != {added[content]}")
    for (content, i), a in zip(added.items(), answers[1 + len(strings) + len(id_seqs):]):
        # Hugging Face's files use older names for two of them; ours are openai-whisper's.
        expected = {"<|nocaptions|>": "<|nospeech|>", "<|iw|>": "<|he|>"}.get(content, content)
        if a["text"] != expected:
            mismatch(f"token {i}", f"{a['text']!r} != {expected!r}")

    raw_differs = 0
    for s, a in zip(strings, answers[1:]):
        ref = hf.encode(s, add_special_tokens=False).ids
        raw_differs += hf_raw.encode(s, add_special_tokens=False).ids != ref
        if a["ids"] != ref:
            mismatch(f"encode {s!r}", f"ours {a['ids']} != HF {ref}")
        elif hf.decode(ref) != s:
            mismatch(f"HF round trip {s!r}", repr(hf.decode(ref)))
    decodes = answers[1 + len(strings):1 + len(strings) + len(id_seqs)]
    # Round trips: decode our own ids.
    trips = run_ours(exe, tok_json, n_vocab, [{"decode": a["ids"]} for a in answers[1:len(strings) + 1]])
    for s, t in zip(strings, trips):
        if t["text"] != s:
            mismatch(f"round trip {s!r}", repr(t["text"]))
    for seq, a in zip(id_seqs, decodes):
        ref = hf.decode(seq, skip_special_tokens=True)
        py = b"".join(token_bytes.get(i, b"") for i in seq).decode("utf-8", errors="replace")
        if a["text"] != ref or a["text"].encode() != py.encode():
            mismatch(f"decode {seq}", f"ours {a['text']!r}, HF {ref!r}, Python {py!r}")
    note = (f", merges restored {restored} (the unfixed file differs on {raw_differs} strings)"
            if restored else "")
    report.append(f"{name}: {len(strings)} strings, {len(id_seqs)} id sequences, "
                  f"{bad} mismatches{note}")
    return len(strings), bad


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--amanuensis", required=True)
    ap.add_argument("--models", nargs="+", default=["base", "tiny.en"])
    args = ap.parse_args()
    dirs = subprocess.run([sys.executable, str(HERE.parent / "scripts/fetch_models.py"), *args.models],
                          check=True, capture_output=True, text=True).stdout.split()
    strings = test_strings()
    rng = random.Random(0)
    report, total, bad = [], 0, 0
    for model_dir in dirs:
        n, b = check_model(dev_tool(args.amanuensis), model_dir, strings, rng, report)
        total += n
        bad += b
    for line in report:
        print(line)
    print(f"tokenizer: {total} strings, {bad} mismatches")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
