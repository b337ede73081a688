"""BERT's uncased WordPiece tokenizer, written here from the algorithm, reading the model's vocab.txt.

Why not the ``tokenizers`` package: it is a compiled Rust wheel for what is, for an uncased BERT
vocabulary, ~80 lines (basic tokenization + greedy longest-match-first WordPiece), and keeping the
loader and tokenizer NumPy/stdlib-only means the ``models`` tests need no optional extra at all.
Checked against the reference tokenizer's ids (tests/test_models_reference.py).

Steps (BERT ``BasicTokenizer`` with ``do_lower_case=True``, ``tokenize_chinese_chars=True``, then
``WordpieceTokenizer``):

1. clean: drop NUL, U+FFFD and control characters; every whitespace character becomes a space;
2. put spaces around CJK ideographs;
3. split on whitespace; lowercase; strip accents (NFD, drop combining marks, category Mn);
4. split off every punctuation character (Unicode category P*, and the ASCII symbols !-/ :-@ [-` {-~);
5. each word: greedy longest prefix in the vocabulary, continuations prefixed ``##``; a word longer
   than 100 characters or with an unmatched piece becomes ``[UNK]``;
6. ``[CLS]`` … ``[SEP]`` around the pieces.
"""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path

import numpy as np

MAX_WORD = 100


def _is_control(ch: str) -> bool:
    if ch in "\t\n\r":
        return False
    return unicodedata.category(ch) in ("Cc", "Cf")


def _is_whitespace(ch: str) -> bool:
    return ch in " \t\n\r" or unicodedata.category(ch) == "Zs"


def _is_punct(ch: str) -> bool:
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_cjk(cp: int) -> bool:
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
            or 0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF
            or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


class WordPiece:
    """Uncased BERT tokenizer over a ``vocab.txt`` (one token a line, the line number its id).

    Parameters
    ----------
    vocab : path-like
    """

    def __init__(self, vocab: str | os.PathLike[str]) -> None:
        p = Path(vocab)
        if not p.is_file():
            raise FileNotFoundError(f"`vocab` {str(p)!r} is not a file")
        tokens = p.read_text(encoding="utf-8").split("\n")
        if tokens and tokens[-1] == "":
            tokens.pop()
        self.vocab: dict[str, int] = {t: i for i, t in enumerate(tokens)}
        for special in ("[CLS]", "[SEP]", "[UNK]"):
            if special not in self.vocab:
                raise ValueError(f"`vocab` {str(p)!r} has no {special} token (not a BERT vocabulary)")
        self.inverse = tokens

    def basic(self, text: str) -> list[str]:
        """Steps 1–4: words and punctuation marks, lowercased, accents stripped."""
        if not isinstance(text, str):
            raise TypeError(f"`text` must be a str; got {type(text).__name__}")
        chars = []
        for ch in text:
            cp = ord(ch)
            if cp == 0 or cp == 0xFFFD or _is_control(ch):
                continue
            if _is_cjk(cp):
                chars.append(f" {ch} ")
            else:
                chars.append(" " if _is_whitespace(ch) else ch)
        out: list[str] = []
        for word in "".join(chars).split():
            word = unicodedata.normalize("NFD", word.lower())
            word = "".join(c for c in word if unicodedata.category(c) != "Mn")
            cur = ""
            for c in word:
                if _is_punct(c):
                    if cur:
                        out.append(cur)
                    out.append(c)
                    cur = ""
                else:
                    cur += c
            if cur:
                out.append(cur)
        return out

    def wordpiece(self, word: str) -> list[str]:
        """Step 5: greedy longest-match-first pieces of one word."""
        if len(word) > MAX_WORD:
            return ["[UNK]"]
        pieces: list[str] = []
        start = 0
        while start < len(word):
            end = len(word)
            found = None
            while start < end:
                sub = word[start:end] if start == 0 else "##" + word[start:end]
                if sub in self.vocab:
                    found = sub
                    break
                end -= 1
            if found is None:
                return ["[UNK]"]
            pieces.append(found)
            start = end
        return pieces

    def tokenize(self, text: str) -> list[str]:
        """Pieces of ``text`` without the special tokens."""
        return [p for w in self.basic(text) for p in self.wordpiece(w)]

    def encode(self, text: str, max_length: int = 512) -> np.ndarray:
        """Token ids ``[CLS] pieces [SEP]`` (int64, truncated to ``max_length`` like the reference)."""
        if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 2:
            raise ValueError(f"`max_length` must be an integer ≥ 2; got {max_length!r}")
        ids = [self.vocab[p] for p in self.tokenize(text)][: max_length - 2]
        return np.array([self.vocab["[CLS]"], *ids, self.vocab["[SEP]"]], dtype=np.int64)


__all__ = ["WordPiece"]
