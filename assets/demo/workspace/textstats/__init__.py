"""Word statistics for plain text."""

from .stats import longest_words, mean_word_length, median_word_length, sentence_count, word_count, words

__all__ = ["longest_words", "mean_word_length", "median_word_length", "sentence_count", "word_count", "words"]
