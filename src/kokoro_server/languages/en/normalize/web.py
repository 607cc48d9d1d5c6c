"""Electronic addresses: URLs and e-mail addresses, read out as people dictate them.

    "See https://www.example.com/docs."  -> "See example dot com slash docs."
    "Write to john.doe@example.com"      -> "Write to john dot doe at example dot com"
"""

from __future__ import annotations

import re

from kokoro_server.text.spans import Rewriter


_URL = re.compile(r"\b(?:https?://|www\.)[^\s<>\"]{1,2000}", re.IGNORECASE)
_EMAIL = re.compile(r"\b[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,8}\b")


def _url(match: re.Match[str]) -> str:
    url = re.sub(r"^(?:https?://)?(?:www\.)?", "", match.group(0), flags=re.IGNORECASE).rstrip(".,;:!?)")
    tail = match.group(0)[len(match.group(0).rstrip(".,;:!?)")):]
    spoken = url.replace(".", " dot ").replace("/", " slash ").replace("-", " dash ").replace("_", " underscore ")
    spoken = spoken.replace("?", " question mark ").replace("=", " equals ").replace("&", " and ")
    return " " + " ".join(spoken.split()) + tail


def _email(match: re.Match[str]) -> str:
    user, _, domain = match.group(0).partition("@")
    return " ".join(f"{_say_address(user)} at {_say_address(domain)}".split())


def _say_address(part: str) -> str:
    return part.replace(".", " dot ").replace("_", " underscore ").replace("-", " dash ").replace("+", " plus ")


def emails(rw: Rewriter) -> None:
    rw.sub(_EMAIL, _email)


def urls(rw: Rewriter) -> None:
    rw.sub(_URL, _url)
