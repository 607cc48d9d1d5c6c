"""An SSML subset into the document model, parsed with a hardened XML parser (no DTD, no entities).

Supported: ``<speak>`` (the root), ``<break time="2s"|"500ms" strength="none…x-strong">``,
``<prosody rate="slow|fast|…|150%|1.5">``, ``<phoneme alphabet="ipa" ph="…">``, ``<sub alias="…">``,
``<say-as interpret-as="characters|spell-out|cardinal|ordinal|digits|date|time|telephone">`` (``format``
for dates: mdy, dmy, ymd, …), ``<voice name="am_michael">``, ``<lang xml:lang="fr">`` (and ``xml:lang``
on ``<voice>``, ``<p>``, ``<s>``), ``<emphasis level="strong|moderate|reduced|none">``, ``<p>`` and
``<s>``. Any other element is ignored, its text spoken, and the document's notices say so. Malformed
SSML is an error naming the line and column.

The parser is language-blind: each text segment records the language tag in force (the innermost
``xml:lang`` unless a ``<voice>`` inside it is nearer: a voice speaks its own language), and a
``<say-as>`` keeps its text as written with the interpretation; the language packs read both
(:func:`kokoro_server.languages.read_languages`). ``xml:lang`` on ``<speak>`` is not read: the request's
voice (or ``lang_code``) decides the language of the whole document.
"""

from __future__ import annotations

import re
from xml.sax import SAXParseException
from xml.sax.handler import ContentHandler
from xml.sax.xmlreader import AttributesImpl, Locator

from kokoro_server.errors import InvalidInputError, quote
from kokoro_server.text.document import (MAX_PAUSE_SECONDS, Break, Document, Pause, Phonemes, SayAs, Segment,
                                         SpeedChange, Stressed, Text, VoiceChange)

BREAK_STRENGTHS = {"none": 0.0, "x-weak": 0.1, "weak": 0.25, "medium": 0.5, "strong": 0.75, "x-strong": 1.25}
PROSODY_RATES = {"x-slow": 0.5, "slow": 0.75, "medium": 1.0, "default": 1.0, "fast": 1.25, "x-fast": 1.75}
RATE_RANGE = (0.25, 4.0)
SAY_AS = ("characters", "spell-out", "cardinal", "number", "ordinal", "digits", "date", "time", "telephone")
EMPHASIS_LEVELS = {"strong": 2.0, "moderate": 1.0, "reduced": -1.0}  # misaki's stress markup; "none": as it is
_TIME = re.compile(r"^\s*(\d{1,6}(?:\.\d{1,6})?)\s*(ms|s)\s*$", re.IGNORECASE)
_NEWLINE = re.compile(r"\r\n|\r|\n")


def _error(message: str, line: int, column: int) -> InvalidInputError:
    return InvalidInputError(f"invalid SSML at line {line}, column {column + 1}: {message}", param="input")


# -- the parser ----------------------------------------------------------------------------------

class _Handler(ContentHandler):
    def __init__(self, source: str) -> None:
        super().__init__()
        self.source = source
        self.lines = [0] + [m.end() for m in _NEWLINE.finditer(source)]
        self.segments: list[Segment] = []
        self.notices: dict[str, None] = {}
        self.stack: list[tuple[str, dict[str, str], int]] = []  # name, attributes, where it starts
        self.voices: list[str | None] = [None]
        self.rates: list[float] = [1.0]
        self.langs: list[str | None] = [None]  # per open element: the language tag in force (None: the voice's)
        self.emphasis: list[float | None] = [None]  # per open element: misaki's stress for <emphasis> text
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
        self._scope(name, attributes)
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
        elif name in ("p", "s", "speak", "lang", "emphasis"):
            pass
        else:
            self.notices[f"SSML <{name}> not supported: its text is spoken, the tag ignored"] = None

    def endElement(self, name: str) -> None:
        _, _, position = self._where()
        _, attributes, start = self.stack.pop()
        self.langs.pop()
        self.emphasis.pop()
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
            self.segments.append(Text(attributes["alias"], *span, substituted=True, lang=self.langs[-1]))
        else:
            kind = attributes["interpret-as"].strip().lower()
            if kind not in SAY_AS:
                self.notices[f"SSML say-as interpret-as={quote(attributes['interpret-as'])} not supported: "
                             "the text is read as it is"] = None
            said = SayAs(kind, attributes.get("format", "").strip()) if kind in SAY_AS else None
            self.segments.append(Text(written, *span, substituted=True, lang=self.langs[-1], say_as=said))

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
        lang, stress = self.langs[-1], self.emphasis[-1]
        if written and stress is not None:
            if content.strip():
                self.segments.append(Stressed(content, stress, position, end, lang=lang))
        elif written and isinstance(last, Text) and not last.substituted and last.end == position and \
                last.lang == lang:
            self.segments[-1] = Text(last.text + content, last.start, end, lang=lang)  # expat splits text at newlines
        else:
            self.segments.append(Text(content, position, end, substituted=not written, lang=lang))

    def _entity_end(self, position: int, length: int) -> int:
        end = self.source.find(";", position, position + 12)
        return end + 1 if self.source.startswith("&", position) and end >= 0 else position + length

    def _scope(self, name: str, attributes: dict[str, str]) -> None:
        """The language and emphasis in force inside a newly opened element."""
        tag = attributes.get("xml:lang", "").strip()
        if name == "lang" and not tag:
            raise self._fail("<lang> needs an xml:lang attribute, e.g. <lang xml:lang=\"fr\">")
        if name == "voice":  # a voice speaks its own language (unless it says otherwise)
            self.langs.append(tag or None)
        else:
            self.langs.append(tag if tag and name != "speak" else self.langs[-1])
        if name != "emphasis":
            self.emphasis.append(self.emphasis[-1])
            return
        level = attributes.get("level", "moderate").strip().lower()
        if level != "none" and level not in EMPHASIS_LEVELS:
            raise self._fail(f"<emphasis level={level!r}>: use strong, moderate, reduced or none")
        self.emphasis.append(EMPHASIS_LEVELS.get(level))

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


def parse_ssml(source: str) -> Document:
    """SSML -> document; malformed SSML, a DTD or an entity declaration -> InvalidInputError."""
    import defusedxml.sax
    from defusedxml import DefusedXmlException

    handler = _Handler(source)
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
