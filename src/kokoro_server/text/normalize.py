"""Text normalization, the language-blind part: written forms become the words a person would say.

:func:`normalize` runs what every language shares (control characters out, Markdown and emoji
stripped, blanks collapsed) around a language's own rules, which its language pack holds
(``kokoro_server.languages``: English reads numbers, dates, money, units, abbreviations, ... in full;
the other languages get what their front ends miss). Every rule goes through the span-keeping
:class:`~kokoro_server.text.spans.Rewriter`, so the result keeps the way back to the input ranges.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from kokoro_server.text.chat import strip_emoji, strip_markdown
from kokoro_server.text.spans import Normalized, Rewriter

__all__ = ["DEFAULT_OPTIONS", "NormalizationOptions", "Normalized", "normalize"]


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

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SPACES = re.compile(r"[ \t\f\v\u00a0\u2000-\u200b\u202f\u3000]{1,100000}")


def normalize(text: str, options: NormalizationOptions = DEFAULT_OPTIONS, *,
              rules: Callable[[Rewriter, NormalizationOptions], None] | None = None) -> Normalized:
    """Rewrite ``text`` with a language's ``rules`` so that every token is words a person would say
    and punctuation, keeping the way back from each output range to the input range it came from
    (``Normalized.source_span``). Call :func:`~kokoro_server.text.clean.clean_input` first. A language's
    normalization is :func:`kokoro_server.languages.normalize` (text, options, language code)."""
    rw = Rewriter(text)
    rw.sub(_CONTROL, " ")
    if options.normalize:
        if options.strip_markdown:
            strip_markdown(rw)
        if options.strip_emoji:
            strip_emoji(rw)
        if rules is not None:
            rules(rw, options)
    _finish(rw)
    return rw.result()


def _finish(rw: Rewriter) -> None:
    """One space for each run of blanks; none at either end."""
    rw.sub(_SPACES, " ")
    lead = len(rw.text) - len(rw.text.lstrip())
    trail = len(rw.text.rstrip())
    rw.apply([(0, lead, "")] + ([(trail, len(rw.text), "")] if trail > lead else []))
