import unittest

from textstats import longest_words, mean_word_length, median_word_length, sentence_count, word_count, words


class WordsTest(unittest.TestCase):
    def test_words_are_lowercased(self):
        self.assertEqual(words("The cat's Hat"), ["the", "cat's", "hat"])

    def test_word_count(self):
        self.assertEqual(word_count("one two  three"), 3)

    def test_digits_and_hyphens_separate_words(self):
        self.assertEqual(words("well-known 42nd street"), ["well", "known", "nd", "street"])


class SentenceTest(unittest.TestCase):
    def test_sentence_count(self):
        self.assertEqual(sentence_count("One. Two!  Three? Four"), 4)

    def test_trailing_punctuation_is_not_a_sentence(self):
        self.assertEqual(sentence_count("Wait... what?!"), 2)

    def test_longest_words(self):
        self.assertEqual(longest_words("a bb ccc bb dddd", 3), ["dddd", "ccc", "bb"])


class LengthTest(unittest.TestCase):
    def test_mean_word_length(self):
        self.assertEqual(mean_word_length("a bb ccc"), 2.0)

    def test_mean_of_empty_text_is_zero(self):
        self.assertEqual(mean_word_length(""), 0.0)

    def test_median_of_odd_count(self):
        self.assertEqual(median_word_length("a bb ccc"), 2)

    def test_median_of_even_count_averages_the_middle_two(self):
        self.assertEqual(median_word_length("a bb ccc dddd"), 2.5)


if __name__ == "__main__":
    unittest.main()
