"""English number words: cardinals, ordinals, years, decades, digits, fractions, Roman numerals.

    cardinal(1234)  -> "one thousand two hundred and thirty-four"
    ordinal(21)     -> "twenty-first"
    year(1905)      -> "nineteen oh five"
    decade(1990)    -> "nineteen nineties"
    pair(747)       -> "seven forty-seven" (a model number, a screen size)
    digits("911")   -> "nine one one"
    fraction(3, 4)  -> "three quarters"
"""

from __future__ import annotations

from functools import lru_cache

from num2words import num2words

MAX_NUMBER_DIGITS = 15  # longer digit runs are read digit by digit
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


@lru_cache(maxsize=4096)
def cardinal(number: int) -> str:
    return num2words(number).replace(",", "")


@lru_cache(maxsize=1024)
def ordinal(number: int) -> str:
    return num2words(number, to="ordinal").replace(",", "")


@lru_cache(maxsize=1024)
def year(number: int, british: bool = False) -> str:
    """1914 -> nineteen fourteen, 1905 -> nineteen oh five, 1900 -> nineteen hundred,
    2005 -> two thousand five (British: two thousand and five), 2025 -> twenty twenty-five."""
    if number < 1000 or number % 1000 == 0 or 2000 <= number <= 2009:
        spoken = cardinal(number)
        return spoken if british else spoken.replace(" and ", " ")
    century, rest = divmod(number, 100)
    if rest == 0:
        return f"{cardinal(century)} hundred"
    if rest < 10:
        return f"{cardinal(century)} oh {cardinal(rest)}"
    return f"{cardinal(century)} {cardinal(rest)}"


def pair(number: int) -> str:
    """A number read in pairs of digits, as people say model numbers and screen sizes: 1920 ->
    nineteen twenty, 747 -> seven forty-seven, 720 -> seven twenty, 800 -> eight hundred, 52 -> fifty-two."""
    if number >= 1000:
        return year(number)
    if number < 100:
        return cardinal(number)
    high, low = divmod(number, 100)
    if low == 0:
        return f"{cardinal(high)} hundred"
    return f"{cardinal(high)} {cardinal(low) if low >= 10 else 'oh ' + cardinal(low)}"


def plural_word(words: str) -> str:
    """The plural of a spoken number's last word: ninety -> nineties, hundred -> hundreds."""
    head, _, last = words.rpartition(" ")
    last = last[:-1] + "ies" if last.endswith("y") else last + ("es" if last.endswith(("x", "s")) else "s")
    return f"{head} {last}" if head else last


def decade(number: int, british: bool = False) -> str:
    """1990 -> nineteen nineties, 1800 -> eighteen hundreds, 2000 -> two thousands, 90 -> nineties."""
    return plural_word(cardinal(number) if number < 100 else year(number, british))


def digits(text: str, zero: str = "zero") -> str:
    return " ".join(zero if ch == "0" else DIGIT_WORDS[int(ch)] for ch in text if "0" <= ch <= "9")


def number_words(text: str) -> str:
    """``1,234.56`` -> words; decimals are read digit by digit after "point"."""
    whole, _, fraction = text.replace(",", "").partition(".")
    spoken = digits(whole) if len(whole) > MAX_NUMBER_DIGITS else cardinal(int(whole or "0"))
    if fraction:
        spoken += " point " + digits(fraction)
    return spoken


_DENOMINATORS = {2: ("half", "halves"), 4: ("quarter", "quarters")}


def fraction(numerator: int, denominator: int) -> str:
    """3/4 -> three quarters, 1/2 -> one half, 5/8 -> five eighths."""
    if denominator in _DENOMINATORS:
        one, many = _DENOMINATORS[denominator]
    else:
        one = ordinal(denominator)
        many = one + "s"
    return f"{cardinal(numerator)} {one if numerator == 1 else many}"


_ROMAN = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}


@lru_cache(maxsize=1024)
def roman(text: str) -> int | None:
    """The value of a Roman numeral written the canonical way (XIV, not XIIII), else None."""
    if not text or len(text) > 12 or any(ch not in _ROMAN for ch in text):
        return None
    total = 0
    for i, ch in enumerate(text):
        value = _ROMAN[ch]
        total += -value if i + 1 < len(text) and _ROMAN[text[i + 1]] > value else value
    return total if 0 < total < 4000 and to_roman(total) == text else None


def to_roman(number: int) -> str:
    out = []
    for value, letters in ((1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"),
                           (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")):
        count, number = divmod(number, value)
        out.append(letters * count)
    return "".join(out)
