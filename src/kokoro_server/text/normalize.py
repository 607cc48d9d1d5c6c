"""Text normalization: written forms become the words a person would say.

English is read in full here (numbers in context: years, telephone numbers, fractions, ranges and
scores, versions, money, units, Roman numerals after names; abbreviations; URLs and e-mail
addresses); the other languages get what their front ends miss (``text/languages.py``).

Every rule is a pattern with bounded repetition (no nested unbounded groups) applied once through the
span-keeping :class:`~kokoro_server.text.spans.Rewriter`, and context is read within a few
characters of a match, so a pass is linear in the input even on adversarial text (a megabyte of
digits, dots or slashes). :func:`normalize` returns the text with the way back to the input ranges.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kokoro_server.text import languages
from kokoro_server.text.chat import strip_emoji, strip_markdown
from kokoro_server.text.numbers import (
    cardinal, decade, digits, fraction, number_words, ordinal, roman, year,
)
from kokoro_server.text.spans import Edit, Normalized, Rewriter

__all__ = ["DEFAULT_OPTIONS", "NormalizationOptions", "Normalized", "normalize", "normalize_text"]


@dataclass(frozen=True)
class NormalizationOptions:
    normalize: bool = True
    url_normalization: bool = True
    email_normalization: bool = True
    unit_normalization: bool = True
    replace_remaining_symbols: bool = True
    strip_markdown: bool = True
    strip_emoji: bool = True


DEFAULT_OPTIONS = NormalizationOptions()
ENGLISH = ("a", "b")

_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December")
_MONTH_NAMES = "|".join(_MONTHS)

# -- context within a few characters of a match ---------------------------------------------

_WORD_BEFORE = re.compile(r"([A-Za-z][A-Za-z'.]{0,19})[\s,]{1,3}$")
_WORD_AFTER = re.compile(r"[\s,]{0,3}([A-Za-z][A-Za-z'.]{0,19})")


def _word_before(text: str, start: int) -> str:
    match = _WORD_BEFORE.search(text, max(0, start - 24), start)
    return match.group(1) if match else ""


def _word_after(text: str, end: int) -> str:
    match = _WORD_AFTER.match(text, end, end + 24)
    return match.group(1) if match else ""


def _sentence_ends(text: str, end: int) -> bool:
    """Whether a sentence ends at ``end`` (only blanks, then a capital letter, a newline or the end)."""
    rest = text[end:end + 12].lstrip(" \t")
    return not rest or rest[0] == "\n" or rest[0].isupper() or rest[0] in "\"'“"


# -- rules ----------------------------------------------------------------------------------

_URL = re.compile(r"\b(?:https?://|www\.)[^\s<>\"]{1,2000}", re.IGNORECASE)
_EMAIL = re.compile(r"\b[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,8}\b")
_QUOTES = re.compile("[\u2018\u2019\u2032]")
_DOUBLE_PRIMES = re.compile("[\u2033]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SPACES = re.compile(r"[ \t\f\v\u00a0\u2000-\u200b\u202f\u3000]{1,100000}")


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


# asides: "The price (including tax) is" -> "The price, including tax, is"
_ASIDE = re.compile(r"(?<=\w)[ \t]{1,3}\(([^()\n]{1,300})\)(?=([.,;:!?]?))")


def _aside(match: re.Match[str]) -> list[Edit]:
    inner = match.group(1).strip()
    if not inner or not any(ch.isalpha() for ch in inner):
        return [(match.start(), match.start(1), " "), (match.end(1), match.end(), "")]
    close = "" if match.group(2) else ","
    return [(match.start(), match.start(1), ", "), (match.end(1), match.end(), close)]


# -- abbreviations: expanded, and their periods never end a sentence -------------------------

_TITLES = {  # before a name; never end a sentence
    "Mr": "Mister", "Mrs": "Missus", "Ms": "Miz", "Prof": "Professor", "Lt": "Lieutenant",
    "Capt": "Captain", "Col": "Colonel", "Gen": "General", "Sgt": "Sergeant", "Cpl": "Corporal",
    "Maj": "Major", "Adm": "Admiral", "Cmdr": "Commander", "Gov": "Governor", "Sen": "Senator",
    "Rep": "Representative", "Rev": "Reverend", "Hon": "Honorable", "Pres": "President",
    "Supt": "Superintendent", "Insp": "Inspector", "Mt": "Mount", "Messrs": "Messieurs",
}
_SUFFIXES = {  # may end a sentence: the period stays then
    "Jr": "Junior", "Sr": "Senior", "Inc": "Incorporated", "Ltd": "Limited", "Co": "Company",
    "Corp": "Corporation", "Bros": "Brothers", "etc": "et cetera", "Ave": "Avenue", "Blvd": "Boulevard",
    "Rd": "Road", "Ln": "Lane", "Dept": "Department", "Univ": "University", "approx": "approximately",
    "Approx": "approximately", "misc": "miscellaneous", "Est": "established", "est": "established",
    "Assn": "Association", "Intl": "International", "Govt": "Government", "Sq": "Square",
}
_INLINE = {  # read through, never end a sentence
    "vs": "versus", "e.g": "for example", "i.e": "that is", "cf": "compare", "viz": "namely",
    "E.g": "For example", "I.e": "That is", "Vs": "versus", "w.r.t": "with respect to",
}
_BEFORE_NUMBER = {  # only before a number: "Fig. 3", "ca. 1500", "vol. 2"
    "No": "number", "no": "number", "Nos": "numbers", "Fig": "Figure", "fig": "figure", "Vol": "Volume",
    "vol": "volume", "Ch": "Chapter", "ch": "chapter", "pp": "pages", "p": "page", "Sec": "Section",
    "sec": "section", "Eq": "Equation", "eq": "equation", "ca": "circa", "c": "circa", "Ex": "Example",
    "Art": "Article", "art": "article", "Ref": "Reference", "Tel": "Telephone", "tel": "telephone",
    "Ph": "Phone", "Apt": "Apartment", "Rm": "Room", "Pt": "Part", "pt": "part", "ext": "extension",
    "Ext": "Extension", "apt": "apartment", "Ste": "Suite",
}
_DAYS = {"Mon": "Monday", "Tue": "Tuesday", "Tues": "Tuesday", "Wed": "Wednesday", "Thu": "Thursday",
         "Thur": "Thursday", "Thurs": "Thursday", "Fri": "Friday", "Sat": "Saturday", "Sun": "Sunday"}
_MONTH_ABBREVIATIONS = {"Jan": "January", "Feb": "February", "Mar": "March", "Apr": "April",
                        "Jun": "June", "Jul": "July", "Aug": "August", "Sep": "September",
                        "Sept": "September", "Oct": "October", "Nov": "November", "Dec": "December"}
_AMBIGUOUS = {"Dr": ("Doctor", "Drive"), "St": ("Saint", "Street"), "Ft": ("Fort", "Fort")}
_ALL_ABBREVIATIONS = (*_TITLES, *_SUFFIXES, *_INLINE, *_BEFORE_NUMBER, *_DAYS, *_MONTH_ABBREVIATIONS,
                      *_AMBIGUOUS)
_ABBREVIATION = re.compile(
    r"(?<![\w.])(" + "|".join(sorted((re.escape(a) for a in _ALL_ABBREVIATIONS), key=len, reverse=True))
    + r")\.(?![\w.])")
_DAY_OR_MONTH = re.compile(r"[\s,]{1,3}(?:\d|(?:" + "|".join((*_MONTHS, *_MONTH_ABBREVIATIONS)) + r")\b)")
_NUMBER_AHEAD = re.compile(r"[ \t]{0,2}#?(?:\d|[IVXLC]{1,6}\b)")


def _abbreviation(match: re.Match[str]) -> str:
    text, word, end = match.string, match.group(1), match.end()
    capital_next = text[end:end + 1] in (" ", "\t", "\n") and _word_after(text, end)[:1].isupper()
    if word in _TITLES:
        return _TITLES[word]
    if word in _INLINE:
        return _INLINE[word]
    if word in _BEFORE_NUMBER:
        return _BEFORE_NUMBER[word] if _NUMBER_AHEAD.match(text, end) else match.group(0)
    if word in _DAYS:
        return _DAYS[word] if word not in ("Sat", "Sun") or _DAY_OR_MONTH.match(text, end) else match.group(0)
    if word in _MONTH_ABBREVIATIONS:
        before = text[max(0, match.start() - 12):match.start()].rstrip(" ,")
        near_date = _NUMBER_AHEAD.match(text, end) or before[-1:].isdigit() or before.rstrip(".").endswith(
            tuple(_DAYS) + tuple(_DAYS.values()))
        return _MONTH_ABBREVIATIONS[word] if near_date else match.group(0)
    if word in _AMBIGUOUS:  # "Dr. Who", "St. Louis" / "Elm Dr.", "Main St."
        person, place = _AMBIGUOUS[word]
        if capital_next and not _sentence_ends(text, end) or not _word_before(text, match.start())[:1].isupper():
            return person
        return place + ("." if _sentence_ends(text, end) else "")
    return _SUFFIXES[word] + ("." if _sentence_ends(text, end) else "")


# "U.S." -> "U.S" (misaki reads it the same) so that its last period ends no sentence
_INITIALISM = re.compile(r"(?<![\w.])(?:[A-Za-z]\.){1,5}[A-Za-z]\.(?![\w.])")
# "John F. Kennedy", "J. K. Rowling": an initial's period ends no sentence
_INITIAL = re.compile(r"(?<![\w.])[A-Z]\.(?=[ \t]{1,3}[A-Z])")
_CAPITALIZED_BEFORE = re.compile(r"(?:[A-Z][a-z]{1,20}|[A-Z]\.?)[ \t]{1,3}$")


def _initialism(match: re.Match[str]) -> list[Edit]:
    if _sentence_ends(match.string, match.end()):
        return []
    return [(match.end() - 1, match.end(), "")]


def _initial(match: re.Match[str]) -> list[Edit]:
    text, start = match.string, match.start()
    after = text[match.end():match.end() + 6].lstrip()
    if _CAPITALIZED_BEFORE.search(text, max(0, start - 24), start) or re.match(r"[A-Z]\.", after):
        return [(match.end() - 1, match.end(), "")]
    return []


_NUMBER_SIGN = re.compile(r"(?<![\w&])#[ \t]?(?=\d)")

# -- numbers in context ---------------------------------------------------------------------

_PHONE = re.compile(r"(?<![\w+.,-])(?:(\+\d{1,3})[ .-]?|(1)[ .-])?(?:\((\d{3})\)[ ]?|(\d{3})[ .-])(\d{3})[ .-](\d{4})"
                    r"(?![\w-]|[.,]\d)")
_PHONE_INTERNATIONAL = re.compile(r"(?<![\w+])\+(\d{1,3})((?:[ .-]\d{1,5}){2,5})(?![\w-]|[.,]\d)")
_PHONE_LOCAL = re.compile(r"(?<![\w.,-])(\d{3})-(\d{4})(?![\w-]|[.,]\d)")
_SHORT_NUMBER = re.compile(r"\b(?:[Cc]all|[Dd]ial|[Rr]ing|[Tt]ext)[ \t]{1,3}(\d{3})(?![\w-]|[.,]\d)")  # "call 911"
_RANGE_WORDS = frozenset("pages page pp from between years ages aged rows lines items numbers verses "
                         "chapters sizes".split())
_PHONE_WORDS = frozenset("call phone tel telephone fax dial mobile cell number ring text contact hotline "
                         "reach at on".split())


def _say_groups(groups: list[str]) -> str:
    """Digit groups as they are dictated: "five-five-five, one-two-three" (the hyphens keep each
    group together, the commas pause between them)."""
    return ", ".join(digits(group).replace(" ", "-") for group in groups if group)


def _phone(match: re.Match[str]) -> str:
    country, one, area, area2, exchange, line = match.groups()
    prefix = f"plus {digits(country)}, " if country else ("one, " if one else "")
    return prefix + _say_groups([area or area2, exchange, line])


def _phone_international(match: re.Match[str]) -> str:
    groups = re.split(r"[ .-]", match.group(2).strip(" .-"))
    return f"plus {digits(match.group(1))}, " + _say_groups(groups)


def _phone_local(match: re.Match[str]) -> str:
    """"call 555-1234", and "555-1234" alone: exchanges start with 2-9 and lines are rarely round,
    while "pages 100-1000" and "250-1000 words" are ranges."""
    before = _word_before(match.string, match.start()).lower()
    exchange, line = match.group(1), match.group(2)
    dialled = exchange[0] in "23456789" and not line.endswith("00") and before not in _RANGE_WORDS
    if before not in _PHONE_WORDS and not dialled:
        return match.group(0)
    return _say_groups([exchange, line])


_WORD_DASH_NUMBER = re.compile(r"(?<=[A-Za-z])-(?=\d)")  # "COVID-19" -> "COVID 19"
_ISO_DATE = re.compile(r"(?<![\d-])(\d{4})-(\d{2})-(\d{2})(?![\d-])")
_US_DATE = re.compile(r"(?<![\d/])(\d{1,2})/(\d{1,2})/(\d{4})(?![\d/])")
_DOTTED_DATE = re.compile(r"(?<![\d.])(\d{1,2})\.(\d{1,2})\.(\d{4})(?![\d.]|\.\d)")
_MONTH_DAY = re.compile(r"\b(" + _MONTH_NAMES + r")[ \t]{1,3}(\d{1,2})(?:st|nd|rd|th)?(?![\d:.,%]\d|[\w%])"
                        r"(?:(,?[ \t]{1,3})(\d{4})(?![\w%]|[.,]\d))?")
_DAY_MONTH = re.compile(r"(?<![\w.,])(\d{1,2})(?:st|nd|rd|th)?[ \t]{1,3}(?:of[ \t]{1,3})?(" + _MONTH_NAMES + r")\b"
                        r"(?:(,?[ \t]{1,3})(\d{4})(?![\w%]|[.,]\d))?")


def _date(year_text: str, month_text: str, day_text: str, original: str, british: bool) -> str:
    month, day = int(month_text), int(day_text)
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return original
    if british:
        return f"the {ordinal(day)} of {_MONTHS[month - 1]}, {year(int(year_text), True)}"
    return f"{_MONTHS[month - 1]} {ordinal(day)}, {year(int(year_text))}"


_TIME = re.compile(r"(?<![\d:.])(\d{1,2}):(\d{2})(?::(\d{2}))?(?![\d:])(?:[ \t]?([ap])\.?[ \t]?m(\.?)(?!\w))?",
                   re.IGNORECASE)
_HOUR = re.compile(r"(?<![\w:.,])(\d{1,2})[ \t]?([ap])\.?[ \t]?m(\.?)(?![\w.])", re.IGNORECASE)
_NOON = {"noon": "noon", "midnight": "midnight"}


def _half(half: str, dot: str, match: re.Match[str]) -> str:
    spoken = " AM" if half.lower() == "a" else " PM"
    return spoken + ("." if dot and _sentence_ends(match.string, match.end()) else "")


def _time(match: re.Match[str]) -> str:
    hour, minute, second, half, dot = int(match.group(1)), int(match.group(2)), match.group(3), match.group(4), match.group(5)
    if hour > 24 or minute > 59:
        return match.group(0)
    if minute == 0 and hour > 12 and not half:
        spoken = f"{cardinal(hour)} hundred"  # 18:00, as a 24-hour clock is read
    elif minute == 0:
        spoken = cardinal(hour) + ("" if half else " o'clock")
    elif minute < 10:
        spoken = f"{cardinal(hour)} oh {cardinal(minute)}"
    else:
        spoken = f"{cardinal(hour)} {cardinal(minute)}"
    if second:
        spoken += f" and {cardinal(int(second))} seconds"
    return spoken + (_half(half, dot, match) if half else "")


def _hour(match: re.Match[str]) -> str:
    hour = int(match.group(1))
    if not 1 <= hour <= 12:
        return match.group(0)
    return cardinal(hour) + _half(match.group(2), match.group(3), match)


_YEAR = r"1\d{3}|20\d\d"
_GROUPED = r"\d{1,3}(?:,\d{3}){1,4}"  # "1,234,567"
_AMOUNT = r"(?:" + _GROUPED + r"|\d{1,15})"  # "1,000" or "1000": read whole, not as "1," + "000"
_DASH = r"[ \t]?[-\u2013\u2212][ \t]?"
_YEAR_RANGE = re.compile(r"(?<![\w.,$£€¥₹-])(" + _YEAR + r")" + _DASH + r"(" + _YEAR + r"|\d\d)(?![\w-]|[.,]\d|%)")
_RANGE = re.compile(r"(?<![\w.,:/-])([$£€¥₹]?" + _AMOUNT + r"(?:\.\d{1,9})?%?)" + _DASH +
                    r"(?=[$£€¥₹]?" + _AMOUNT + r"(?:\.\d{1,9})?(?![\d:/-]|[.,]\d))")


def _year_range(match: re.Match[str], british: bool) -> str:
    first, second = match.group(1), match.group(2)
    if len(second) == 2:
        return f"{year(int(first))} to {cardinal(int(second)) if second[0] != '0' else 'oh ' + cardinal(int(second))}"
    return f"{year(int(first), british)} to {year(int(second), british)}"


_DECADE = re.compile(r"(?<![\w.,$£€¥₹])(?:(1[1-9]\d0|20\d0)|'([0-9]0)|([1-9]0))'?s(?!\w)")

_SIGN = re.compile(r"(?<![\w.,)\]%-])[-\u2212](?=[$£€¥₹]?\d)")

_MONEY = re.compile(r"([$£€¥₹])[ \t]?(\d{1,15}(?:,\d{3}){0,5}(?:\.\d{1,2})?)(?![\d.,]\d|\d)"
                    r"(?:[ \t]?(thousand|million|billion|trillion|lakh|crore|[kKmMbB]n?|bn|tn|mn|[kK])(?![\w]))?")
_MONEY_CODE = re.compile(r"(?<![\w.,])(\d{1,15}(?:,\d{3}){0,5}(?:\.\d{1,2})?)[ \t]?(USD|EUR|GBP|JPY|INR)\b")
_MAGNITUDES = {"k": "thousand", "m": "million", "mn": "million", "b": "billion", "bn": "billion",
               "tn": "trillion"}
_CURRENCIES = {"$": ("dollar", "cent"), "£": ("pound", "penny"), "€": ("euro", "cent"), "¥": ("yen", ""),
               "₹": ("rupee", "paisa")}
_CODES = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹"}


def _plural(word: str, amount: str) -> str:
    if amount in ("1", "1.0", "one", "01") or word in ("yen",) or word.endswith("hertz"):
        return word
    return {"penny": "pence", "paisa": "paise", "foot": "feet", "inch": "inches"}.get(
        word, word + ("es" if word.endswith(("ch", "sh")) else "s"))


def _say_money(symbol: str, amount: str, magnitude: str | None) -> str:
    unit, sub_unit = _CURRENCIES[symbol]
    whole, _, cents = amount.replace(",", "").partition(".")
    if magnitude:
        word = _MAGNITUDES.get(magnitude.lower(), magnitude.lower())
        return f"{number_words(amount)} {word} {_plural(unit, 'many')}"
    spoken = f"{number_words(whole)} {_plural(unit, whole)}"
    if cents and int(cents.ljust(2, "0")):
        value = int(cents.ljust(2, "0"))
        if not sub_unit:
            return f"{number_words(amount)} {_plural(unit, 'many')}"
        spoken += f" and {cardinal(value)} {_plural(sub_unit, str(value))}"
    return spoken


_PERCENT = re.compile(r"(?<![\d.])(" + _AMOUNT + r"(?:\.\d{1,10})?)[ \t]?%")

# a four-digit number is a year after these words (or a month, or before AD/BC), else a count
_YEAR_WORDS = frozenset("in since by until till til circa ca c before after during year years early late mid "
                        "summer winter spring autumn fall born died around about as".split()) | {
    m.lower() for m in _MONTHS}
_QUARTER_BEFORE = re.compile(r"(?:^|\W)(?:Q[1-4]|H[12])[ \t]$")  # "Q4 2023", "H1 2025"
_PERIOD_YEAR = re.compile(r"\b(FY|CY)(1\d{3}|20\d\d)(?![\w]|[.,]\d)")  # "FY2023"
_WEAK_YEAR_WORDS = frozenset("of from to and or through between".split())
_FIRST_YEAR_WORDS = frozenset(("of", "from", "between"))
_FUNCTION_WORDS = frozenset("and or but to the a an in on at with as for after before until when while was were "
                            "is are had has have he she they we i it you his her their its our this that there "
                            "then so if by from of during saw".split())
_FOUR_DIGITS = re.compile(r"(?<![\w.,$£€¥₹#'+-])(?:(AD|A\.D\.|CE)[ \t]{1,2})?(" + _YEAR + r")(?![\w°%]|[.,:]\d)"
                          r"(?:[ \t]{1,2}(AD|BC|BCE|CE|A\.D\.|B\.C\.))?")


class _Years:
    """Reads each four-digit number as a year or as a count, from the words around it."""

    def __init__(self, british: bool) -> None:
        self.british = british
        self.last_year_end = -100

    def __call__(self, match: re.Match[str]) -> str:
        text = match.string
        era_before, number, era_after = match.group(1), int(match.group(2)), match.group(3)
        before = _word_before(text, match.start()).lower().rstrip(".")
        after = _word_after(text, match.end())
        is_year = bool(era_before or era_after) or before in _YEAR_WORDS or before in ("fy", "cy") \
            or bool(_QUARTER_BEFORE.search(text[max(0, match.start() - 5):match.start()]))
        if not is_year and before in _WEAK_YEAR_WORDS:
            after_word = after.lower()
            is_year = (before in _FIRST_YEAR_WORDS or match.start() - self.last_year_end < 16) and (
                not after_word or not after[:1].islower() or after_word in _FUNCTION_WORDS)
        if not is_year:
            return match.group(0)
        self.last_year_end = match.end()
        spoken = year(number, self.british)
        era = (era_before or era_after or "").replace(".", "")
        if era_before:
            return f"{era} {spoken}"
        return f"{spoken} {era}" if era else spoken


_FRACTION = re.compile(r"(?<![\w/.,-])(?:(\d{1,3})[ \t])?(\d{1,3})/(\d{1,3})(?![\w/]|[.,]\d)")
_VULGAR = {"½": (1, 2), "⅓": (1, 3), "⅔": (2, 3), "¼": (1, 4), "¾": (3, 4), "⅕": (1, 5), "⅖": (2, 5),
           "⅗": (3, 5), "⅘": (4, 5), "⅙": (1, 6), "⅚": (5, 6), "⅛": (1, 8), "⅜": (3, 8), "⅝": (5, 8),
           "⅞": (7, 8)}
_VULGAR_FRACTION = re.compile(r"(\d{1,6})?[ \t]?([" + "".join(_VULGAR) + "])")
_RATING_WORDS = frozenset("rated rating rate score scored scores got gave give gives giving out".split())
_JOINED = {(9, 11), (7, 11), (50, 50), (20, 20)}
_ROUND_THE_CLOCK = re.compile(r"(?<![\w.,/-])24[ \t]?[/-][ \t]?7(?![\w/-]|[.,]\d)")


def _mixed(whole: str | None, numerator: int, denominator: int) -> str:
    if not whole:
        return fraction(numerator, denominator)
    if numerator == 1 and denominator in (2, 4):
        return f"{number_words(whole)} and a {'half' if denominator == 2 else 'quarter'}"
    return f"{number_words(whole)} and {fraction(numerator, denominator)}"


def _fraction(match: re.Match[str]) -> str:
    whole, numerator, denominator = match.group(1), int(match.group(2)), int(match.group(3))
    if (numerator, denominator) in _JOINED or denominator == 0:
        return (f"{number_words(whole)} " if whole else "") + f"{cardinal(numerator)} {cardinal(denominator)}"
    if _word_before(match.string, match.start() if not whole else match.start(2)).lower() in _RATING_WORDS:
        return (f"{number_words(whole)} " if whole else "") + f"{cardinal(numerator)} out of {cardinal(denominator)}"
    if numerator >= denominator or denominator > 100 or denominator == 1:
        return (f"{number_words(whole)} " if whole else "") + f"{cardinal(numerator)} over {cardinal(denominator)}"
    return _mixed(whole, numerator, denominator)


_OR_PAIRS = re.compile(r"\b(and|he|she|him|her|his|hers|s|yes|true|on)/(or|she|he|her|him|his|hers|they|them|no|"
                       r"false|off)\b", re.IGNORECASE)
_WITH = re.compile(r"(?<![\w/])[wW]/(o\b)?(?=[ \t]|$)")
_PER = re.compile(r"(?<=[a-z%])[ \t]?/[ \t]?(hour|hr|h|day|d|week|wk|month|mo|year|yr|y|night|person|head|"
                  r"unit|piece|item|page|minute|min|second|sec|s|kg|lb|mile|km|liter|litre|gallon|visit|"
                  r"user|seat|share|serving)\b")
_PER_WORDS = {"hr": "hour", "h": "hour", "d": "day", "wk": "week", "mo": "month", "yr": "year", "y": "year",
              "min": "minute", "sec": "second", "s": "second", "kg": "kilogram", "lb": "pound", "km": "kilometer"}
_WORD_SLASH = re.compile(r"(?<=[A-Za-z])/(?=[A-Za-z])")

_SIZE = re.compile(r"(?<![\w.])(\d{1,5})[ \t]?[x×][ \t]?(\d{1,5})(?:[ \t]?[x×][ \t]?(\d{1,5}))?(?![\w.]|[.,]\d)")
_TIMES = re.compile(r"(?<![\w.])(" + _AMOUNT + r"(?:\.\d{1,3})?)[x×](?![\w])")
_HEIGHT = re.compile(r"(?<![\w.'])(\d{1,2})'[ \t]?(\d{1,2})(?:\"|''|\u2033|(?![\d'\w]))")
_FEET = re.compile(r"(?<![\w.'])(\d{1,3})'(?=[ \t]{1,3}(?:tall|long|wide|high|deep|away|under)\b)")


def _pair(number: int) -> str:
    """A screen size's number as people say it: 1920 -> nineteen twenty, 720 -> seven twenty."""
    if number >= 1000:
        return year(number)
    high, low = divmod(number, 100)
    if low == 0:
        return f"{cardinal(high)} hundred"
    return f"{cardinal(high)} {cardinal(low) if low >= 10 else 'oh ' + cardinal(low)}"


def _size(match: re.Match[str]) -> str:
    values = [int(v) for v in match.groups() if v]
    resolution = len(values) == 2 and all(v >= 100 for v in values)
    return " by ".join(_pair(v) if resolution else cardinal(v) for v in values)


_UNITS = {
    "km": "kilometer", "m": "meter", "cm": "centimeter", "mm": "millimeter", "µm": "micrometer",
    "nm": "nanometer", "mi": "mile", "ft": "foot", "in": "inch", "yd": "yard", "kg": "kilogram",
    "g": "gram", "mg": "milligram", "µg": "microgram", "lb": "pound", "lbs": "pound", "oz": "ounce",
    "t": "tonne", "mph": "mile per hour", "km/h": "kilometer per hour", "kmh": "kilometer per hour",
    "kph": "kilometer per hour", "m/s": "meter per second", "°c": "degree Celsius", "°f": "degree Fahrenheit",
    "ºc": "degree Celsius", "ºf": "degree Fahrenheit", "°": "degree", "ms": "millisecond", "µs": "microsecond",
    "ns": "nanosecond", "s": "second", "sec": "second", "secs": "second", "min": "minute", "mins": "minute",
    "h": "hour", "hr": "hour", "hrs": "hour", "kb": "kilobyte", "mb": "megabyte", "gb": "gigabyte",
    "tb": "terabyte", "pb": "petabyte", "kbps": "kilobit per second", "mbps": "megabit per second",
    "gbps": "gigabit per second", "kb/s": "kilobyte per second", "mb/s": "megabyte per second",
    "gb/s": "gigabyte per second", "km/s": "kilometer per second", "ft/s": "foot per second", "hz": "hertz",
    "khz": "kilohertz", "mhz": "megahertz", "ghz": "gigahertz",
    "w": "watt", "kw": "kilowatt", "mw": "megawatt", "kwh": "kilowatt hour", "v": "volt", "mv": "millivolt",
    "ma": "milliamp", "mah": "milliamp hour", "l": "liter", "ml": "milliliter", "cl": "centiliter",
    "dl": "deciliter", "gal": "gallon", "db": "decibel", "cal": "calorie", "kcal": "kilocalorie",
    "m²": "square meter", "km²": "square kilometer", "cm²": "square centimeter", "ft²": "square foot",
    "sq ft": "square foot", "sq mi": "square mile", "m³": "cubic meter", "cm³": "cubic centimeter",
    "cc": "cubic centimeter", "ha": "hectare", "psi": "pound per square inch", "rpm": "revolution per minute",
    "fps": "frame per second", "px": "pixel", "pt": "point", "kn": "knot", "au": "astronomical unit",
}
_SPACED_ONLY_GLUED = frozenset({"in", "t", "pt", "au", "ha", "cal", "kn"})  # "5 in the box" is no inch
_UNIT = re.compile(r"(?<![\w.])(" + _AMOUNT + r"(?:\.\d{1,10})?)([ \t]?)(" +
                   "|".join(sorted((re.escape(u) for u in _UNITS), key=len, reverse=True)) +
                   r")(?![\w/²³])(\.(?=[ \t]{1,3}[a-z]))?", re.IGNORECASE)


def _unit(match: re.Match[str]) -> str:
    amount, space, unit = match.group(1), match.group(2), match.group(3)
    key = unit.lower()
    if unit == "M" or unit in ("T", "S", "H", "G", "L") and not space or key in _SPACED_ONLY_GLUED and space:
        return match.group(0)  # "5M" is a magnitude, "5 in the box" no inch
    words = _UNITS[key].split(" ")
    # the counted word: "miles per hour", "degrees Celsius", but "square feet", "kilowatt hours"
    counted = 0 if len(words) == 1 or words[1] in ("per", "Celsius", "Fahrenheit") else len(words) - 1
    words[counted] = _plural(words[counted], amount)
    return f"{number_words(amount)} {' '.join(words)}"


_VERSION_V = re.compile(r"(?<![\w.])[vV][ \t]?(\d{1,4}(?:\.\d{1,4}){1,4})(?![\w]|\.\d)")
_DOTTED = re.compile(r"(?<![\w.])(\d{1,4})\.(\d{1,4})\.(\d{1,4})(?:\.(\d{1,4}))?(?![\w]|\.\d)")
_VERSION_CONTEXT = re.compile(
    r"(?<![\w.])((?:version|ver\.|release|python|java|ios|ipados|android|windows|macos|os x|ubuntu|debian|fedora|"
    r"node|node\.js|php|perl|ruby|rust|kotlin|swift|scala|firefox|chrome|safari|linux|kernel|http|tls|ssl|"
    r"bluetooth|usb|wi-fi|wifi|gtk|qt|unity|excel|office|django|rails|react|angular|vue|typescript|"
    r"postgresql|postgres|mysql|redis|llama|gpt|claude|gemini)[ \t])(\d{1,4})\.(\d{1,4})(?![\w]|\.\d)",
    re.IGNORECASE)


def _version_part(part: str) -> str:
    return "oh" if part == "0" else ("oh " + cardinal(int(part)) if part.startswith("0") else cardinal(int(part)))


def _version_words(version: str) -> str:
    return " point ".join(_version_part(part) for part in version.split("."))


def _dotted(match: re.Match[str]) -> str:
    parts = [p for p in match.groups() if p is not None]
    if len(parts) == 4 and all(int(p) <= 255 for p in parts):  # an IPv4 address
        return " dot ".join(digits(p) for p in parts)
    if len(parts) == 3 and len(parts[2]) == 4 and 1 <= int(parts[1]) <= 12 and 1 <= int(parts[0]) <= 31:
        return _date(parts[2], parts[1], parts[0], match.group(0), british=True)  # 24.12.2024
    return _version_words(".".join(parts))


_ORDINAL = re.compile(r"(?<![\d.])(" + _AMOUNT + r")(st|nd|rd|th)\b", re.IGNORECASE)

# Roman numerals after names: "Henry VIII" -> "Henry the Eighth", "World War II" -> "World War Two"
_REGNAL_NAMES = frozenset(
    "Henry Edward George William Richard Charles James John Elizabeth Mary Anne Victoria Louis Philip Philippe "
    "Francis Frederick Ferdinand Alexander Nicholas Peter Ivan Catherine Paul Pius Benedict Gregory Leo Innocent "
    "Clement Urban Boniface Sixtus Julius Adrian Hadrian Celestine Stephen Alfonso Juan Carlos Felipe Pedro "
    "Manuel Joseph Leopold Otto Wilhelm Ludwig Rudolf Friedrich Gustav Gustavus Christian Frederik Haakon Harald "
    "Olaf Magnus Eric Erik Carl Napoleon Ramesses Rameses Ramses Thutmose Amenhotep Ptolemy Cleopatra Darius "
    "Xerxes Cyrus Antiochus Seleucus Mehmed Murad Selim Suleiman Mahmud Constantine Justinian Theodosius Basil "
    "Michael Andronikos Alexios Rama Kamehameha Robert David Malcolm Kenneth Duncan Edmund Harold Canute Cnut "
    "Matilda Isabella Isabel Sancho Afonso Jaime Umberto Emmanuel Albert Baudouin Willem Margrethe Sigismund "
    "Casimir Boleslaw Ladislaus Vladimir Yaroslav Dmitry Boris Fyodor Mikhail Alexei Martin Sergius Marcellus "
    "Felix Eugene Nicholas Anastasius Honorius Lucius Sylvester Silvester Hormisdas Agapetus Pelagius Zachary "
    "Rainier Albert Hussein Abdullah Faisal Fahd Salman Mohammed Hassan Farouk Fuad".split())
_TITLE_WORDS = frozenset("King Queen Pope Emperor Empress Tsar Czar Tsarina Czarina Kaiser Prince Princess Duke "
                         "Duchess Sultan Pharaoh Shah Archduke Count Countess Grand Saint King's Queen's".split())
_SEQUEL_WORDS = frozenset("war chapter part act book volume vol phase type class stage level grade article title "
                          "section appendix round episode season series apollo gemini bowl mark mk league "
                          "division tier step unit lesson psalm canto scene world".split())
_ROMAN_NUMERAL = re.compile(r"(?<![\w.'-])([IVXL]{1,7})(?=(?:'s)?(?![\w-]|\.\w))")
_NAME_BEFORE = re.compile(r"(?:([A-Z][a-z]{1,15}'?s?)[ \t])?([A-Z][a-z]{1,15})[ \t](?:(the)[ \t])?$")
_PRONOUN_AFTER = re.compile(r"(?:'s)?[ \t]{1,3}[a-z]")


def _roman(match: re.Match[str]) -> str:
    text, numeral = match.string, match.group(1)
    value = roman(numeral)
    context = _NAME_BEFORE.search(text, max(0, match.start() - 40), match.start())
    if value is None or context is None or numeral in ("XL", "LI", "L", "LX", "LXX"):
        return numeral
    title, name, the = context.groups()
    regnal = name in _REGNAL_NAMES or (title or "") in _TITLE_WORDS
    if name == "Malcolm" and numeral == "X":
        return numeral
    if regnal:
        if numeral == "I" and not (title in _TITLE_WORDS or the) and _PRONOUN_AFTER.match(text, match.end()):
            return numeral  # "when Henry I saw": more likely the pronoun
        return ("" if the else "the ") + ordinal(value).capitalize()
    if the:
        return numeral
    if name.lower() in _SEQUEL_WORDS or len(numeral) > 1 and numeral not in ("IV", "VI", "XX", "XXX"):
        return cardinal(value)
    return numeral


_LONG_DIGITS = re.compile(r"\d{16,}")
_NUMBER = re.compile(r"(?<![\d.,])(" + _GROUPED + r"|\d{1,400})(\.\d{1,400})?(?![\d])(?=([^\W\d_])?)")
_SYMBOLS = {"&": " and ", "@": " at ", "+": " plus ", "=": " equals ", "°": " degrees ", "~": " about ",
            "½": " one half ", "¼": " one quarter ", "¾": " three quarters ", "×": " times ", "%": " percent ",
            "→": " to ", "≈": " about ", "√": " the square root of ", "≤": " at most ", "≥": " at least ",
            "#": " number "}
_SYMBOL = re.compile("[" + re.escape("".join(_SYMBOLS)) + "]")
_ARROW = re.compile(r"(?<![<=!-])[-=]>(?![>=-])")  # "A -> B", "x => y", as "→" (not "-->")
_COMPARISON = re.compile(r"(?<![<>=!])(>=|<=|!=)(?![<>=])")
_COMPARISONS = {">=": " at least ", "<=": " at most ", "!=": " not equal to "}


def _number(match: re.Match[str]) -> str:
    spoken = number_words(match.group(1) + (match.group(2) or ""))
    glued = " " if match.group(3) else ""  # "5G" -> "five G"
    after_letter = " " if match.start() and match.string[match.start() - 1].isalpha() else ""  # "MP3"
    return after_letter + spoken + glued


def _english(rw: Rewriter, options: NormalizationOptions, british: bool) -> None:
    rw.sub(_QUOTES, "'")
    rw.sub(_DOUBLE_PRIMES, '"')
    if options.email_normalization:
        rw.sub(_EMAIL, _email)
    if options.url_normalization:
        rw.sub(_URL, _url)
    rw.sub(_ASIDE, _aside)
    rw.sub(_ABBREVIATION, _abbreviation)
    rw.sub(_INITIALISM, _initialism)
    rw.sub(_INITIAL, _initial)
    rw.sub(_NUMBER_SIGN, "number ")
    rw.sub(_PHONE, _phone)
    rw.sub(_PHONE_INTERNATIONAL, _phone_international)
    rw.sub(_PHONE_LOCAL, _phone_local)
    rw.sub(_SHORT_NUMBER, lambda m: [(m.start(1), m.end(1), digits(m.group(1)))])
    rw.sub(_ISO_DATE, lambda m: _date(m.group(1), m.group(2), m.group(3), m.group(0), british))
    rw.sub(_US_DATE, lambda m: _date(m.group(3), m.group(1), m.group(2), m.group(0), british))
    rw.sub(_MONTH_DAY, lambda m: _month_day(m.group(1), m.group(2), m.group(3), m.group(4), british, m))
    rw.sub(_DAY_MONTH, lambda m: _month_day(m.group(2), m.group(1), m.group(3), m.group(4), True, m))
    rw.sub(_WORD_DASH_NUMBER, " ")
    rw.sub(_TIME, _time)
    rw.sub(_HOUR, _hour)
    rw.sub(_ROUND_THE_CLOCK, "twenty-four seven")
    rw.sub(_YEAR_RANGE, lambda m: _year_range(m, british))
    rw.sub(_DOTTED, _dotted)
    rw.sub(_RANGE, lambda m: [(m.end(1), m.end(), " and " if _word_before(m.string, m.start()).lower() == "between"
                                                 else " to ")])
    rw.sub(_DECADE, lambda m: decade(int(m.group(1) or m.group(2) or m.group(3)), british))
    rw.sub(_SIGN, "minus ")
    rw.sub(_MONEY, lambda m: _say_money(m.group(1), m.group(2), m.group(3)))
    rw.sub(_MONEY_CODE, lambda m: _say_money(_CODES[m.group(2)], m.group(1), None))
    rw.sub(_PERCENT, lambda m: f"{number_words(m.group(1))} percent")
    rw.sub(_PERIOD_YEAR, lambda m: f"{m.group(1)} {year(int(m.group(2)), british)}")
    rw.sub(_FOUR_DIGITS, _Years(british))
    rw.sub(_FRACTION, _fraction)
    rw.sub(_VULGAR_FRACTION, lambda m: " " + _mixed(m.group(1), *_VULGAR[m.group(2)]) + " ")
    rw.sub(_OR_PAIRS, lambda m: f"{m.group(1)} or {m.group(2)}" if m.group(1).lower() != "and"
           else f"{m.group(1)} {m.group(2)}")
    rw.sub(_WITH, lambda m: "without" if m.group(1) else "with")
    rw.sub(_SIZE, _size)
    rw.sub(_TIMES, lambda m: f"{number_words(m.group(1))} times")
    rw.sub(_HEIGHT, lambda m: f"{cardinal(int(m.group(1)))} foot {cardinal(int(m.group(2)))}")
    rw.sub(_FEET, lambda m: f"{cardinal(int(m.group(1)))} {_plural('foot', m.group(1))}")
    if options.unit_normalization:
        rw.sub(_UNIT, _unit)
        rw.sub(_PER, lambda m: " per " + _PER_WORDS.get(m.group(1).lower(), m.group(1)))
    rw.sub(_WORD_SLASH, " ")
    rw.sub(_VERSION_V, lambda m: ("" if _word_before(m.string, m.start()).lower() in ("version", "ver")
                                  else "version ") + _version_words(m.group(1)))
    rw.sub(_VERSION_CONTEXT, lambda m: [(m.start(2), m.end(3), _version_words(f"{m.group(2)}.{m.group(3)}"))])
    rw.sub(_ORDINAL, lambda m: ordinal(int(m.group(1).replace(",", ""))))
    rw.sub(_ROMAN_NUMERAL, _roman)
    rw.sub(_LONG_DIGITS, lambda m: " " + digits(m.group(0)) + " ")
    rw.sub(_NUMBER, _number)
    if options.replace_remaining_symbols:
        rw.sub(_ARROW, " to ")
        rw.sub(_COMPARISON, lambda m: _COMPARISONS[m.group(1)])
        rw.sub(_SYMBOL, lambda m: _SYMBOLS[m.group(0)])


def _month_day(month: str, day_text: str, separator: str | None, year_text: str | None, british: bool,
               match: re.Match[str]) -> str:
    day = int(day_text)
    if not 1 <= day <= 31:
        return match.group(0)
    the = "" if match.string[max(0, match.start() - 4):match.start()].lower() == "the " else "the "
    spoken = f"{the}{ordinal(day)} of {month}" if british else f"{month} {ordinal(day)}"
    if year_text:
        spoken += f", {year(int(year_text), british)}"
    return spoken


def normalize(text: str, options: NormalizationOptions = DEFAULT_OPTIONS, lang: str = "a") -> Normalized:
    """Rewrite ``text`` (in Kokoro language ``lang``) so that every token is words a person would say
    and punctuation, keeping the way back from each output range to the input range it came from
    (``Normalized.source_span``). Call :func:`~kokoro_server.text.clean.clean_input` first."""
    rw = Rewriter(text)
    rw.sub(_CONTROL, " ")
    if options.normalize:
        if options.strip_markdown:
            strip_markdown(rw)
        if options.strip_emoji:
            strip_emoji(rw)
        if lang in ENGLISH:
            _english(rw, options, british=lang == "b")
        else:
            languages.normalize(rw, lang, units=options.unit_normalization)
    _finish(rw)
    return rw.result()


def _finish(rw: Rewriter) -> None:
    """One space for each run of blanks; none at either end."""
    rw.sub(_SPACES, " ")
    lead = len(rw.text) - len(rw.text.lstrip())
    trail = len(rw.text.rstrip())
    rw.apply([(0, lead, "")] + ([(trail, len(rw.text), "")] if trail > lead else []))


def normalize_text(text: str, options: NormalizationOptions = DEFAULT_OPTIONS, lang: str = "a") -> str:
    """The normalized text alone (see :func:`normalize`)."""
    return normalize(text, options, lang).text
