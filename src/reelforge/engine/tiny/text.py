"""Tokenizers for the tiny random pipelines, built from files written in code (no hub).

One recipe per tokenizer kind, shared by every family that needs it.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from ..tiny_random import _WORDS


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's byte -> printable unicode table (every byte gets a visible character)."""
    bs = list(range(0x21, 0x7F)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def clip_tokenizer():
    """A CLIP BPE tokenizer from files written in code (recipe A in shared/notes/diffusers-on-cpu.md).

    Every GPT-2 byte character is in the vocabulary, alone and with ``</w>``, so any text
    tokenizes without ``<unk>``; a few merges make common prompt words single tokens.
    ``<|startoftext|>`` / ``<|endoftext|>`` come last, so eos has the highest id (CLIP's
    legacy argmax pooling relies on that).
    """
    from transformers import CLIPTokenizer

    chars = list(bytes_to_unicode().values())
    vocab = chars + [c + "</w>" for c in chars]
    merges: list[tuple[str, str]] = []
    known = set(vocab)
    for word in _WORDS:
        # Left-to-right merges: "cat</w>" = ((c a) t</w>).
        pieces = list(word[:-1]) + [word[-1] + "</w>"]
        while len(pieces) > 1:
            a, b = pieces[0], pieces[1]
            if (a, b) not in merges:
                merges.append((a, b))
            pieces = [a + b] + pieces[2:]
            if pieces[0] not in known:
                known.add(pieces[0])
                vocab.append(pieces[0])
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    with tempfile.TemporaryDirectory() as d:
        Path(d, "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(vocab)}, ensure_ascii=False), "utf-8")
        Path(d, "merges.txt").write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges), "utf-8")
        return CLIPTokenizer.from_pretrained(d, model_max_length=77)
