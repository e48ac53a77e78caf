"""Word statistics for plain text."""

from .stats import mean_word_length, median_word_length, word_count, words

__all__ = ["mean_word_length", "median_word_length", "word_count", "words"]
