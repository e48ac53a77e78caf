"""Word statistics for plain text.

Every function takes a string and returns a number or a list; none of them reads files or
keeps state, so they can be combined freely and tested with literal strings.
"""

import re

# A word is a run of letters, with apostrophes kept so that "cat's" stays one word. Digits,
# hyphens and other punctuation separate words.
WORD = re.compile(r"[A-Za-z']+")

# A sentence ends at one or more of these, followed by whitespace or the end of the text.
SENTENCE_END = re.compile(r"[.!?]+(?:\s+|$)")


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


def sentence_count(text):
    """Number of sentences in text: runs of text ending in '.', '!' or '?'."""
    return len([s for s in SENTENCE_END.split(text) if words(s)])


def longest_words(text, n=5):
    """The n longest distinct words in text, longest first, ties in order of appearance."""
    seen = []
    for w in words(text):
        if w not in seen:
            seen.append(w)
    return sorted(seen, key=len, reverse=True)[:n]
