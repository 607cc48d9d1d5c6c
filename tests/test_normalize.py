"""The English normalizer: real-world cases, options, and linear time on adversarial input."""

from __future__ import annotations

import time

import pytest

from kokoro_server.text.normalize import NormalizationOptions, normalize_text


@pytest.mark.parametrize("text, expected", [
    ("It costs $5.50.", "It costs five dollars and fifty cents."),
    ("It costs $1.", "It costs one dollar."),
    ("Pay £2 million now", "Pay two million pounds now"),
    ("€3.05 each", "three euros and five cents each"),
    ("$1,250,000 raised", "one million two hundred and fifty thousand dollars raised"),
    ("Meet at 3:30pm.", "Meet at three thirty PM."),
    ("Meet at 9:05 a.m.", "Meet at nine oh five AM."),
    ("It is 7:00.", "It is seven o'clock."),
    ("Born 2024-01-03.", "Born January third, twenty twenty-four."),
    ("Due 12/25/1999.", "Due December twenty-fifth, nineteen ninety-nine."),
    ("In 1984 it rained.", "In nineteen eighty-four it rained."),
    ("The 1990s were loud.", "The nineteen nineties were loud."),
    ("the 21st century", "the twenty-first century"),
    ("She came 2nd and 3rd", "She came second and third"),
    ("pi is 3.14159", "pi is three point one four one five nine"),
    ("1,234 people", "one thousand two hundred and thirty-four people"),
    ("It was -5 outside", "It was minus five outside"),
    ("Up 12% today", "Up twelve percent today"),
    ("Up 2.5 % today", "Up two point five percent today"),
    ("a 5km run", "a five kilometers run"),
    ("1 kg of rice", "one kilogram of rice"),
    ("It was 72°F", "It was seventy-two degrees Fahrenheit"),
    ("a 16GB card", "a sixteen gigabytes card"),
    ("6 ft tall", "six feet tall"),
    ("Dr. Smith and Mr. Jones", "Doctor Smith and Mister Jones"),
    ("apples, pears, etc. are fruit", "apples, pears, et cetera are fruit"),
    ("Call No. 5", "Call number five"),
    ("Tom & Jerry", "Tom and Jerry"),
    ("Write to john.doe@example.com today", "Write to john dot doe at example dot com today"),
    ("See https://www.example.com/docs.", "See example dot com slash docs."),
    ("Visit www.kokoro.org now", "Visit kokoro dot org now"),
    ("Code 12345678901234567890", "Code one two three four five six seven eight nine zero one two three four "
                                  "five six seven eight nine zero"),
    ("tabs\tand   spaces", "tabs and spaces"),
    ("no numbers here", "no numbers here"),
])
def test_normalizes_real_world_text(text: str, expected: str) -> None:
    assert normalize_text(text) == expected


def test_options_switch_rules_off() -> None:
    text = "Mail bob@example.com about 5km at https://x.org"
    assert normalize_text(text, NormalizationOptions(normalize=False)) == text
    kept = normalize_text(text, NormalizationOptions(email_normalization=False, url_normalization=False,
                                                     unit_normalization=False,
                                                     replace_remaining_symbols=False))
    assert "bob@example.com" in kept and "https://x.org" in kept and "kilometers" not in kept
    assert "five km" in kept


def test_control_characters_are_removed() -> None:
    assert normalize_text("a\x00b\x07c") == "a b c"


ADVERSARIAL = ["a.", "1", "(", "[", "1,", "1.", "$1", "a@b.", "1:1", "-1", "http://", "12/1/", "%1"]


@pytest.mark.parametrize("unit", ADVERSARIAL)
def test_adversarial_input_is_normalized_in_linear_time(unit: str) -> None:
    """400 kB of a repeating pattern costs about 10x what 40 kB costs (quadratic would be 100x)."""
    big = unit * (400_000 // len(unit))
    small = big[: len(big) // 10]

    def best_of(text: str, runs: int = 2) -> float:
        timings = []
        for _ in range(runs):
            start = time.perf_counter()
            normalize_text(text)
            timings.append(time.perf_counter() - start)
        return min(timings)

    ratio = best_of(big) / max(best_of(small), 1e-4)
    assert ratio < 30, f"{unit!r}: 10x longer input took {ratio:.1f}x longer"
