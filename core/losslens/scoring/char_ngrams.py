"""Character n-gram counts within words, computed once per distinct word.

scikit-learn's `CountVectorizer(analyzer="char_wb")` cuts every word of every text into n-grams
in Python: on the demo's 2,225 clipped articles that is most of the TF-IDF head's time. A word's
n-grams depend on the word alone, so `char_wb_counts` cuts each distinct word once and counts a
text's n-grams as (text × word counts) @ (word × n-gram counts). The result is the very matrix
scikit-learn builds (same vocabulary, same column order, same stored order within each row), so
every fit on it gives the same numbers to the last bit.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import scipy.sparse as sparse


def word_ngrams(word: str, min_n: int, max_n: int) -> list[str]:
    """The n-grams scikit-learn's char_wb analyzer cuts from one word, in its order: the word
    padded with a space each side, every n from min_n to max_n; once the padded word is no
    longer than n it is taken once, whole, and ends the list."""
    padded = f" {word} "
    grams: list[str] = []
    for n in range(min_n, max_n + 1):
        last = max(len(padded) - n, 0)
        grams.extend(padded[i:i + n] for i in range(last + 1))
        if last == 0:
            break
    return grams


def char_wb_counts(texts: Sequence[str], ngram_range: tuple[int, int], min_df: int,
                   dtype: type = np.float32) -> tuple[sparse.csr_matrix, list[str]]:
    """((N, F) counts, the F n-grams by column) equal to
    `CountVectorizer(analyzer="char_wb", ngram_range=ngram_range, min_df=min_df, dtype=dtype)`
    fitted on `texts` (str; lowercased; n-grams in fewer than min_df texts dropped, min_df a
    whole number of texts; columns in alphabetical order, each row stored in the order the
    n-grams were first met)."""
    min_n, max_n = ngram_range
    if not isinstance(min_df, int) or min_df < 1 or not 1 <= min_n <= max_n:
        raise ValueError(f"min_df must be a whole number of texts >= 1 and 1 <= min_n <= max_n, "
                         f"not {min_df!r} and {ngram_range!r}")
    words: dict[str, int] = {}          # distinct words, in the order first met
    rows, cols = [], []
    for row, text in enumerate(texts):
        ids = [words.setdefault(w, len(words)) for w in text.lower().split()]
        rows.extend([row] * len(ids))
        cols.extend(ids)
    text_words = sparse.csr_matrix((np.ones(len(cols), dtype=np.int64), (rows, cols)),
                                   shape=(len(texts), len(words)))   # duplicates summed: word counts
    grams: dict[str, int] = {}          # distinct n-grams, in the order first met (as scikit-learn's)
    word_rows, gram_cols = [], []
    for index, word in enumerate(words):
        ids = [grams.setdefault(g, len(grams)) for g in word_ngrams(word, min_n, max_n)]
        word_rows.extend([index] * len(ids))
        gram_cols.extend(ids)
    if not grams:
        raise ValueError("empty vocabulary: the texts have no words")
    word_grams = sparse.csr_matrix((np.ones(len(gram_cols), dtype=np.int64), (word_rows, gram_cols)),
                                   shape=(len(words), len(grams)))
    counts = (text_words @ word_grams).tocsr().astype(dtype)
    counts.sort_indices()
    document_frequency = np.bincount(counts.indices, minlength=len(grams))
    kept = np.flatnonzero(document_frequency >= min_df)
    if not len(kept):
        raise ValueError(f"no character n-gram is in {min_df} or more of the texts")
    counts = counts[:, kept]
    names = list(grams)
    kept_names = [names[i] for i in kept]
    alphabetical = np.empty(len(kept), dtype=counts.indices.dtype)
    alphabetical[np.argsort(np.array(kept_names, dtype=object), kind="stable")] = np.arange(len(kept))
    counts.indices = alphabetical.take(counts.indices)
    return counts, sorted(kept_names)
