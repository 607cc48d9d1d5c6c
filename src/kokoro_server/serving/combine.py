"""Mix voice packs into one, as a ``.pt`` file, and optionally install it under a name."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from kokoro_server.builds import Build
from kokoro_server.errors import InvalidInputError, TooManyVoicesError, VoiceExistsError, quote
from kokoro_server.service import SpeechService
from kokoro_server.voices.export import pack_to_pt
from kokoro_server.voices.install import add_voice
from kokoro_server.voices.mix import NEW_NAME_MAX, VoiceMix, is_new_voice_name
from kokoro_server.voices.packs import PACK_SUFFIXES


@dataclass(frozen=True)
class CombinedVoice:
    build: Build
    mix: VoiceMix
    data: bytes  # the .pt file
    file_name: str
    saved: Path | None


def combine_voices(service: SpeechService, spec: str, *, model: str | None = None,
                   save_as: str | None = None) -> CombinedVoice:
    mix, build = service.parse_voice(spec, model)
    if save_as is not None:
        check_new_voice_name(service, build, save_as)
    data = pack_to_pt(service.voices.resolve(build, mix))
    saved = None
    if save_as is not None:  # installed the way `kokoro-server voices add` installs a file
        with tempfile.TemporaryDirectory(prefix="kokoro-mix-") as folder:
            source = Path(folder) / f"{save_as}.pt"
            source.write_bytes(data)
            saved = add_voice(service.data_dir, source, save_as, version=build.version).path
    stem = save_as or "+".join(name for name, _ in mix.parts)
    return CombinedVoice(build, mix, data, f"{stem}.pt", saved)


def check_new_voice_name(service: SpeechService, build: Build, name: str) -> None:
    """A plain voice name (:func:`is_new_voice_name`), starting with a language code (so requests know
    how to read text with it), not taken yet, with room for it (KOKORO_MAX_SAVED_VOICES)."""
    if not is_new_voice_name(name):
        raise InvalidInputError(f"{quote(name)} is not a usable voice name: 1 to {NEW_NAME_MAX} letters, digits, "
                                "_ and -, starting with a letter or digit, without a file suffix; e.g. af_mymix",
                                param="name")
    if build.language_of_voice(name) is None:
        codes = ", ".join(build.languages)
        raise InvalidInputError(f"a voice name starts with its language code ({codes}) so requests know "
                                f"how to read text with it, e.g. af_{name}", param="name")
    if service.voices.has(build, name):
        raise VoiceExistsError(f"voice {name!r} already exists for {build.version}; choose another name",
                               param="name")
    limit = service.settings.max_saved_voices
    folder = service.data_dir.voices_dir(build)
    try:
        held = sum(1 for path in folder.iterdir() if path.suffix in PACK_SUFFIXES and not path.name.startswith("."))
    except OSError:
        held = 0
    if held >= limit:
        raise TooManyVoicesError(f"{folder} holds {held} voices; KOKORO_MAX_SAVED_VOICES={limit} allows no more "
                                 "saved mixes (delete some, or send the mix itself as the voice of a request)",
                                 param="name")
