"""English normalization: written forms become the words a person would say, one semiotic class a
module (as NeMo text processing splits them), each with examples in its docstring, tables as data.

The classes run in this order, which matters: telephone numbers before ranges ("555-1234"), dates
before fractions ("12/25/1999"), money before plain numbers, and plain numbers last. Every rule is a
pattern with bounded repetition applied once through the span-keeping
:class:`~kokoro_server.text.spans.Rewriter`, and reads its context within a few characters of a
match, so a pass is linear in the input even on adversarial text.
"""

from __future__ import annotations

from kokoro_server.languages.en.normalize import (
    abbreviations, cardinals, dates, fractions, measures, money, punctuation, ranges, references, roman, serials,
    slashes, symbols, telephone, times, versions, web, years,
)
from kokoro_server.text.normalize import NormalizationOptions
from kokoro_server.text.spans import Rewriter


def english(rw: Rewriter, options: NormalizationOptions, british: bool) -> None:
    punctuation.quotes(rw)
    if options.email_normalization:
        web.emails(rw)
    if options.url_normalization:
        web.urls(rw)
    abbreviations.rewrite(rw)  # before asides: "(approx.)." keeps its bracket to show the period is no end
    references.rewrite(rw)  # "Article 5(1)(a)": before asides and telephone numbers
    punctuation.asides(rw, british)
    symbols.number_signs(rw)
    telephone.rewrite(rw)
    dates.rewrite(rw, british)
    serials.rewrite(rw)
    ranges.word_dash_number(rw)
    times.rewrite(rw)
    fractions.round_the_clock(rw)
    years.year_ranges(rw, british)
    versions.dotted(rw)
    ranges.rewrite(rw)
    years.decades(rw, british)
    cardinals.signs(rw)
    money.rewrite(rw)
    cardinals.percents(rw)
    years.years(rw, british)
    fractions.rewrite(rw)
    slashes.pairs(rw)
    measures.sizes(rw)
    if options.unit_normalization:
        measures.units(rw)
    slashes.words(rw)
    versions.rewrite(rw)
    cardinals.ordinals(rw)
    roman.rewrite(rw)
    cardinals.rewrite(rw)
    if options.replace_remaining_symbols:
        symbols.rewrite(rw)


def american(rw: Rewriter, options: NormalizationOptions) -> None:
    english(rw, options, british=False)


def british(rw: Rewriter, options: NormalizationOptions) -> None:
    english(rw, options, british=True)
