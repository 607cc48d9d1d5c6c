"""Times of day: clock times, hours with AM/PM, 24-hour times.

    "Meet at 3:30pm."   -> "Meet at three thirty PM."
    "at 9:05 a.m."      -> "at nine oh five AM."
    "It is 7:00."       -> "It is seven o'clock."
    "At 18:00 UTC"      -> "At eighteen hundred UTC"
    "at 5pm"            -> "at five PM"
"""

from __future__ import annotations

import re

from kokoro_server.languages.en.normalize.context import sentence_ends
from kokoro_server.languages.en.numbers import cardinal
from kokoro_server.text.spans import Rewriter


_TIME = re.compile(r"(?<![\d:.])(\d{1,2}):(\d{2})(?::(\d{2}))?(?![\d:])(?:[ \t]?([ap])\.?[ \t]?m(\.?)(?!\w))?",
                   re.IGNORECASE)
_HOUR = re.compile(r"(?<![\w:.,])(\d{1,2})[ \t]?([ap])\.?[ \t]?m(\.?)(?![\w.])", re.IGNORECASE)


def _half(half: str, dot: str, match: re.Match[str]) -> str:
    spoken = " AM" if half.lower() == "a" else " PM"
    return spoken + ("." if dot and sentence_ends(match.string, match.end()) else "")


def _time(match: re.Match[str]) -> str:
    hour, minute = int(match.group(1)), int(match.group(2))
    second, half, dot = match.group(3), match.group(4), match.group(5)
    if hour > 24 or minute > 59:
        return match.group(0)
    if minute == 0 and hour > 12 and not half:
        spoken = f"{cardinal(hour)} hundred"  # 18:00, as a 24-hour clock is read
    elif minute == 0:
        spoken = cardinal(hour) + ("" if half else " o'clock")
    elif minute < 10:
        spoken = f"{cardinal(hour)} oh {cardinal(minute)}"
    else:
        spoken = f"{cardinal(hour)} {cardinal(minute)}"
    if second:
        spoken += f" and {cardinal(int(second))} seconds"
    return spoken + (_half(half, dot, match) if half else "")


def _hour(match: re.Match[str]) -> str:
    hour = int(match.group(1))
    if not 1 <= hour <= 12:
        return match.group(0)
    return cardinal(hour) + _half(match.group(2), match.group(3), match)


def rewrite(rw: Rewriter) -> None:
    rw.sub(_TIME, _time)
    rw.sub(_HOUR, _hour)
