"""The English normalizer: real-world cases, options, and linear time on adversarial input."""

from __future__ import annotations

import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kokoro_server.text.normalize import NormalizationOptions, normalize, normalize_text


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


# -- the way back: output ranges map to the input they came from ---------------------------------

def _spans(text: str) -> list[tuple[str, str]]:
    """Each output word with the input text it came from."""
    normalized = normalize(text)
    return [(m.group(), text[slice(*normalized.source_span(*m.span()))])
            for m in re.finditer(r"\S+", normalized.text)]


@pytest.mark.parametrize("text, expected", [
    ("$5 off", [("five", "$5"), ("dollars", "$5"), ("off", "off")]),
    ("In 1984 it rained.", [("In", "In"), ("nineteen", "1984"), ("eighty-four", "1984"), ("it", "it"),
                            ("rained.", "rained.")]),
    ("  Dr.   Who  ", [("Doctor", "Dr."), ("Who", "Who")]),
    ("a\x00b", [("a", "a"), ("b", "b")]),
])
def test_output_words_map_back_to_their_input(text: str, expected: list[tuple[str, str]]) -> None:
    assert _spans(text) == expected


def test_source_span_of_part_of_copied_text_is_exact_and_of_a_replacement_is_whole() -> None:
    normalized = normalize("pay $5 now")
    assert normalized.text == "pay five dollars now"
    assert normalized.source_span(1, 3) == (1, 3)  # "ay"
    assert normalized.source_span(5, 7) == (4, 6)  # "iv" of "five" -> "$5"
    assert normalized.source_span(0, len(normalized.text)) == (0, 10)
    assert normalized.source_span(4, 4) == (4, 4)  # empty ranges map to a point
    with pytest.raises(ValueError):
        normalized.source_span(3, 100)


def test_normalize_text_is_normalize_dot_text() -> None:
    text = "Dr. Smith paid $5.50 at 3:30pm on 2024-01-03."
    assert normalize_text(text) == normalize(text).text


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("0123456789 .,$%:/-aZ\n'(I)km°"), max_size=60) | st.text(max_size=60))
def test_any_text_normalizes_with_spans_in_order(text: str) -> None:
    normalized = normalize(text)
    previous_end = 0
    for match in re.finditer(r"\S+", normalized.text):
        start, end = normalized.source_span(*match.span())
        assert 0 <= start <= end <= len(text)
        assert end >= previous_end  # output words come from the input in its order
        previous_end = end
