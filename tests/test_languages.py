"""Language packs: the registry, a new pack picked up everywhere, and the language following the
voice (and SSML <lang>) inside one request, checked on the phonemes and, with Whisper, on the audio."""

from __future__ import annotations

import re

import httpx
import pytest

from kokoro_server.builds import get_build
from kokoro_server.cli import main
from kokoro_server.languages import LANGUAGES, G2P, LanguagePack, read_languages
from kokoro_server.languages.espeak import Espeak
from kokoro_server.service import SpeechRequest, normalized_segments
from kokoro_server.settings import Settings
from kokoro_server.text.chunk import ChunkPlan, ChunkRules
from kokoro_server.text.document import Stressed, Text
from kokoro_server.text.markup import parse
from kokoro_server.text.normalize import NormalizationOptions
from kokoro_server.text.spans import Rewriter

# -- the registry ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name, code", [
    ("a", "a"), ("E", "e"), ("en", "a"), ("en-US", "a"), ("en-gb", "b"), ("EN_GB", "b"), ("es", "e"),
    ("es-MX", "e"), ("fr", "f"), ("fr-CA", "f"), ("pt", "p"), ("pt-BR", "p"), ("it-IT", "i"), ("hi-IN", "h"),
    ("ja-JP", "j"), ("zh-CN", "z"), ("cmn", "z"), ("de", None), ("", None), ("x-klingon", None),
])
def test_codes_and_bcp47_tags_name_their_pack(name: str, code: str | None) -> None:
    pack = LANGUAGES.find(name)
    assert (pack.code if pack else None) == code


def test_a_tag_without_region_keeps_the_variant_in_use() -> None:
    assert LANGUAGES.find("en", prefer="b").code == "b"
    assert LANGUAGES.find("en", prefer="e").code == "a"


def test_every_language_of_v1_is_a_pack_and_v0_19_reads_english_only() -> None:
    assert [p.code for p in LANGUAGES] == ["a", "b", "e", "f", "h", "i", "p", "j", "z"]
    assert list(get_build("v1_0").languages) == ["a", "b", "e", "f", "h", "i", "p", "j", "z"]
    assert list(get_build("v0_19").languages) == ["a", "b"]
    assert LANGUAGES.of_voice("ef_dora").code == "e" and LANGUAGES.of_voice("v0_19/bf_emma(2)+af_sky").code == "b"


def test_a_code_is_one_letter_and_taken_once() -> None:
    toy = LanguagePack("e", ("xx",), "Duplicate", G2P(lambda: Espeak("es"), "espeak-ng"))
    with pytest.raises(ValueError, match="taken"):
        LANGUAGES.register(toy)
    with pytest.raises(ValueError, match="one lower-case letter"):
        LANGUAGES.register(LanguagePack("eo", ("eo",), "Esperanto", toy.g2p))


# -- a new pack, registered here, is picked up everywhere -------------------------------------------

def _esperanto_rules(rw: Rewriter, options: NormalizationOptions) -> None:
    rw.sub(re.compile(r"(?<=\d)[ \t]?%"), " procentoj")


ESPERANTO = LanguagePack(
    code="x", tags=("eo",), name="Esperanto (test pack)",
    g2p=G2P(lambda: Espeak("eo"), "espeak-ng", stress=True),
    normalize=_esperanto_rules,
    chunking=ChunkRules(frozenset({"kaj", "sed", "ĉar"}), frozenset({"la"})),
    num2words="eo", espeak="eo")
LONG_ESPERANTO = ("la granda hundo kuris rapide kaj la blanka kato dormis longe kaj la eta birdo kantis bele "
                  "kaj la verda fiŝo naĝis lante kaj la forta ĉevalo manĝis multe kaj la bruna bovo ripozis")


@pytest.fixture
def esperanto():
    with LANGUAGES.registered(ESPERANTO):
        yield ESPERANTO
    assert "x" not in LANGUAGES and "x" not in get_build("v1_0").languages


def test_a_registered_pack_is_in_the_cli_help(esperanto, capsys) -> None:
    with pytest.raises(SystemExit):
        main(["say", "--help"])
    assert "x (Esperanto (test pack), eo)" in " ".join(capsys.readouterr().out.split())


def test_a_registered_pack_is_read_by_the_builds_that_read_its_phonemes(esperanto) -> None:
    assert get_build("v1_0").languages["x"] is esperanto
    assert "x" not in get_build("v0_19").languages
    assert get_build("v1_0").make_phonemizer("x")("saluton")  # espeak-ng's Esperanto


def test_a_registered_pack_reads_ssml_lang_and_its_say_as(esperanto) -> None:
    ssml = ('<speak>Hello. <lang xml:lang="eo">Mi havas <say-as interpret-as="cardinal">21</say-as> '
            'jarojn.</lang></speak>')
    document = read_languages(parse(ssml), "a")
    texts = [(s.lang, s.text) for s in document.segments if isinstance(s, Text)]
    assert texts == [("a", "Hello. "), ("x", "Mi havas "), ("x", "dudek unu"), ("x", " jarojn.")]


def test_a_registered_pack_normalizes_phonemizes_and_cuts_its_text(esperanto, service) -> None:
    request = SpeechRequest(text=f"{LONG_ESPERANTO}, 5%.", voice="af_heart", lang="eo",
                            chunk_plan=ChunkPlan(first_tokens=16, target_tokens=40, max_tokens=80))
    prepared = service.prepare(request)
    assert prepared.lang == "x" and "5 procentoj" in prepared.text
    chunks = list(service.chunks(prepared))
    cut = [after.text.split()[0] for before, after in zip(chunks, chunks[1:]) if before.boundary == "word"]
    # past the short first chunk, every cut inside the sentence falls before the pack's phrase starter
    assert len(cut) >= 3 and set(cut[1:]) == {"kaj"}, [c.text for c in chunks]
    assert all(c.text.split()[-1] != "la" for c in chunks[:-1]), [c.text for c in chunks]  # never after "la"
    assert "".join(c.phonemes for c in chunks).replace(" ", "") == \
        esperanto.phonemizer()(prepared.text).replace(" ", "")


def test_a_registered_pack_is_in_the_openapi_schema_config_and_speech(esperanto, data_dir) -> None:
    from tests.support.server import ServerThread

    running = ServerThread(Settings(data_dir=data_dir, threads=2, concurrency=1)).start()
    try:
        with httpx.Client(base_url=running.url, timeout=120) as http:
            schema = http.get("/openapi.json").json()["components"]["schemas"]
            assert "x (Esperanto (test pack), eo)" in schema["SpeechBody"]["properties"]["lang_code"]["description"]
            assert "x" in schema["SpeechBody"]["properties"]["lang_code"]["examples"]
            assert "eo" in schema["PhonemizeBody"]["properties"]["language"]["description"]
            languages = {x["code"]: x for x in http.get("/v1/config").json()["languages"]}
            assert languages["x"] == {"code": "x", "tag": "eo", "tags": ["eo"], "name": "Esperanto (test pack)",
                                      "g2p": "espeak-ng", "emphasis": True, "versions": ["v1_0"]}
            assert languages["a"]["versions"] == ["v1_0", "v0_19"]
            phonemized = http.post("/dev/phonemize", json={"text": "Saluton, 5%!", "language": "eo"})
            assert phonemized.status_code == 200, phonemized.text
            assert phonemized.json()["phonemes"] == esperanto.phonemizer()("Saluton, 5 procentoj!").strip()
            speech = http.post("/v1/audio/speech", json={"input": "Saluton!", "voice": "af_heart",
                                                         "lang_code": "eo", "response_format": "wav"})
            assert speech.status_code == 200 and len(speech.content) > 24_000, speech.text[:300]
    finally:
        running.stop()


# -- the language follows the voice ---------------------------------------------------------------

def _segments(service, text: str, **request) -> list[tuple[str, str, str]]:
    prepared = service.prepare(SpeechRequest(text=text, voice=request.pop("voice", "af_heart"), **request))
    return [(type(s).__name__, s.lang, s.normalized.text if isinstance(s, Text) else s.text)
            for s in normalized_segments(prepared.document, prepared.normalization, prepared.lang)
            if isinstance(s, (Text, Stressed)) and s.text.strip()]


def test_a_voice_change_switches_the_front_end_to_the_voices_language(service) -> None:
    text = "I am 25. [voice:ef_dora]Tengo 25 años y 3,5 kilos. [voice:]Back to 3.5 kilos."
    assert _segments(service, text) == [
        ("Text", "a", "I am twenty-five."),
        ("Text", "e", "Tengo 25 años y 3 coma 5 kilos."),  # Spanish normalization: espeak-ng reads "25"
        ("Text", "a", "Back to three point five kilos."),
    ]
    prepared = service.prepare(SpeechRequest(text=text, voice="af_heart"))
    spanish = next(c for c in service.chunks(prepared) if c.voice == "ef_dora")
    assert spanish.phonemes == get_build("v1_0").make_phonemizer("e")("Tengo 25 años y 3 coma 5 kilos.").strip()
    assert "ɲ" in spanish.phonemes  # "años" in Spanish phonemes


def test_ssml_voice_and_lang_switch_the_front_end(service) -> None:
    ssml = ('<speak>Hello. <voice name="ef_dora">Tengo <say-as interpret-as="cardinal">21</say-as> años.</voice> '
            '<lang xml:lang="fr">Il coûte 5 €.</lang> <voice name="ff_siwis"><lang xml:lang="en-GB">Hello '
            'again.</lang></voice></speak>')
    assert _segments(service, ssml) == [
        ("Text", "a", "Hello."), ("Text", "e", "Tengo"), ("Text", "e", "veintiuno"), ("Text", "e", "años."),
        ("Text", "f", "Il coûte 5 euros."), ("Text", "b", "Hello again."),
    ]


def test_a_request_language_keeps_its_variant_for_voices_of_that_language(service) -> None:
    text = "[voice:am_adam]Tomato. [voice:ef_dora]Hola."
    assert [lang for _, lang, _ in _segments(service, text, lang="b")] == ["b", "e"]
    assert [lang for _, lang, _ in _segments(service, text)] == ["a", "e"]


def test_a_language_no_pack_reads_is_noticed_and_read_in_the_current_one(service) -> None:
    prepared = service.prepare(SpeechRequest(text='<speak><lang xml:lang="de">Hallo</lang></speak>',
                                             voice="af_heart"))
    assert prepared.notice and "'de' is not available" in prepared.notice
    assert [s.lang for s in prepared.document.segments if isinstance(s, Text)] == ["a"]


def test_emphasis_moves_english_stress_and_is_noticed_where_there_is_none(service) -> None:
    def phonemes(text: str) -> str:
        return " ".join(c.phonemes for c in service.chunks(service.prepare(SpeechRequest(text=text,
                                                                                         voice="af_heart"))))
    plain = phonemes("<speak>I said the book.</speak>")
    stressed = phonemes('<speak>I said <emphasis level="strong">the</emphasis> book.</speak>')
    reduced = phonemes('<speak>I <emphasis level="reduced">said</emphasis> the book.</speak>')
    assert "ðə" in plain and "ðˈə" in stressed.replace("ˌ", "ˈ")  # the article gains a stress
    assert "sˈɛd" in plain and "sˌɛd" in reduced  # primary stress lowered to secondary
    prepared = service.prepare(SpeechRequest(text='<speak><emphasis>こんにちは</emphasis></speak>', voice="jf_alpha"))
    assert "emphasis is not supported for Japanese" in prepared.notice
    assert isinstance(prepared.document.segments[0], Text)


def test_a_lexicon_applies_to_the_parts_in_its_language(service, tmp_path) -> None:
    from kokoro_server.text.lexicon import LexiconStore

    (tmp_path / "e.json").write_text('{"hola": "ˈOla"}', encoding="utf-8")
    store, service.lexicons = service.lexicons, LexiconStore(tmp_path)
    try:
        prepared = service.prepare(SpeechRequest(text="hola [voice:ef_dora]hola", voice="af_heart"))
    finally:
        service.lexicons = store
    kinds = [(type(s).__name__, getattr(s, "lang", None)) for s in prepared.document.segments
             if type(s).__name__ in ("Text", "Phonemes") and s.text.strip()]
    assert kinds == [("Text", "a"), ("Phonemes", None)]  # the Spanish lexicon reads the Spanish "hola" only


@pytest.mark.slow
def test_whisper_hears_the_spanish_part_in_spanish_and_the_english_part_in_english(service, transcriber) -> None:
    from tests.support.whisper import words

    text = "[voice:ef_dora]Tengo 25 años y vivo en Madrid. [voice:]I live in London with 25 cats."
    pieces = list(service.stream(service.prepare(SpeechRequest(text=text, voice="af_heart"))))
    import numpy as np

    spanish = np.concatenate([p.audio for p in pieces if p.chunk.voice == "ef_dora"])
    english = np.concatenate([p.audio for p in pieces if p.chunk.voice is None])
    heard_es = words(" ".join(w for w, _, _ in transcriber.word_times(spanish, language="es")))
    heard_en = words(transcriber(english))
    assert {"tengo", "madrid"} <= set(heard_es) and ({"25"} & set(heard_es) or {"veinticinco"} & set(heard_es)), \
        heard_es
    assert {"live", "london", "cats"} <= set(heard_en) and ("25" in heard_en or "twenty" in heard_en), heard_en
