"""Mix voice packs into one, as a ``.pt`` file, and optionally install it under a name."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kokoro_server.builds import Build
from kokoro_server.errors import InvalidInputError, InvalidVoiceSpecError, VoiceExistsError
from kokoro_server.service import SpeechService
from kokoro_server.voices.export import pack_to_pt, save_voice_file
from kokoro_server.voices.mix import VoiceMix, parse_mix


@dataclass(frozen=True)
class CombinedVoice:
    build: Build
    mix: VoiceMix
    data: bytes  # the .pt file
    file_name: str
    saved: Path | None


def combine_voices(service: SpeechService, spec: str, *, model: str | None = None,
                   save_as: str | None = None) -> CombinedVoice:
    mix = parse_mix(spec)
    build = service.route(model, mix)
    if save_as is not None:
        check_new_voice_name(service, build, save_as)
    data = pack_to_pt(service.voices.resolve(build, mix))
    stem = save_as or "+".join(name for name, _ in mix.parts)
    saved = save_voice_file(service.data_dir.voices_dir(build), f"{save_as}.pt", data) if save_as else None
    return CombinedVoice(build, mix, data, f"{stem}.pt", saved)


def check_new_voice_name(service: SpeechService, build: Build, name: str) -> None:
    """A plain voice name (usable in requests), starting with a language code, not taken yet."""
    try:
        parsed = parse_mix(name)
    except InvalidVoiceSpecError as exc:
        raise InvalidVoiceSpecError(exc.message, param="name") from None
    if parsed.canonical != name or name.startswith("."):
        raise InvalidVoiceSpecError(f"{name!r} is not a plain voice name (letters, digits, _ - .), "
                                    "e.g. af_mymix", param="name")
    if build.language_of_voice(name) is None:
        codes = ", ".join(build.languages)
        raise InvalidInputError(f"a voice name starts with its language code ({codes}) so requests know "
                                f"how to read text with it, e.g. af_{name}", param="name")
    if service.voices.has(build, name):
        raise VoiceExistsError(f"voice {name!r} already exists for {build.version}; choose another name",
                               param="name")
