"""English text normalization: numbers, dates, times, money, units, abbreviations, URLs and emails.

Pure functions. Every pattern is anchored and uses bounded repetition, so a pass is linear in the
input length even on adversarial text (a megabyte of digits, dots or brackets).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from num2words import num2words

from kokoro_server.text.spans import Normalized, Rewriter


@dataclass(frozen=True)
class NormalizationOptions:
    normalize: bool = True
    url_normalization: bool = True
    email_normalization: bool = True
    unit_normalization: bool = True
    replace_remaining_symbols: bool = True


DEFAULT_OPTIONS = NormalizationOptions()

MAX_NUMBER_DIGITS = 15  # longer digit runs are read digit by digit
_DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December")

# -- helpers ------------------------------------------------------------------------------------

@lru_cache(maxsize=4096)
def cardinal(number: int) -> str:
    return num2words(number).replace(",", "")


@lru_cache(maxsize=1024)
def ordinal(number: int) -> str:
    return num2words(number, to="ordinal").replace(",", "")


@lru_cache(maxsize=1024)
def year(number: int) -> str:
    if 2000 <= number <= 2009 or number % 100 == 0 and number % 1000 != 0 and number < 2000:
        return cardinal(number) if number >= 2000 else num2words(number, to="year")
    return num2words(number, to="year").replace(",", "")


def digits(text: str) -> str:
    return " ".join(_DIGIT_WORDS[int(ch)] for ch in text if ch.isdigit())


def number_words(text: str) -> str:
    """``1,234.56`` -> words; decimals are read digit by digit after "point"."""
    whole, _, fraction = text.replace(",", "").partition(".")
    if len(whole) > MAX_NUMBER_DIGITS:
        spoken = digits(whole)
    else:
        spoken = cardinal(int(whole or "0"))
    if fraction:
        spoken += " point " + digits(fraction)
    return spoken


def _plural(word: str, amount: str) -> str:
    return word if amount in ("1", "1.0", "one") else word + ("es" if word.endswith(("ch", "sh")) else "s")


# -- rules --------------------------------------------------------------------------------------

_URL = re.compile(r"\b(?:https?://|www\.)[^\s<>\"]{1,2000}", re.IGNORECASE)
_EMAIL = re.compile(r"\b[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,8}\b")
_TIME = re.compile(r"(?<![\d:])(\d{1,2}):(\d{2})(?::(\d{2}))?(?!\d)(?:\s?([ap])\.?\s?m\b)?", re.IGNORECASE)
_ISO_DATE = re.compile(r"(?<![\d-])(\d{4})-(\d{2})-(\d{2})(?![\d-])")
_US_DATE = re.compile(r"(?<![\d/])(\d{1,2})/(\d{1,2})/(\d{4})(?![\d/])")
_MONEY = re.compile(r"([$£€¥])\s?(\d{1,15}(?:,\d{3}){0,5}(?:\.\d{1,2})?)(?!\d)"
                    r"(?:\s?(thousand|million|billion|trillion|[kKmMbB]n?)\b)?")
_PERCENT = re.compile(r"(?<![\d.])(\d{1,15}(?:\.\d{1,10})?)\s?%")
_ORDINAL = re.compile(r"(?<![\d.])(\d{1,15})(st|nd|rd|th)\b", re.IGNORECASE)
_YEAR_CONTEXT = re.compile(r"\b(in|since|by|from|of|year|until|till|circa|before|after)\s(1[1-9]\d\d|20\d\d)(s?)\b",
                           re.IGNORECASE)
_DECADE = re.compile(r"(?<![\d.])(1[1-9]\d0|20\d0)s\b")
_NUMBER = re.compile(r"(?<![\d.,])(-?)(\d{1,3}(?:,\d{3}){1,4}|\d{1,400})(\.\d{1,400})?(?![\d])(?=([^\W\d_])?)")
_LONG_DIGITS = re.compile(r"\d{16,}")
_UNITS = {
    "km": "kilometer", "m": "meter", "cm": "centimeter", "mm": "millimeter", "mi": "mile",
    "ft": "foot", "in": "inch", "kg": "kilogram", "g": "gram", "mg": "milligram", "lb": "pound",
    "lbs": "pound", "oz": "ounce", "mph": "mile per hour", "km/h": "kilometer per hour",
    "kmh": "kilometer per hour", "°c": "degree Celsius", "°f": "degree Fahrenheit",
    "ms": "millisecond", "s": "second", "sec": "second", "min": "minute", "h": "hour", "hr": "hour",
    "hrs": "hour", "kb": "kilobyte", "mb": "megabyte", "gb": "gigabyte", "tb": "terabyte",
    "hz": "hertz", "khz": "kilohertz", "mhz": "megahertz", "ghz": "gigahertz", "w": "watt",
    "kw": "kilowatt", "kwh": "kilowatt hour", "v": "volt", "mah": "milliamp hour", "l": "liter",
    "ml": "milliliter",
}
_UNIT = re.compile(r"(?<![\w.])(\d{1,15}(?:\.\d{1,10})?)\s?(" +
                   "|".join(sorted((re.escape(u) for u in _UNITS), key=len, reverse=True)) +
                   r")(?![\w/])", re.IGNORECASE)
_ABBREVIATIONS = {
    "Dr.": "Doctor", "Mr.": "Mister", "Mrs.": "Missus", "Ms.": "Miz", "Prof.": "Professor",
    "St.": "Saint", "Jr.": "Junior", "Sr.": "Senior", "vs.": "versus", "etc.": "et cetera",
    "e.g.": "for example", "i.e.": "that is", "approx.": "approximately", "Inc.": "Incorporated",
    "Ltd.": "Limited", "Co.": "Company", "Mt.": "Mount", "Ave.": "Avenue", "Jan.": "January",
    "Feb.": "February", "Aug.": "August", "Sept.": "September", "Oct.": "October",
    "Nov.": "November", "Dec.": "December",
}
_ABBREVIATION = re.compile(r"(?<![\w.])(" + "|".join(re.escape(a) for a in _ABBREVIATIONS) + r")(?=\s|$)")
_NUMBER_SIGN = re.compile(r"(?<!\w)(?:No\.|#)\s?(?=\d)")
_SYMBOLS = {"&": " and ", "@": " at ", "+": " plus ", "=": " equals ", "°": " degrees ", "~": " about ",
            "½": " one half ", "¼": " one quarter ", "¾": " three quarters ", "×": " times "}
_SYMBOL = re.compile("[" + re.escape("".join(_SYMBOLS)) + "]")
_SPACES = re.compile(r"[ \t\f\v\u00a0\u2000-\u200b\u3000]{1,100000}")
_QUOTES = re.compile("[\u2018\u2019]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_MAGNITUDES = {"k": "thousand", "m": "million", "b": "billion", "bn": "billion"}
_CURRENCIES = {"$": ("dollar", "cent"), "£": ("pound", "penny"), "€": ("euro", "cent"), "¥": ("yen", "sen")}


def _url(match: re.Match[str]) -> str:
    url = re.sub(r"^(?:https?://)?(?:www\.)?", "", match.group(0), flags=re.IGNORECASE).rstrip(".,;:!?)")
    tail = match.group(0)[len(match.group(0).rstrip(".,;:!?)")):]
    spoken = url.replace(".", " dot ").replace("/", " slash ").replace("-", " dash ").replace("_", " underscore ")
    spoken = spoken.replace("?", " question mark ").replace("=", " equals ").replace("&", " and ")
    return " " + " ".join(spoken.split()) + tail


def _email(match: re.Match[str]) -> str:
    user, _, domain = match.group(0).partition("@")
    say = lambda part: part.replace(".", " dot ").replace("_", " underscore ").replace("-", " dash ").replace("+", " plus ")  # noqa: E731
    return " ".join(f"{say(user)} at {say(domain)}".split())


def _time(match: re.Match[str]) -> str:
    hour, minute, second, half = int(match.group(1)), int(match.group(2)), match.group(3), match.group(4)
    if hour > 24 or minute > 59:
        return match.group(0)
    if minute == 0:
        spoken = cardinal(hour) + ("" if half else " o'clock")
    elif minute < 10:
        spoken = f"{cardinal(hour)} oh {cardinal(minute)}"
    else:
        spoken = f"{cardinal(hour)} {cardinal(minute)}"
    if second:
        spoken += f" and {cardinal(int(second))} seconds"
    if half:
        spoken += " AM" if half.lower() == "a" else " PM"
    return spoken


def _date(year_text: str, month_text: str, day_text: str, original: str) -> str:
    month, day = int(month_text), int(day_text)
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return original
    return f"{_MONTHS[month - 1]} {ordinal(day)}, {year(int(year_text))}"


def _money(match: re.Match[str]) -> str:
    symbol, amount, magnitude = match.group(1), match.group(2), match.group(3)
    unit, sub_unit = _CURRENCIES[symbol]
    whole, _, cents = amount.replace(",", "").partition(".")
    if magnitude:
        word = _MAGNITUDES.get(magnitude.lower(), magnitude.lower())
        return f"{number_words(amount)} {word} {unit}s"
    spoken = f"{cardinal(int(whole))} {_plural(unit, whole) if unit != 'yen' else unit}"
    if cents and int(cents.ljust(2, "0")):
        cents_value = int(cents.ljust(2, "0"))
        sub = "pence" if sub_unit == "penny" and cents_value != 1 else _plural(sub_unit, str(cents_value))
        spoken += f" and {cardinal(cents_value)} {sub}"
    return spoken


def _unit(match: re.Match[str]) -> str:
    amount, unit = match.group(1), match.group(2)
    name = _UNITS[unit.lower()] if unit.lower() in _UNITS else unit
    if unit in ("m", "M") and unit == "M":
        return match.group(0)  # "5M" is a magnitude, not metres
    words = name.split(" ")
    words[0] = _plural(words[0], amount)
    if words[0] == "foots":
        words[0] = "feet"
    if words[0] == "inchs":
        words[0] = "inches"
    return f"{number_words(amount)} {' '.join(words)}"


def _number(match: re.Match[str]) -> str:
    sign, whole, fraction = match.group(1), match.group(2), match.group(3) or ""
    spoken = number_words(whole + fraction)
    glued = " " if match.group(4) else ""  # "5km" -> "five km"
    return ("minus " if sign else "") + spoken + glued


def normalize(text: str, options: NormalizationOptions = DEFAULT_OPTIONS) -> Normalized:
    """Rewrite English text so that every token is pronounceable words and punctuation, keeping the
    way back from each output range to the input range it came from (``source_span``)."""
    rw = Rewriter(text)
    rw.sub(_CONTROL, " ")
    if not options.normalize:
        _finish(rw)
        return rw.result()
    rw.sub(_QUOTES, "'")
    if options.email_normalization:
        rw.sub(_EMAIL, _email)
    if options.url_normalization:
        rw.sub(_URL, _url)
    rw.sub(_ABBREVIATION, lambda m: _ABBREVIATIONS[m.group(1)])
    rw.sub(_NUMBER_SIGN, "number ")
    rw.sub(_ISO_DATE, lambda m: _date(m.group(1), m.group(2), m.group(3), m.group(0)))
    rw.sub(_US_DATE, lambda m: _date(m.group(3), m.group(1), m.group(2), m.group(0)))
    rw.sub(_TIME, _time)
    rw.sub(_MONEY, _money)
    rw.sub(_PERCENT, lambda m: f"{number_words(m.group(1))} percent")
    rw.sub(_DECADE, lambda m: year(int(m.group(1))).removesuffix("y") + "ies"
           if year(int(m.group(1))).endswith("y") else year(int(m.group(1))) + "s")
    if options.unit_normalization:
        rw.sub(_UNIT, _unit)
    rw.sub(_ORDINAL, lambda m: ordinal(int(m.group(1))))
    rw.sub(_YEAR_CONTEXT, lambda m: [(m.start(2), m.end(2), year(int(m.group(2))))])
    rw.sub(_LONG_DIGITS, lambda m: " " + digits(m.group(0)) + " ")
    rw.sub(_NUMBER, _number)
    if options.replace_remaining_symbols:
        rw.sub(_SYMBOL, lambda m: _SYMBOLS[m.group(0)])
    _finish(rw)
    return rw.result()


def _finish(rw: Rewriter) -> None:
    """One space for each run of blanks; none at either end."""
    rw.sub(_SPACES, " ")
    lead = len(rw.text) - len(rw.text.lstrip())
    trail = len(rw.text.rstrip())
    rw.apply([(0, lead, "")] + ([(trail, len(rw.text), "")] if trail > lead else []))


def normalize_text(text: str, options: NormalizationOptions = DEFAULT_OPTIONS) -> str:
    """The normalized text alone (see :func:`normalize`)."""
    return normalize(text, options).text
