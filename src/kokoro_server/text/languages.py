"""Normalization for the languages other than English: only what their front ends get wrong.

espeak-ng (Spanish, French, Hindi, Italian, Portuguese) reads digits, ordinals and percentages in
its language, pyopenjtalk (Japanese) and cn2an (Mandarin) read digits too. What they miss, and what
is fixed here, on the span-keeping rewriter:

- thousands separators (``1.000`` in Spanish is read "uno punto cero cero cero"; ``1,000`` in
  Japanese "ichi, zero") are dropped, so the number is read whole;
- decimal separators become the language's word ("tres coma cinco", "三点五");
- a minus sign that espeak drops (Spanish, French, Hindi) or Japanese drops becomes its word;
- money (``$5`` is read "dólar cinco", Japanese drops ``$``): the amount, then the currency's name;
- units (``5 km`` is spelled "ka eme" in Spanish): their names; ``%`` in Japanese;
- common fractions (``1/2`` is "uno barra dos"); digit ranges (``10-12``) in Japanese and Mandarin.
The digits themselves stay digits for the front end to read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kokoro_server.text.spans import Rewriter


@dataclass(frozen=True)
class _Language:
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


_ROMANCE_FRACTIONS = {
    "e": {"1/2": "un medio", "1/3": "un tercio", "2/3": "dos tercios", "1/4": "un cuarto", "3/4": "tres cuartos"},
    "f": {"1/2": "un demi", "1/3": "un tiers", "2/3": "deux tiers", "1/4": "un quart", "3/4": "trois quarts"},
    "i": {"1/2": "un mezzo", "1/3": "un terzo", "2/3": "due terzi", "1/4": "un quarto", "3/4": "tre quarti"},
    "p": {"1/2": "um meio", "1/3": "um terço", "2/3": "dois terços", "1/4": "um quarto", "3/4": "três quartos"},
}


def _metric(km: str, m: str, cm: str, mm: str, kg: str, g: str, mg: str, litre: str, ml: str, hour: str,
            minute: str, second: str, ms: str, celsius: str, kmh: str, gb: str, mb: str) -> dict[str, str]:
    return {"km": km, "m": m, "cm": cm, "mm": mm, "kg": kg, "g": g, "mg": mg, "l": litre, "ml": ml, "h": hour,
            "min": minute, "s": second, "ms": ms, "°c": celsius, "ºc": celsius, "km/h": kmh, "gb": gb, "mb": mb}


LANGUAGES: dict[str, _Language] = {
    "e": _Language(",", "coma", "menos",
                   {"$": ("dólar", "dólares"), "€": ("euro", "euros"), "£": ("libra", "libras"),
                    "¥": ("yen", "yenes"), "₹": ("rupia", "rupias")},
                   ("con", "centavo", "centavos"),
                   _metric("kilómetros", "metros", "centímetros", "milímetros", "kilos", "gramos", "miligramos",
                           "litros", "mililitros", "horas", "minutos", "segundos", "milisegundos",
                           "grados", "kilómetros por hora", "gigas", "megas"),
                   _ROMANCE_FRACTIONS["e"]),
    "f": _Language(",", "virgule", "moins",
                   {"$": ("dollar", "dollars"), "€": ("euro", "euros"), "£": ("livre", "livres"),
                    "¥": ("yen", "yens"), "₹": ("roupie", "roupies")},
                   ("et", "centime", "centimes"),
                   _metric("kilomètres", "mètres", "centimètres", "millimètres", "kilos", "grammes", "milligrammes",
                           "litres", "millilitres", "heures", "minutes", "secondes", "millisecondes",
                           "degrés", "kilomètres heure", "gigaoctets", "mégaoctets"),
                   _ROMANCE_FRACTIONS["f"], group=(".", " ", "\u00a0", "\u202f")),
    "i": _Language(",", "virgola", None,
                   {"$": ("dollaro", "dollari"), "€": ("euro", "euro"), "£": ("sterlina", "sterline"),
                    "¥": ("yen", "yen"), "₹": ("rupia", "rupie")},
                   ("e", "centesimo", "centesimi"),
                   _metric("chilometri", "metri", "centimetri", "millimetri", "chili", "grammi", "milligrammi",
                           "litri", "millilitri", "ore", "minuti", "secondi", "millisecondi",
                           "gradi", "chilometri orari", "giga", "mega"),
                   _ROMANCE_FRACTIONS["i"]),
    "p": _Language(",", "vírgula", None,
                   {"$": ("dólar", "dólares"), "R$": ("real", "reais"), "€": ("euro", "euros"),
                    "£": ("libra", "libras"), "¥": ("iene", "ienes"), "₹": ("rupia", "rupias")},
                   ("e", "centavo", "centavos"),
                   _metric("quilômetros", "metros", "centímetros", "milímetros", "quilos", "gramas", "miligramas",
                           "litros", "mililitros", "horas", "minutos", "segundos", "milissegundos",
                           "graus", "quilômetros por hora", "gigas", "megas"),
                   _ROMANCE_FRACTIONS["p"]),
    "h": _Language(".", "दशमलव", "ऋण",
                   {"$": ("डॉलर", "डॉलर"), "€": ("यूरो", "यूरो"), "£": ("पाउंड", "पाउंड"), "¥": ("येन", "येन"),
                    "₹": ("रुपया", "रुपये")},
                   ("और", "पैसा", "पैसे"),
                   _metric("किलोमीटर", "मीटर", "सेंटीमीटर", "मिलीमीटर", "किलो", "ग्राम", "मिलीग्राम", "लीटर",
                           "मिलीलीटर", "घंटे", "मिनट", "सेकंड", "मिलीसेकंड", "डिग्री", "किलोमीटर प्रति घंटा",
                           "जीबी", "एमबी"),
                   {"1/2": "आधा", "1/4": "एक चौथाई", "3/4": "तीन चौथाई", "1/3": "एक तिहाई", "2/3": "दो तिहाई"},
                   group=(",",), group_digits="2,3"),
    "j": _Language(".", "点", "マイナス",
                   {"$": ("ドル", "ドル"), "€": ("ユーロ", "ユーロ"), "£": ("ポンド", "ポンド"), "¥": ("円", "円"),
                    "₹": ("ルピー", "ルピー")},
                   ("", "セント", "セント"),
                   _metric("キロメートル", "メートル", "センチメートル", "ミリメートル", "キログラム", "グラム",
                           "ミリグラム", "リットル", "ミリリットル", "時間", "分", "秒", "ミリ秒", "度",
                           "キロメートル毎時", "ギガバイト", "メガバイト"),
                   {"1/2": "2分の1", "1/3": "3分の1", "2/3": "3分の2", "1/4": "4分の1", "3/4": "4分の3"},
                   percent="パーセント", to="から", glue="", group=(",",)),
    "z": _Language(".", "点", None,
                   {"$": ("美元", "美元"), "€": ("欧元", "欧元"), "£": ("英镑", "英镑"), "¥": ("元", "元"),
                    "₹": ("卢比", "卢比")},
                   ("", "分", "分"),
                   _metric("公里", "米", "厘米", "毫米", "公斤", "克", "毫克", "升", "毫升", "小时", "分钟", "秒", "毫秒",
                           "摄氏度", "公里每小时", "GB", "MB"),
                   {}, to="到", glue="", group=(",",)),
}

def _split(number: str, language: _Language) -> tuple[str, str]:
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


def _said(number: str, language: _Language) -> str:
    whole, fraction = _split(number, language)
    if not fraction:
        return whole
    return f"{whole}{language.glue}{language.point}{language.glue}{fraction}"


def _number_pattern(language: _Language) -> str:
    marks = re.escape("".join(sorted(set(language.group) | {language.decimal})))
    return r"\d{1,15}(?:[" + marks + r"]\d{" + language.group_digits + r"}){0,6}(?:[.,]\d{1,9})?"


def normalize(rw: Rewriter, lang: str, units: bool = True) -> None:
    language = LANGUAGES.get(lang)
    if language is None:
        return
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


def _numbers(match: re.Match[str], language: _Language) -> str:
    text = match.group(0)
    return text if text.isdigit() else _said(text, language)
