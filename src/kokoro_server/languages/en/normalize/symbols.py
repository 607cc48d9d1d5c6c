"""Symbols read as words: the number sign, arrows, comparisons and the remaining symbols.

    "Call No. 5", "#4"   -> "number four"
    "Tom & Jerry"        -> "Tom and Jerry"
    "A -> B => C"        -> "A to B to C"
    "x >= y, c != d"     -> "x at least y, c not equal to d"
    "√2 ≈ 1.414"         -> "the square root of two about one point four one four"
"""

from __future__ import annotations

import re

from kokoro_server.text.spans import Rewriter


_NUMBER_SIGN = re.compile(r"(?<![\w&])#[ \t]?(?=\d)")
_SYMBOLS = {"&": " and ", "@": " at ", "+": " plus ", "=": " equals ", "°": " degrees ", "~": " about ",
            "½": " one half ", "¼": " one quarter ", "¾": " three quarters ", "×": " times ", "%": " percent ",
            "→": " to ", "≈": " about ", "√": " the square root of ", "≤": " at most ", "≥": " at least ",
            "#": " number ", "§": " section "}
_SYMBOL = re.compile("[" + re.escape("".join(_SYMBOLS)) + "]")
_ARROW = re.compile(r"(?<![<=!-])[-=]>(?![>=-])")  # "A -> B", "x => y", as "→" (not "-->")
_COMPARISON = re.compile(r"(?<![<>=!])(>=|<=|!=)(?![<>=])")
_COMPARISONS = {">=": " at least ", "<=": " at most ", "!=": " not equal to "}


def number_signs(rw: Rewriter) -> None:
    rw.sub(_NUMBER_SIGN, "number ")


def rewrite(rw: Rewriter) -> None:
    rw.sub(_ARROW, " to ")
    rw.sub(_COMPARISON, lambda m: _COMPARISONS[m.group(1)])
    rw.sub(_SYMBOL, lambda m: _SYMBOLS[m.group(0)])
