"""Text written for screens, made speakable: Markdown syntax and emoji removed, their words kept.

Chat models answer in Markdown; read aloud, ``**bold**`` or ``| a | b |`` would be spelled out.
Each rule is a line-anchored or bounded pattern applied through the span-keeping
:class:`~kokoro_server.text.spans.Rewriter`, so offsets into the input survive.
"""

from __future__ import annotations

import re

from kokoro_server.text.spans import Rewriter

_FENCE = re.compile(r"^[ \t]{0,3}(?:`{3,20}|~{3,20})[^\n`]{0,100}$", re.MULTILINE)
_HEADING = re.compile(r"^[ \t]{0,3}#{1,6}[ \t]{1,20}|[ \t]{1,20}#{1,20}[ \t]{0,20}$", re.MULTILINE)
_RULE = re.compile(r"^[ \t]{0,3}(?:[-*_][ \t]{0,3}){3,100}$", re.MULTILINE)
_QUOTE = re.compile(r"^[ \t]{0,3}(?:>[ \t]?){1,10}", re.MULTILINE)
_BULLET = re.compile(r"^[ \t]{0,12}(?:[-*+\u2022]|\d{1,3}[.)])[ \t]{1,20}(?:\[[ xX]\][ \t]{1,20})?", re.MULTILINE)
_TABLE_RULE = re.compile(r"^[ \t]{0,3}\|?(?:[ \t]{0,20}:?-{1,100}:?[ \t]{0,20}\|){1,50}[ \t]{0,20}:?-{0,100}:?[ \t]{0,20}$",
                         re.MULTILINE)
_TABLE_EDGE = re.compile(r"^[ \t]{0,3}\|[ \t]{0,20}|[ \t]{0,20}\|[ \t]{0,20}$", re.MULTILINE)
_TABLE_CELL = re.compile(r"[ \t]{0,20}(?<!\\)\|[ \t]{0,20}")
# [text](target) and ![alt](target); misaki's pronunciations [word](/phonemes/) and [word](+1) are markup,
# not links, and stay for the markup parser
_LINK = re.compile(r"!?\[([^\[\]\n]{1,500})\]\((?![/][^)\n]{0,500}/\)|[+-]\d(?:\.\d)?\))([^()\s]{0,2000})"
                   r"(?:[ \t]{1,5}\"[^\"\n]{0,200}\")?\)")
_AUTOLINK = re.compile(r"<((?:https?://|mailto:|www\.)[^<>\s]{1,2000})>", re.IGNORECASE)
_CODE = re.compile(r"`{1,3}")
_EMPHASIS = re.compile(r"(?<![\w*~])(?:\*{1,3}|~~)(?=[^\s*~])|(?<=[^\s*~])(?:\*{1,3}|~~)(?![\w*~])"
                       r"|(?<![\w])_{1,3}(?=[^\s_])|(?<=[^\s_])_{1,3}(?![\w])")

_EMOJI = re.compile(
    "[\U0001F000-\U0001FAFF\U00002600-\U000027BF\U00002B00-\U00002BFF\U0001F1E6-\U0001F1FF"
    "\U0000FE0E\U0000FE0F\U0000200D\U000020E3\U000E0020-\U000E007F\U00002300-\U000023FF"
    "\U00003030\U0000303D\U00003297\U00003299]{1,1000}")


def strip_markdown(rw: Rewriter) -> None:
    """Markdown syntax out, its words in: headings, emphasis, links (their text), images (their alt
    text), code fences and inline code (the code stays), bullets, block quotes, table pipes."""
    rw.sub(_FENCE, "")
    rw.sub(_TABLE_RULE, "")
    rw.sub(_RULE, "")
    rw.sub(_HEADING, "")
    rw.sub(_QUOTE, "")
    rw.sub(_BULLET, "")
    rw.sub(_TABLE_EDGE, "")
    rw.sub(_TABLE_CELL, ", ")
    rw.sub(_LINK, lambda m: [(m.start(), m.start(1), ""), (m.end(1), m.end(), "")])
    rw.sub(_AUTOLINK, lambda m: [(m.start(), m.start(1), ""), (m.end(1), m.end(), "")])
    rw.sub(_CODE, "")
    rw.sub(_EMPHASIS, "")


def strip_emoji(rw: Rewriter) -> None:
    """Emoji (pictographs, flags, keycaps, their joiners and variation selectors) become a space."""
    rw.sub(_EMOJI, " ")
