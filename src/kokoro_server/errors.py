"""One exception tree for the whole package.

Every error a user can cause or fix derives from :class:`KokoroError`. Each class carries the
HTTP status and OpenAI-style ``type``/``code`` that the API's single exception handler turns into
``{"error": {"message", "type", "param", "code"}}``; the CLI prints ``message`` and exits non-zero.
"""

from __future__ import annotations

from pathlib import Path

QUOTED_CHARS = 100  # the most characters of a request's input an error message repeats


def quote(text: str, limit: int = QUOTED_CHARS) -> str:
    """``text`` as an error message quotes it: ``repr``, cut to ``limit`` characters with the full
    length said, so an error about a 100,000-character input stays small."""
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text)} characters)"


class KokoroError(Exception):
    status_code: int = 400
    error_type: str = "invalid_request_error"
    code: str | None = None

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


class InvalidInputError(KokoroError):
    """The text (or another request field) cannot be synthesized as given."""

    code = "invalid_input"


class InputTooLongError(InvalidInputError):
    status_code = 413
    code = "input_too_long"


class AudioTooLongError(InputTooLongError):
    """The input would make more audio (or pauses) than one request may (KOKORO_MAX_AUDIO_SECONDS)."""

    code = "audio_too_long"


class VoiceNotFoundError(KokoroError):
    status_code = 400
    code = "voice_not_found"


class InvalidVoiceSpecError(KokoroError):
    """A malformed voice mix such as ``af_bella(x)+``."""

    code = "invalid_voice"


class VoiceVersionMismatchError(KokoroError):
    """A voice pack that belongs to another model version."""

    code = "voice_version_mismatch"


class ModelNotFoundError(KokoroError):
    """An unknown model name or version."""

    status_code = 404
    code = "model_not_found"


class UnsupportedFormatError(KokoroError):
    code = "unsupported_format"


class NotFoundError(KokoroError):
    """A download, route or other named resource that does not exist (or has expired)."""

    status_code = 404
    code = "not_found"


class ConflictError(KokoroError):
    """The request clashes with the current state: a name already taken, a model in use."""

    status_code = 409
    code = "conflict"


class VoiceExistsError(ConflictError):
    code = "voice_exists"


class TooManyVoicesError(ConflictError):
    """The voices folder is full (KOKORO_MAX_SAVED_VOICES): no more saved mixes."""

    code = "too_many_voices"


class ModelInUseError(ConflictError):
    code = "model_in_use"


class BusyError(KokoroError):
    """The synthesis queue is full."""

    status_code = 429
    error_type = "rate_limit_error"
    code = "queue_full"

    def __init__(self, message: str, *, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class AuthenticationError(KokoroError):
    status_code = 401
    error_type = "authentication_error"
    code = "invalid_api_key"


class FileProblemError(KokoroError):
    """A model, voice or config file that is missing, unreadable or corrupt.

    The message always names the file, where it was looked for and how to fix it.
    """

    status_code = 424
    error_type = "model_files_error"
    code = "model_files_missing"

    def __init__(self, problem: str, *, file: Path | str, searched: Path | str | None = None,
                 fix: str | None = None, param: str | None = None) -> None:
        parts = [f"{problem}: {file}"]
        if searched is not None:
            parts.append(f"(looked in {searched})")
        message = " ".join(parts)
        if fix:
            message += f". To fix: {fix}"
        super().__init__(message, param=param)
        self.file = str(file)
        self.searched = str(searched) if searched is not None else None
        self.fix = fix


class DownloadError(KokoroError):
    """Fetching a model file failed: the hub is unreachable, the file is not there, or its bytes
    did not verify. Nothing is installed under the final name when this is raised."""

    status_code = 502
    error_type = "download_error"
    code = "download_failed"


class HubUnreachableError(DownloadError):
    """No network, DNS failure, refused connection or timeout: the whole download stops at once."""

    code = "hub_unreachable"


class MigrationError(KokoroError):
    """``kokoro-server migrate`` cannot plan or finish (anything it wrote has been rolled back)."""

    code = "migration_failed"


class BackendUnavailableError(KokoroError):
    """The requested backend (onnx / torch) is not installed or cannot run these files."""

    status_code = 424
    error_type = "model_files_error"
    code = "backend_unavailable"


class StorageError(KokoroError):
    """A whole-file answer could not be kept while it was made (the disk under the data dir is full)."""

    status_code = 507
    error_type = "server_error"
    code = "insufficient_storage"


class TimestampsUnavailableError(KokoroError):
    """Word timestamps were asked for, but the model this request runs on cannot give its durations
    (an ONNX model without a durations output or a duration predictor the server recognises)."""

    status_code = 422
    code = "timestamps_unavailable"
