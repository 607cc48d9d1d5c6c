"""Markup: inline tags and SSML into the document model (pure), then through the real service and model."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from kokoro_server import SAMPLE_RATE
from kokoro_server.errors import InvalidInputError, KokoroError, VoiceNotFoundError
from kokoro_server.service import SpeechRequest
from kokoro_server.text.document import Break, Pause, Phonemes, SpeedChange, Stressed, Text, VoiceChange
from kokoro_server.languages import read_languages
from kokoro_server.text.markup import parse


def kinds(text: str, **kwargs) -> list[tuple]:
    """The segments of ``text`` as (kind, value, the input it spans), read in American English."""
    document = read_languages(parse(text, **kwargs), "a")
    out = []
    for s in document.segments:
        value = {Text: lambda s: s.text, Pause: lambda s: s.seconds, Phonemes: lambda s: s.phonemes,
                 Stressed: lambda s: s.stress, VoiceChange: lambda s: s.voice, SpeedChange: lambda s: s.rate,
                 Break: lambda s: s.kind}[type(s)](s)
        out.append((type(s).__name__, value, text[s.start:s.end]))
    return out


@pytest.mark.parametrize("text, expected", [
    ("a [pause:1.5s] b", [("Text", "a ", "a "), ("Pause", 1.5, "[pause:1.5s]"), ("Text", " b", " b")]),
    ("[pause:300ms]x", [("Pause", 0.3, "[pause:300ms]"), ("Text", "x", "x")]),
    ("[PAUSE: 2 s]", [("Pause", 2.0, "[PAUSE: 2 s]")]),
    ("[pause:2]", [("Pause", 2.0, "[pause:2]")]),
    ("say [tomato](/təmˈɑtO/) ok", [("Text", "say ", "say "), ("Phonemes", "təmˈɑtO", "tomato"), ("Text", " ok", " ok")]),
    ("[read](-1)", [("Stressed", -1.0, "read")]),
    ("[read](+2)", [("Stressed", 2.0, "read")]),
    ("[read](0.5)", [("Stressed", 0.5, "read")]),
    ("[voice:am_michael]hi", [("VoiceChange", "am_michael", "[voice:am_michael]"), ("Text", "hi", "hi")]),
    ("[voice:af_bella(2)+af_sky(1)]", [("VoiceChange", "af_bella(2)+af_sky(1)", "[voice:af_bella(2)+af_sky(1)]")]),
    ("[voice:] [voice:default]", [("VoiceChange", None, "[voice:]"), ("Text", " ", " "),
                                  ("VoiceChange", None, "[voice:default]")]),
    ("see [the docs](https://example.com)", [("Text", "see ", "see "), ("Text", "the docs", "the docs")]),
    ("[x] (y) [pause:abc] [voice", [("Text", "[x] (y) [pause:abc] [voice", "[x] (y) [pause:abc] [voice")]),
])
def test_inline_markup(text: str, expected: list[tuple]) -> None:
    assert kinds(text) == expected


def test_markup_off_reads_brackets_as_text() -> None:
    text = "a [pause:1s] [word](/x/)"
    assert kinds(text, markup=False) == [("Text", text, text)]
    assert kinds("<speak>hi</speak>", markup=False) == [("Text", "<speak>hi</speak>", "<speak>hi</speak>")]


@pytest.mark.parametrize("body, expected", [
    ('<break time="2s"/>', [("Pause", 2.0, '<break time="2s"/>')]),
    ('<break time="250ms"/>', [("Pause", 0.25, '<break time="250ms"/>')]),
    ('<break strength="strong"/>', [("Pause", 0.75, '<break strength="strong"/>')]),
    ("<break/>", [("Pause", 0.5, "<break/>")]),
    ('<prosody rate="slow">x</prosody>', [("SpeedChange", 0.75, '<prosody rate="slow">'), ("Text", "x", "x"),
                                          ("SpeedChange", 1.0, "</prosody>")]),
    ('<prosody rate="150%">x</prosody>', [("SpeedChange", 1.5, '<prosody rate="150%">'), ("Text", "x", "x"),
                                          ("SpeedChange", 1.0, "</prosody>")]),
    ('<phoneme alphabet="ipa" ph="təmˈɑtO">tomato</phoneme>', [("Phonemes", "təmˈɑtO", "tomato")]),
    ('<sub alias="World Wide Web">WWW</sub>', [("Text", "World Wide Web", "WWW")]),
    ('<say-as interpret-as="characters">abc</say-as>', [("Text", "A B C", "abc")]),
    ('<say-as interpret-as="spell-out">NASA</say-as>', [("Text", "N A S A", "NASA")]),
    ('<say-as interpret-as="cardinal">1,234</say-as>', [("Text", "one thousand two hundred and thirty-four", "1,234")]),
    ('<say-as interpret-as="ordinal">21</say-as>', [("Text", "twenty-first", "21")]),
    ('<say-as interpret-as="digits">1234</say-as>', [("Text", "one two three four", "1234")]),
    ('<say-as interpret-as="date" format="mdy">12/25/2024</say-as>',
     [("Text", "December twenty-fifth, twenty twenty-four", "12/25/2024")]),
    ('<say-as interpret-as="date">1969-07-20</say-as>', [("Text", "July twentieth, nineteen sixty-nine", "1969-07-20")]),
    ('<say-as interpret-as="time">10:30</say-as>', [("Text", "ten thirty", "10:30")]),
    ('<say-as interpret-as="telephone">555-0123</say-as>',
     [("Text", "five five five, zero one two three", "555-0123")]),
    ('<voice name="am_michael">hi</voice>', [("VoiceChange", "am_michael", '<voice name="am_michael">'),
                                            ("Text", "hi", "hi"), ("VoiceChange", None, "</voice>")]),
    ("<p>one</p><s>two</s>", [("Text", "one", "one"), ("Break", "paragraph", "</p>"), ("Text", "two", "two"),
                              ("Break", "sentence", "</s>")]),
    ("AT&amp;T", [("Text", "AT", "AT"), ("Text", "&", "&amp;"), ("Text", "T", "T")]),
])
def test_ssml(body: str, expected: list[tuple]) -> None:
    assert kinds(f"<speak>{body}</speak>") == expected


def test_ssml_unknown_tags_are_spoken_and_noticed() -> None:
    document = parse("<speak><token>big</token> <audio src='x'/>deal</speak>")
    assert "".join(s.text for s in document.segments if isinstance(s, Text)) == "big deal"
    assert any("<token>" in n for n in document.notices) and any("<audio>" in n for n in document.notices)


def test_ssml_is_chosen_by_its_start_or_by_the_field() -> None:
    assert kinds("  <speak>hi</speak>") == [("Text", "hi", "hi")]
    with pytest.raises(InvalidInputError, match="line 1"):
        parse("hi <break/>", input_format="ssml")
    assert kinds("<speak>hi</speak>", input_format="text") == [("Text", "<speak>hi</speak>", "<speak>hi</speak>")]


@pytest.mark.parametrize("ssml, where", [
    ("<speak>\n  <break time='2s'>oops</speak>", "line 2, column"),
    ("<speak><break time='soon'/></speak>", "line 1, column 8"),
    ("<speak><prosody rate='quick'>x</prosody></speak>", "line 1"),
    ("<speak><phoneme alphabet='x-sampa' ph='a'>a</phoneme></speak>", "line 1"),
    ("<speak><sub>x</sub></speak>", "line 1"),
    ("<notspeak/>", "line 1, column 1"),
    ("<speak>", "line 1"),
])
def test_bad_ssml_names_line_and_column(ssml: str, where: str) -> None:
    with pytest.raises(InvalidInputError, match=where):
        parse(ssml, input_format="ssml")


@pytest.mark.parametrize("ssml", [
    '<!DOCTYPE speak [<!ENTITY boom "x">]><speak>&boom;</speak>',
    '<!DOCTYPE speak SYSTEM "file:///etc/passwd"><speak>hi</speak>',
])
def test_ssml_refuses_dtds_and_entities(ssml: str) -> None:
    with pytest.raises(InvalidInputError, match="DTD"):
        parse(ssml, input_format="ssml")


def test_over_long_pauses_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="longer than"):
        parse("[pause:3600s]")


# -- through the service (real voices, real model) -------------------------------------------------

def test_invalid_given_phonemes_name_the_symbol_and_position(service) -> None:
    text = "Say [cat](/kæ§t/) now."
    with pytest.raises(InvalidInputError) as caught:
        service.prepare(SpeechRequest(text=text, voice="af_heart"))
    assert "'§'" in caught.value.message and f"input character {text.index('§')}" in caught.value.message


def test_markup_voices_must_exist_before_any_audio(service) -> None:
    with pytest.raises(VoiceNotFoundError, match="input characters 6-23"):
        service.prepare(SpeechRequest(text="Hello [voice:af_nobody] there.", voice="af_heart"))
    with pytest.raises(KokoroError):
        service.prepare(SpeechRequest(text="<speak><voice name='zz_x'>hi</voice></speak>", voice="af_heart"))


def test_ssml_notice_reaches_the_prepared_request(service) -> None:
    prepared = service.prepare(SpeechRequest(text="<speak><token>Hi</token></speak>", voice="af_heart"))
    assert prepared.notice and "<token>" in prepared.notice


def silences(audio: np.ndarray, level: float = 0.005, min_seconds: float = 0.3) -> list[tuple[float, float]]:
    """(where, how long) of every stretch of at least ``min_seconds`` below ``level`` between sounds."""
    loud = np.flatnonzero(np.abs(audio) >= level)
    gaps = np.diff(loud)
    return [(loud[i] / SAMPLE_RATE, gaps[i] / SAMPLE_RATE) for i in np.flatnonzero(gaps > min_seconds * SAMPLE_RATE)]


@pytest.mark.parametrize("text, speed", [
    ("The first part [pause:2s] the second part.", 2.0),
    ('<speak>The first part. <break time="2000ms"/> The second part.</speak>', 1.0),
])
def test_a_two_second_pause_is_two_seconds_of_silence_where_it_stands(service, text: str, speed: float) -> None:
    pieces = list(service.stream(service.prepare(SpeechRequest(text=text, voice="af_heart", speed=speed))))
    audio = np.concatenate([p.audio for p in pieces])
    gaps = silences(audio)
    assert len(gaps) == 1, gaps
    where, length = gaps[0]
    assert abs(length - 2.0) <= 0.05, gaps
    paused = next(i for i, p in enumerate(pieces) if p.chunk.pause)
    assert pieces[paused].chunk.text.startswith("The first part") or pieces[paused].chunk.text.endswith("part")
    before = sum(len(p.audio) for p in pieces[:paused]) / SAMPLE_RATE
    spoken = np.flatnonzero(np.abs(pieces[paused].audio) >= 0.005)[-1] / SAMPLE_RATE
    assert abs(where - (before + spoken)) < 0.01  # the silence starts where the first part ends


def pitch(audio: np.ndarray) -> float:
    """Median fundamental frequency (Hz) of the voiced 40 ms frames, by autocorrelation."""
    frame = int(0.04 * SAMPLE_RATE)
    low, high = SAMPLE_RATE // 400, SAMPLE_RATE // 60  # 60..400 Hz
    found = []
    for start in range(0, len(audio) - frame, frame):
        x = audio[start:start + frame] - audio[start:start + frame].mean()
        if np.sqrt(np.mean(x ** 2)) < 0.02:
            continue
        ac = np.correlate(x, x, "full")[frame - 1:]
        lag = low + int(np.argmax(ac[low:high]))
        if ac[lag] > 0.4 * ac[0]:
            found.append(SAMPLE_RATE / lag)
    return float(np.median(found))


def test_voice_tags_change_the_voice(service) -> None:
    text = "[voice:am_michael]The morning was cold and clear. [voice:]The morning was cold and clear."
    prepared = service.prepare(SpeechRequest(text=text, voice="af_heart"))
    pieces = list(service.stream(prepared))
    assert [p.chunk.voice for p in pieces] == ["am_michael", None]
    michael, heart = (pitch(p.audio) for p in pieces)
    assert michael < 150 < heart, (michael, heart)


@pytest.mark.slow
def test_a_custom_pronunciation_is_what_whisper_hears(service, transcriber) -> None:
    from tests.support.whisper import words

    plain = service.synthesize(SpeechRequest(text="I like the color red.", voice="af_heart"))
    custom = service.synthesize(SpeechRequest(text="I like the color [red](/blˈu/).", voice="af_heart"))
    assert "red" in words(transcriber(plain))
    heard = words(transcriber(custom))
    assert "blue" in heard and "red" not in heard, heard


# -- any input: our error or audio, never anything else ---------------------------------------------

PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(min_size=1, max_size=60))
def test_random_unicode_never_raises_anything_but_our_error(service, text: str) -> None:
    for markup in (True, False):
        try:
            prepared = service.prepare(SpeechRequest(text=text, voice="af_heart", markup=markup))
            chunks = list(service.chunks(prepared))
        except KokoroError:
            continue
        assert all(len(c.tokens) <= prepared.chunk_plan.max_tokens for c in chunks)
        assert all(0 <= w.start <= w.end <= len(text) for c in chunks for w in c.words)


@PROPERTY
@given(st.lists(st.sampled_from(["<speak>", "</speak>", "<break time='1s'/>", "<s>", "</s>", "<p>", "</p>", "a b",
                                 "<say-as interpret-as='date'>", "</say-as>", "&amp;", "<voice name='am_adam'>",
                                 "</voice>", "<prosody rate='fast'>", "</prosody>", "<", "&", "[pause:1s]", "12"]),
                max_size=12))
def test_random_ssml_never_raises_anything_but_our_error(service, parts: list[str]) -> None:
    text = "<speak>" + "".join(parts) + "</speak>"
    try:
        prepared = service.prepare(SpeechRequest(text=text, voice="af_heart"))
        chunks = list(service.chunks(prepared))
    except KokoroError as error:
        assert error.message and error.status_code < 500
        return
    assert chunks and all(len(c.tokens) <= prepared.chunk_plan.max_tokens for c in chunks)
    assert all(0 <= w.start <= w.end <= len(text) for c in chunks for w in c.words)


# -- generated valid input is read as written; the same with one fault is refused ---------------------
# The generators below write markup and SSML and, independently of the parser, what it must be read
# as: the pauses (README: exact, at any speed), the voice or speed in effect for each word, the
# sentence and paragraph breaks, the text. A parser that refused everything fails the acceptance
# properties; one that accepted anything fails the refusal ones.

WORDS = ["hello", "there", "the", "morning", "was", "cold", "and", "clear", "we", "walked", "home", "slowly"]
VOICES = ["am_michael", "bf_emma", "af_bella(2)+am_michael(1)"]
PUNCTUATION = ["", ",", ".", "!", "?", ";"]


def phoneme_symbols() -> str:
    from kokoro_server.builds import get_build

    return "".join(sorted(ch for ch in get_build("v1_0").vocab if not ch.isspace() and ch not in "/()[]\n"))


SYMBOLS = phoneme_symbols()


@st.composite
def phrase(draw) -> str:
    """A stretch of plain words: ' the cold morning, '."""
    return " " + " ".join(draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=4))) + \
        draw(st.sampled_from(PUNCTUATION)) + " "


@st.composite
def pause_tag(draw) -> tuple[str, float]:
    """``[pause:...]`` in one of its written forms, and its seconds."""
    ms = draw(st.integers(1, 60_000))
    amount = draw(st.sampled_from([f"{ms}ms", f"{ms / 1000:.3f}s", f"{ms / 1000:.3f}", f"{ms / 1000:.3f} S"]))
    name = draw(st.sampled_from(["pause", "PAUSE", "Pause"]))
    space = draw(st.sampled_from(["", " "]))
    return f"[{name}:{space}{amount}{space}]", ms / 1000


@st.composite
def inline_document(draw) -> tuple[str, list[tuple], list[tuple[int, str | None]], list[int]]:
    """(input, the segments it must parse into as (kind, value[, word]), adjacent text joined,
    [(input offset, the voice in effect from there)], the offsets between its items)."""
    text, expected, voices, cuts = "", [], [(0, None)], [0]
    items = draw(st.lists(st.sampled_from(["text", "pause", "phonemes", "voice", "stress"]), min_size=1, max_size=8))
    for kind in ["text", *items]:  # something to say
        if kind == "text":
            piece = draw(phrase())
            if expected and expected[-1][0] == "Text":
                expected[-1] = ("Text", expected[-1][1] + piece)
            else:
                expected.append(("Text", piece))
        elif kind == "pause":
            piece, seconds = draw(pause_tag())
            expected.append(("Pause", seconds))
        elif kind == "phonemes":
            word, phonemes = draw(st.sampled_from(WORDS)), draw(st.text(SYMBOLS, min_size=1, max_size=8))
            piece = f"[{word}](/{phonemes}/)"
            expected.append(("Phonemes", phonemes, word))
        elif kind == "voice":
            voice = draw(st.sampled_from([*VOICES, "", "default"]))
            piece = f"[voice:{voice}]"
            expected.append(("VoiceChange", voice if voice not in ("", "default") else None))
            voices.append((len(text) + len(piece), expected[-1][1]))
        else:
            word, stress = draw(st.sampled_from(WORDS)), draw(st.sampled_from(["+1", "-1", "+2", "-2", "0.5", "-0.5"]))
            piece = f"[{word}]({stress})"
            expected.append(("Stressed", float(stress), word))
        text += piece
        cuts.append(len(text))
    return text, expected, voices, cuts


def inline_segments(text: str) -> list[tuple]:
    out: list[tuple] = []
    for segment in parse(text).segments:
        if isinstance(segment, Text):
            if out and out[-1][0] == "Text":
                out[-1] = ("Text", out[-1][1] + segment.text)
            else:
                out.append(("Text", segment.text))
        elif isinstance(segment, Pause):
            out.append(("Pause", segment.seconds))
        elif isinstance(segment, Phonemes):
            out.append(("Phonemes", segment.phonemes, segment.text))
        elif isinstance(segment, VoiceChange):
            out.append(("VoiceChange", segment.voice))
        elif isinstance(segment, Stressed):
            out.append(("Stressed", segment.stress, segment.text))
        else:
            out.append((type(segment).__name__,))
    return out


def in_effect(changes: list[tuple[int, object]], offset: int) -> object:
    return [value for start, value in changes if start <= offset][-1]


@PROPERTY
@given(inline_document())
def test_generated_inline_markup_is_read_as_written(service, case) -> None:
    text, expected, voices, _ = case
    assert inline_segments(text) == expected
    chunks = list(service.chunks(service.prepare(SpeechRequest(text=text, voice="af_heart"))))
    assert [c.pause for c in chunks if c.pause] == [e[1] for e in expected if e[0] == "Pause"]
    for chunk in chunks:  # each word is spoken by the voice in effect where it is written
        for word in chunk.words:
            assert chunk.voice == in_effect(voices, word.start), (text, word, chunk.voice)


@st.composite
def inline_fault(draw) -> tuple[str, type, str]:
    """A valid input with one fault inserted at an item boundary: (input, error, what it must say)."""
    text, _, _, cuts = draw(inline_document())
    cut = draw(st.sampled_from(cuts))
    kind = draw(st.sampled_from(["long pause", "phoneme", "voice"]))
    if kind == "long pause":
        seconds = draw(st.integers(61, 999_999))
        fault = draw(st.sampled_from([f"[pause:{seconds}s]", f"[pause:{seconds}]"]
                                     + ([f"[pause:{seconds * 1000}ms]"] if seconds < 1000 else [])))
        where = f"input characters {cut}-{cut + len(fault)} is longer"
        return text[:cut] + fault + text[cut:], InvalidInputError, where
    if kind == "phoneme":
        bad = draw(st.characters(categories=["Lu", "Ll", "Lo", "Sm", "So", "Po"],
                                 exclude_characters=SYMBOLS + "/()[]\\"))
        fault = f"[hello](/hɛl{bad}/)"
        return text[:cut] + fault + text[cut:], InvalidInputError, f"input character {cut + fault.index(bad)}"
    fault = "[voice:zz_nobody]"
    return text[:cut] + fault + text[cut:], VoiceNotFoundError, f"input characters {cut}-{cut + len(fault)}"


@PROPERTY
@given(inline_fault())
def test_generated_inline_markup_with_a_fault_is_refused_naming_where(service, case) -> None:
    text, error, where = case
    with pytest.raises(error) as caught:
        service.prepare(SpeechRequest(text=text, voice="af_heart"))
    assert where in caught.value.message, (text, caught.value.message)


# SSML: README ("Markup") values
BREAK_STRENGTHS = {"none": 0.0, "x-weak": 0.1, "weak": 0.25, "medium": 0.5, "strong": 0.75, "x-strong": 1.25}
RATES = {"x-slow": 0.5, "slow": 0.75, "medium": 1.0, "fast": 1.25, "x-fast": 1.75, "150%": 1.5, "80%": 0.8,
         "1.2": 1.2}
ESCAPED = {"fish &amp; chips": "fish & chips", "a &lt; b": "a < b", "rock &apos;n&apos; roll": "rock 'n' roll",
           "&#233;t&#233;": "été", "&quot;so&quot;": '"so"'}


def add_text(events: list[tuple], rate: float, text: str) -> None:
    if events and events[-1][0] == "text" and events[-1][1] == rate:
        events[-1] = ("text", rate, events[-1][2] + text)
    else:
        events.append(("text", rate, text))


@st.composite
def ssml_content(draw, depth: int, rate: float) -> tuple[str, list[tuple]]:
    """(SSML content, its events: ("text", rate in effect, text), ("pause", s), ("break", kind))."""
    xml, events = "", []
    kinds = ["text", "escaped", "break", "strength", "sub"] + (["s", "p", "prosody"] if depth else [])
    for kind in draw(st.lists(st.sampled_from(kinds), min_size=1, max_size=4)):
        if kind == "text":
            piece = draw(phrase())
            xml += piece
            add_text(events, rate, piece)
        elif kind == "escaped":
            written = draw(st.sampled_from(sorted(ESCAPED)))
            xml += f" {written} "
            add_text(events, rate, f" {ESCAPED[written]} ")
        elif kind == "break":
            ms = draw(st.integers(0, 60_000))
            xml += draw(st.sampled_from([f'<break time="{ms}ms"/>', f"<break time='{ms / 1000:.3f}s' />"]))
            events.append(("pause", ms / 1000))
        elif kind == "strength":
            strength = draw(st.sampled_from([*BREAK_STRENGTHS, None]))
            xml += f'<break strength="{strength}"/>' if strength else "<break/>"
            events.append(("pause", BREAK_STRENGTHS[strength or "medium"]))
        elif kind == "sub":
            word = draw(st.sampled_from(WORDS))
            alias = " ".join(draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=3)))
            xml += f'<sub alias="{alias}">{word}</sub>'
            add_text(events, rate, alias)
        elif kind in ("s", "p"):
            inner, inner_events = draw(ssml_content(depth - 1, rate))
            xml += f"<{kind}>{inner}</{kind}>"
            for event in inner_events:
                add_text(events, *event[1:]) if event[0] == "text" else events.append(event)
            events.append(("break", "sentence" if kind == "s" else "paragraph"))
        else:
            written = draw(st.sampled_from(sorted(RATES)))
            inner, inner_events = draw(ssml_content(depth - 1, RATES[written]))
            xml += f'<prosody rate="{written}">{inner}</prosody>'
            for event in inner_events:
                add_text(events, *event[1:]) if event[0] == "text" else events.append(event)
    return xml, events


@st.composite
def ssml_document(draw) -> tuple[str, list[tuple]]:
    content, events = draw(ssml_content(2, 1.0))
    opening = draw(st.sampled_from(["<speak>", '<speak version="1.0" xmlns="http://www.w3.org/2001/10/synthesis">']))
    return f"{opening}{content}</speak>", events


def ssml_events(text: str) -> list[tuple]:
    events: list[tuple] = []
    rate = 1.0
    for segment in parse(text, input_format="ssml").segments:
        if isinstance(segment, SpeedChange):
            rate = segment.rate
        elif isinstance(segment, Text):
            add_text(events, rate, segment.text)
        elif isinstance(segment, Pause):
            events.append(("pause", segment.seconds))
        elif isinstance(segment, Break):
            events.append(("break", segment.kind))
        else:
            events.append((type(segment).__name__,))
    return events


@PROPERTY
@given(ssml_document())
def test_generated_ssml_is_read_as_written(service, case) -> None:
    text, expected = case
    assert ssml_events(text) == expected
    try:
        chunks = list(service.chunks(service.prepare(SpeechRequest(text=text, voice="af_heart"))))
    except InvalidInputError as error:  # only pauses and punctuation: nothing to say
        assert "nothing to speak" in error.message or "no speakable" in error.message, error.message
        assert not any(e[0] == "text" and any(w in e[2] for w in WORDS) for e in expected)
        return
    assert [c.pause for c in chunks if c.pause] == [e[1] for e in expected if e[0] == "pause" and e[1]]


@st.composite
def ssml_fault(draw) -> str:
    """A valid SSML document with one fault: a closing tag dropped, a bad break time or rate, a bare
    ``<`` or ``&`` in text, a DTD, another root."""
    text, _ = draw(ssml_document())
    kind = draw(st.sampled_from(["unclosed", "time", "rate", "strength", "bare", "dtd", "root"]))
    closers = [m.start() for m in re.finditer(r"</(s|p|prosody|sub|speak)>", text)]
    if kind == "unclosed":
        at = draw(st.sampled_from(closers))
        return text[:at] + text[text.index(">", at) + 1:]
    inside = text.index(">") + 1
    if kind == "time":
        bad = draw(st.sampled_from(["soon", "2 hours", "-1s", "1.5", "61s", "99999ms", "s", ""]))
        return text[:inside] + f'<break time="{bad}"/>' + text[inside:]
    if kind == "rate":
        bad = draw(st.sampled_from(["quick", "-1", "0%", "0", "%", "nan", "1.5x"]))
        return text[:inside] + f'<prosody rate="{bad}">word</prosody>' + text[inside:]
    if kind == "strength":
        return text[:inside] + '<break strength="loud"/>' + text[inside:]
    if kind == "bare":
        return text[:inside] + draw(st.sampled_from([" a < b ", " fish & chips ", " <3 "])) + text[inside:]
    if kind == "dtd":
        return '<!DOCTYPE speak [<!ENTITY x "y">]>' + text
    return text.replace("<speak", "<talk", 1).replace("</speak>", "</talk>")


@PROPERTY
@given(ssml_fault())
def test_generated_ssml_with_a_fault_is_refused(case: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse(case, input_format="ssml")
    assert "SSML" in caught.value.message, caught.value.message
