"""Word statistics for plain text."""

import re

WORD = re.compile(r"[A-Za-z']+")


def words(text):
    """Split text into lowercase words."""
    return [w.lower() for w in WORD.findall(text)]


def word_count(text):
    """Number of words in text."""
    return len(words(text))


def mean_word_length(text):
    """Average length of the words in text."""
    ws = words(text)
    return sum(len(w) for w in ws) / len(ws)


def median_word_length(text):
    """Median length of the words in text."""
    lengths = sorted(len(w) for w in words(text))
    return lengths[len(lengths) // 2]
