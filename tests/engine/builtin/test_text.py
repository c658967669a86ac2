"""The tokenizer folds free phrasing onto the world's words; the encoder is order-tolerant."""

import torch

from reelforge.engine.builtin.text import BuiltinTextEncoder, canonical_words, tokenize


def test_synonyms_case_punctuation_and_unknown_words():
    assert canonical_words("A RED Ball, moving LEFT!") == ["red", "circle", "left"]
    assert canonical_words("please render a lovely red circle that keeps moving left") == ["red", "circle", "left"]
    assert canonical_words("the grey box is not moving, on a navy backdrop") == ["gray", "square", "still", "on", "navy", "background"]
    assert canonical_words("cyan block rises") == ["cyan", "square", "up"]
    assert canonical_words("zorp blarg") == []


def test_encoder_ignores_unknown_words_and_maps_empty_to_null():
    enc = BuiltinTextEncoder().eval()
    with torch.no_grad():
        a, b, c = enc.encode(["red ball moving left", "a shiny red circle gracefully moving to the left", "qwerty"])
    assert torch.allclose(a, b)
    assert torch.allclose(c, enc.null)
    ids, mask = tokenize(["", "red"])
    assert ids.shape == (2, 1) and mask.tolist() == [[False], [True]]


def test_shipped_encoder_tolerates_word_order(shipped_pipe):
    enc = shipped_pipe.text_encoder
    with torch.no_grad():
        base, reordered, other = enc.encode([
            "a red circle moving right on a black background",
            "on a black background, moving right: the red ball",
            "a blue circle moving right on a black background",
        ]).float()
    # Reordering keeps the meaning: it must land nearer the original than a one-word change does.
    assert (base - reordered).norm() < (base - other).norm()
