"""An SSML subset into the document model, parsed with a hardened XML parser (no DTD, no entities).

Supported: ``<speak>`` (the root), ``<break time="2s"|"500ms" strength="none…x-strong">``,
``<prosody rate="slow|fast|…|150%|1.5">``, ``<phoneme alphabet="ipa" ph="…">``, ``<sub alias="…">``,
``<say-as interpret-as="characters|spell-out|cardinal|ordinal|digits|date|time|telephone">`` (``format``
for dates: mdy, dmy, ymd, …), ``<voice name="am_michael">``, ``<p>`` and ``<s>``. Any other element is
ignored, its text spoken, and the document's notices say so. Malformed SSML is an error naming the
line and column.
"""

from __future__ import annotations

import re
from xml.sax import SAXParseException
from xml.sax.handler import ContentHandler
from xml.sax.xmlreader import AttributesImpl, Locator

from kokoro_server.errors import InvalidInputError, quote
from kokoro_server.text.document import (Break, Document, Pause, Phonemes, Segment, SpeedChange, Text,
                                         VoiceChange)
from kokoro_server.text.markup import MAX_PAUSE_SECONDS

BREAK_STRENGTHS = {"none": 0.0, "x-weak": 0.1, "weak": 0.25, "medium": 0.5, "strong": 0.75, "x-strong": 1.25}
PROSODY_RATES = {"x-slow": 0.5, "slow": 0.75, "medium": 1.0, "default": 1.0, "fast": 1.25, "x-fast": 1.75}
RATE_RANGE = (0.25, 4.0)
SAY_AS = ("characters", "spell-out", "cardinal", "number", "ordinal", "digits", "date", "time", "telephone")
_TIME = re.compile(r"^\s*(\d{1,6}(?:\.\d{1,6})?)\s*(ms|s)\s*$", re.IGNORECASE)
_NEWLINE = re.compile(r"\r\n|\r|\n")
_NUM2WORDS_LANG = {"e": "es", "f": "fr", "h": "hi", "i": "it", "p": "pt_BR", "j": "ja"}
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December")


def _error(message: str, line: int, column: int) -> InvalidInputError:
    return InvalidInputError(f"invalid SSML at line {line}, column {column + 1}: {message}", param="input")


# -- say-as readings -----------------------------------------------------------------------------

def _number(text: str, lang: str, to: str = "cardinal") -> str:
    from num2words import num2words

    from kokoro_server.text import normalize

    digits = re.sub(r"[,\s_]", "", text)
    if not re.fullmatch(r"-?\d{1,15}(?:\.\d{1,10})?", digits):
        return text
    if lang in ("a", "b"):
        if to == "ordinal":
            return normalize.ordinal(int(float(digits)))
        return ("minus " if digits.startswith("-") else "") + normalize.number_words(digits.lstrip("-"))
    try:
        return num2words(float(digits) if "." in digits else int(digits), lang=_NUM2WORDS_LANG.get(lang, "en"),
                         to=to)
    except (NotImplementedError, OverflowError, ValueError, KeyError):
        return text


def _digits(text: str, lang: str) -> str:
    return " ".join(_number(ch, lang) for ch in text if ch.isdigit())


def _date(text: str, fmt: str, lang: str) -> str:
    parts = re.findall(r"\d{1,4}", text)
    fmt = (fmt or ("ymd" if parts and len(parts[0]) == 4 else "mdy")).lower()
    values = dict(zip(fmt, parts))
    if lang not in ("a", "b") or not values:
        return " ".join(_number(p, lang) for p in parts) if parts else text
    from kokoro_server.text import normalize

    spoken = []
    month = int(values.get("m", "0") or 0)
    if 1 <= month <= 12:
        spoken.append(_MONTHS[month - 1])
    if "d" in values and 1 <= int(values["d"]) <= 31:
        spoken.append(normalize.ordinal(int(values["d"])))
    if "y" in values:
        year = int(values["y"])
        spoken.append(("," if len(spoken) > 1 else "") + " " + normalize.year(year) if spoken else normalize.year(year))
    return " ".join(spoken).replace(" ,", ",") or text


def _telephone(text: str, lang: str) -> str:
    groups = re.findall(r"\d+", text)
    spoken = ", ".join(_digits(g, lang) for g in groups)
    return ("plus " if text.strip().startswith("+") and lang in ("a", "b") else "") + spoken if groups else text


def say_as(text: str, interpret_as: str, fmt: str, lang: str) -> str | None:
    """What ``<say-as>`` reads ``text`` as (None: an interpretation this subset does not know)."""
    kind = interpret_as.lower()
    if kind in ("characters", "spell-out"):
        return " ".join(_number(ch, lang) if ch.isdigit() else ch.upper() for ch in text if not ch.isspace())
    if kind in ("cardinal", "number"):
        return _number(text, lang)
    if kind == "ordinal":
        return _number(re.sub(r"(?i)(st|nd|rd|th)$", "", text.strip()), lang, "ordinal")
    if kind == "digits":
        return _digits(text, lang) or text
    if kind == "date":
        return _date(text, fmt, lang)
    if kind == "time":
        if lang in ("a", "b"):
            from kokoro_server.text.normalize import normalize_text

            return normalize_text(text)
        return text
    if kind == "telephone":
        return _telephone(text, lang)
    return None


# -- the parser ----------------------------------------------------------------------------------

class _Handler(ContentHandler):
    def __init__(self, source: str, lang: str) -> None:
        super().__init__()
        self.source = source
        self.lang = lang
        self.lines = [0] + [m.end() for m in _NEWLINE.finditer(source)]
        self.segments: list[Segment] = []
        self.notices: dict[str, None] = {}
        self.stack: list[tuple[str, dict[str, str], int]] = []  # name, attributes, where it starts
        self.voices: list[str | None] = [None]
        self.rates: list[float] = [1.0]
        self.capture: list[tuple[str, int, int]] | None = None  # text inside phoneme/sub/say-as
        self.locator: Locator | None = None

    def setDocumentLocator(self, locator: Locator) -> None:
        self.locator = locator

    def _where(self) -> tuple[int, int, int]:
        assert self.locator is not None
        line, column = self.locator.getLineNumber(), self.locator.getColumnNumber()
        return line, column, min(self.lines[line - 1] + column, len(self.source))

    def _fail(self, message: str) -> InvalidInputError:
        line, column, _ = self._where()
        return _error(message, line, column)

    def _tag_end(self, position: int) -> int:
        end = self.source.find(">", position)
        return end + 1 if end >= 0 else len(self.source)

    def startElement(self, name: str, attrs: AttributesImpl) -> None:
        line, column, position = self._where()
        attributes = {k: v for k, v in attrs.items()}
        if not self.stack and name != "speak":
            raise _error(f"the root element must be <speak>, not <{name}>", line, column)
        self.stack.append((name, attributes, position))
        end = self._tag_end(position)
        if self.capture is not None:
            return  # tags inside <phoneme>, <sub>, <say-as>: only their text counts
        if name == "break":
            self.segments.append(Pause(self._break_seconds(attributes), position, end))
        elif name == "prosody":
            rate = attributes.get("rate")
            self.rates.append(self._rate(rate) if rate else self.rates[-1])
            if rate:
                self.segments.append(SpeedChange(self.rates[-1], position, end))
            ignored = sorted(set(attributes) - {"rate"})
            if ignored:
                self.notices[f"SSML <prosody> {', '.join(ignored)} not supported: ignored"] = None
        elif name == "voice":
            voice = attributes.get("name", "").strip() or None
            self.voices.append(voice)
            self.segments.append(VoiceChange(voice, position, end))
        elif name == "phoneme":
            alphabet = attributes.get("alphabet", "ipa").lower()
            if alphabet != "ipa":
                raise self._fail(f"<phoneme alphabet={quote(alphabet)}> is not supported (use alphabet=\"ipa\")")
            if "ph" not in attributes:
                raise self._fail("<phoneme> needs a ph attribute")
            self.capture = []
        elif name == "sub":
            if "alias" not in attributes:
                raise self._fail("<sub> needs an alias attribute")
            self.capture = []
        elif name == "say-as":
            if not attributes.get("interpret-as"):
                raise self._fail("<say-as> needs an interpret-as attribute")
            self.capture = []
        elif name in ("p", "s", "speak"):
            pass
        else:
            self.notices[f"SSML <{name}> not supported: its text is spoken, the tag ignored"] = None

    def endElement(self, name: str) -> None:
        _, _, position = self._where()
        _, attributes, start = self.stack.pop()
        end = self._tag_end(position)
        if self.capture is not None and name in ("phoneme", "sub", "say-as") and \
                not any(n in ("phoneme", "sub", "say-as") for n, _, _ in self.stack):
            self._captured(name, attributes, start, end)
            self.capture = None
            return
        if self.capture is not None:
            return
        if name == "prosody":
            previous = self.rates.pop()
            if self.rates[-1] != previous:
                self.segments.append(SpeedChange(self.rates[-1], position, end))
        elif name == "voice":
            self.voices.pop()
            self.segments.append(VoiceChange(self.voices[-1], position, end))
        elif name in ("p", "s"):
            self.segments.append(Break("paragraph" if name == "p" else "sentence", position, end))

    def _captured(self, name: str, attributes: dict[str, str], start: int, end: int) -> None:
        assert self.capture is not None
        written = "".join(text for text, _, _ in self.capture)
        span = (self.capture[0][1], self.capture[-1][2]) if self.capture else (start, end)
        if name == "phoneme":
            ph = attributes["ph"]
            at = self.source.find(ph, start, end)
            self.segments.append(Phonemes(ph, written.strip() or ph, *span, at=at))
        elif name == "sub":
            self.segments.append(Text(attributes["alias"], *span, substituted=True))
        else:
            reading = say_as(written, attributes["interpret-as"], attributes.get("format", ""), self.lang)
            if reading is None:
                self.notices[f"SSML say-as interpret-as={quote(attributes['interpret-as'])} not supported: "
                             "the text is read as it is"] = None
                reading = written
            self.segments.append(Text(reading, *span, substituted=True))

    def characters(self, content: str) -> None:
        _, _, position = self._where()
        entity = self.source.startswith("&", position)  # in well-formed XML a literal "&" starts an entity
        written = not entity and self.source[position:position + len(content)] == content
        end = position + len(content) if written else self._entity_end(position, len(content))
        if self.capture is not None:
            self.capture.append((content, position, end))
            return
        if not self.stack:
            return
        last = self.segments[-1] if self.segments else None
        if written and isinstance(last, Text) and not last.substituted and last.end == position:
            self.segments[-1] = Text(last.text + content, last.start, end)  # expat splits text at newlines
        else:
            self.segments.append(Text(content, position, end, substituted=not written))

    def _entity_end(self, position: int, length: int) -> int:
        end = self.source.find(";", position, position + 12)
        return end + 1 if self.source.startswith("&", position) and end >= 0 else position + length

    def _break_seconds(self, attributes: dict[str, str]) -> float:
        time = attributes.get("time")
        if time is not None:
            match = _TIME.match(time)
            if not match:
                raise self._fail(f"<break time={quote(time)}>: use seconds or milliseconds, e.g. \"2s\" or \"500ms\"")
            seconds = float(match.group(1)) / (1000 if match.group(2).lower() == "ms" else 1)
            if seconds > MAX_PAUSE_SECONDS:
                raise self._fail(f"<break time={quote(time)}> is longer than {MAX_PAUSE_SECONDS:g} s")
            return seconds
        strength = attributes.get("strength", "medium").lower()
        if strength not in BREAK_STRENGTHS:
            raise self._fail(f"<break strength={quote(strength)}>: use one of {', '.join(BREAK_STRENGTHS)}")
        return BREAK_STRENGTHS[strength]

    def _rate(self, rate: str) -> float:
        value = rate.strip().lower()
        if value in PROSODY_RATES:
            factor = PROSODY_RATES[value]
        else:
            try:
                factor = float(value[:-1]) / 100 if value.endswith("%") else float(value)
            except ValueError:
                raise self._fail(f"<prosody rate={quote(rate)}>: use x-slow, slow, medium, fast, x-fast, a percentage "
                                 "or a factor") from None
        if factor != factor or factor <= 0:
            raise self._fail(f"<prosody rate={quote(rate)}> must be positive")
        return min(max(factor, RATE_RANGE[0]), RATE_RANGE[1])


def parse_ssml(source: str, lang: str = "a") -> Document:
    """SSML -> document; malformed SSML, a DTD or an entity declaration -> InvalidInputError."""
    import defusedxml.sax
    from defusedxml import DefusedXmlException

    handler = _Handler(source, lang)
    try:
        defusedxml.sax.parseString(source.encode("utf-8", "surrogatepass"), handler, forbid_dtd=True)
    except SAXParseException as exc:
        raise _error(exc.getMessage(), exc.getLineNumber(), exc.getColumnNumber()) from None
    except DefusedXmlException as exc:
        raise InvalidInputError(f"invalid SSML: {type(exc).__name__} (DTDs and entity declarations are not "
                                "allowed)", param="input") from None
    except UnicodeError as exc:
        raise InvalidInputError(f"invalid SSML: {exc}", param="input") from None
    return Document(source, tuple(handler.segments), tuple(handler.notices))
