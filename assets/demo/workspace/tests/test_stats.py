import unittest

from textstats import mean_word_length, median_word_length, word_count, words


class WordsTest(unittest.TestCase):
    def test_words_are_lowercased(self):
        self.assertEqual(words("The cat's Hat"), ["the", "cat's", "hat"])

    def test_word_count(self):
        self.assertEqual(word_count("one two  three"), 3)


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
