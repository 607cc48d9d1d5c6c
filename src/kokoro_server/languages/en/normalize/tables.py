"""The English normalization tables, read once from this package's data files."""

from __future__ import annotations

from typing import Any

from kokoro_server.languages.data import table

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December")
ABBREVIATIONS: dict[str, Any] = table(__package__, "abbreviations.json")
UNITS: dict[str, str] = table(__package__, "units.tsv")
MONEY: dict[str, Any] = table(__package__, "money.json")
ROMAN: dict[str, list[str]] = table(__package__, "roman.json")
SERIALS: dict[str, list[str]] = table(__package__, "serials.json")
YEARS: dict[str, list[str]] = table(__package__, "years.json")
REFERENCES: dict[str, list[str]] = table(__package__, "references.json")
