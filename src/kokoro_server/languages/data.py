"""A pack's data tables, read from its package data (JSON, or TSV with ``#`` comments)."""

from __future__ import annotations

import json
from dataclasses import replace
from functools import cache
from importlib import resources
from typing import Any

from kokoro_server.text.chunk import ChunkRules


@cache
def table(package: str, name: str) -> Any:
    """``name`` (``units.tsv``, ``money.json``) of package ``package``: JSON as parsed, keys starting
    with ``_`` left out; TSV as a dict of its first column to its second."""
    text = resources.files(package).joinpath(name).read_text(encoding="utf-8")
    if name.endswith(".tsv"):
        rows = (line.split("\t") for line in text.splitlines() if line.strip() and not line.startswith("#"))
        return {row[0]: row[1] for row in rows}
    data = json.loads(text)
    return {key: value for key, value in data.items() if not key.startswith("_")} if isinstance(data, dict) else data


def chunk_rules(package: str) -> ChunkRules:
    """The pack's ``chunking.json`` (``phrase_starters``, ``leading_words``, optional ``clause_marks``)."""
    data = table(package, "chunking.json")
    rules = ChunkRules(frozenset(data.get("phrase_starters", ())), frozenset(data.get("leading_words", ())))
    return replace(rules, clause_marks=data["clause_marks"]) if "clause_marks" in data else rules
