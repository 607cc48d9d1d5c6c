"""Normalization for a language whose front end reads most written forms itself: only what it gets wrong.

espeak-ng (Spanish, French, Hindi, Italian, Portuguese) reads digits, ordinals and percentages in
its language, pyopenjtalk (Japanese) and cn2an (Mandarin) read digits too. What they miss, and what
is fixed here from the pack's table ``written.json`` (see :class:`WrittenForms`), on the
span-keeping rewriter:

- thousands separators (``1.000`` in Spanish is read "uno punto cero cero cero"; ``1,000`` in
  Japanese "ichi, zero") are dropped, so the number is read whole;
- decimal separators become the language's word ("tres coma cinco", "三点五");
- a minus sign that espeak drops (Spanish, French, Hindi) or Japanese drops becomes its word;
- money (``$5`` is read "dólar cinco", Japanese drops ``$``): the amount, then the currency's name;
- units (``5 km`` is spelled "ka eme" in Spanish): their names; ``%`` in Japanese;
- common fractions (``1/2`` is "uno barra dos"); digit ranges (``10-12``) in Japanese and Mandarin.
The digits themselves stay digits for the front end to read. For Spanish::

    "Cuesta $5 o 3,50 €"  -> "Cuesta 5 dólares o 3 euros con 50 centavos"
    "Hace -5 °C, 1/2 kilo" -> "Hace menos 5 grados, un medio kilo"
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from kokoro_server.languages.data import table
from kokoro_server.text.normalize import NormalizationOptions
from kokoro_server.text.spans import Rewriter


@dataclass(frozen=True)
class WrittenForms:
    """A language's written forms (the fields of ``written.json``)."""

    decimal: str  # the decimal separator written in this language
    point: str  # its spoken word
    minus: str | None  # None: the front end reads a minus sign already
    currencies: dict[str, tuple[str, str]]  # symbol -> (singular, plural)
    cents: tuple[str, str, str]  # joiner, singular, plural
    units: dict[str, str]
    fractions: dict[str, str]
    percent: str | None = None
    to: str | None = None  # ranges "10-12"
    glue: str = " "  # between a number and the word after it
    group: tuple[str, ...] = (".",)  # thousands separators
    group_digits: str = "3"  # digits between them (Hindi: 1,00,000)

    @classmethod
    def of(cls, package: str) -> WrittenForms:
        data = dict(table(package, "written.json"))
        data["currencies"] = {symbol: tuple(names) for symbol, names in data["currencies"].items()}
        data["cents"] = tuple(data["cents"])
        data["group"] = tuple(data["group"])
        return cls(**data)

    def rules(self) -> Callable[[Rewriter, NormalizationOptions], None]:
        """The pack's normalization: these forms, rewritten."""
        return lambda rw, options: rewrite(rw, self, units=options.unit_normalization)


def _split(number: str, language: WrittenForms) -> tuple[str, str]:
    """``1.234,5`` (Spanish) -> ("1234", "5"): group separators out, the decimal part apart."""
    marks = [i for i, ch in enumerate(number) if not ch.isdigit()]
    if not marks:
        return number, ""
    last = marks[-1]
    mark, tail, single = number[last], len(number) - last - 1, number.count(number[last]) == 1
    decimal = single and (mark == language.decimal or mark == "." and tail != 3 and mark in language.group)
    if not decimal:
        return "".join(ch for ch in number if ch.isdigit()), ""
    return "".join(ch for ch in number[:last] if ch.isdigit()), number[last + 1:]


def _said(number: str, language: WrittenForms) -> str:
    whole, fraction = _split(number, language)
    if not fraction:
        return whole
    return f"{whole}{language.glue}{language.point}{language.glue}{fraction}"


def _number_pattern(language: WrittenForms) -> str:
    marks = re.escape("".join(sorted(set(language.group) | {language.decimal})))
    return r"\d{1,15}(?:[" + marks + r"]\d{" + language.group_digits + r"}){0,6}(?:[.,]\d{1,9})?"


def rewrite(rw: Rewriter, language: WrittenForms, units: bool = True) -> None:
    symbols = "|".join(re.escape(s) for s in sorted(language.currencies, key=len, reverse=True))
    joiner, cent, cents = language.cents

    def money(amount: str, symbol: str) -> str:
        singular, plural = language.currencies[symbol]
        whole, fraction = _split(amount, language)
        if fraction and len(fraction) != 2:
            return f"{_said(amount, language)}{language.glue}{plural}"
        spoken = f"{whole}{language.glue}{singular if whole == '1' else plural}"
        if fraction and int(fraction):
            sub = cent if fraction == "01" else cents
            spoken += f"{' ' + joiner if joiner else ''} {int(fraction)}{language.glue}{sub}"
        return spoken

    number = _number_pattern(language)
    before = re.compile(r"(" + symbols + r")[ \t]?(" + number + r")(?![\d])")
    after = re.compile(r"(?<![\dA-Za-z.,])(" + number + r")[ \t\u00a0]?(" + symbols + r")(?![A-Za-z$])")
    rw.sub(before, lambda m: money(m.group(2), m.group(1)))
    rw.sub(after, lambda m: money(m.group(1), m.group(2)))
    if language.fractions:
        fractions = re.compile(r"(?<![\dA-Za-z/.,])(" + "|".join(re.escape(f) for f in language.fractions)
                               + r")(?![\dA-Za-z/])")
        rw.sub(fractions, lambda m: language.fractions[m.group(1)])
    if language.to:
        rw.sub(re.compile(r"(?<=\d)[ \t]?[-\u2013~〜～][ \t]?(?=\d)"), language.to)
    if language.minus:
        rw.sub(re.compile(r"(?<![\dA-Za-z.,)\]-])[-\u2212](?=\d)"), language.minus + language.glue)
    else:
        rw.sub(re.compile(r"(?<![\dA-Za-z.,)\]-])\u2212(?=\d)"), "-")
    if language.percent:
        rw.sub(re.compile(r"(?<=\d)[ \t]?[%％]"), language.percent)
    if units:
        names = "|".join(re.escape(u) for u in sorted(language.units, key=len, reverse=True))
        unit = re.compile(r"(?<=\d)([ \t]?)(" + names + r")(?![A-Za-z/²³])", re.IGNORECASE)

        def unit_name(match: re.Match[str]) -> str:
            if match.group(2) == "M":  # a magnitude
                return match.group(0)
            return language.glue + language.units[match.group(2).lower()]

        rw.sub(unit, unit_name)
    rw.sub(re.compile(r"(?<![\dA-Za-z.,])" + number + r"(?![\d])"), lambda m: _numbers(m, language))


def _numbers(match: re.Match[str], language: WrittenForms) -> str:
    text = match.group(0)
    return text if text.isdigit() else _said(text, language)
