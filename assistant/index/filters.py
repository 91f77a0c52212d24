"""Metadata filters for retrieval: which documents a question may be answered from.

A filter names fields of a document (`source` its path, `kind` its file type, `title`, `tags`,
or any metadata given at upload) with a condition each, all of which must hold:

    {"source": {"prefix": "hr/"}, "kind": {"in": ["pdf", "docx"]}, "tags": "policy"}

A bare string means equality, a bare list `in`. On a list field (tags) a condition holds when it
holds for any of its values. The filter is resolved once per request into the set of documents
it admits, and that one set restricts dense search (Chroma's `where`) and BM25 alike, so the two
can never disagree about what is in scope.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from assistant.errors import InvalidQuestion
from assistant.ingest.loading import valid_unicode

OPERATORS = ("eq", "in", "prefix")
MAX_CONDITIONS = 32
MAX_VALUES = 256


@dataclass(frozen=True)
class Condition:
    field: str
    operator: str
    values: tuple[str, ...]

    def holds(self, found: Iterable[str]) -> bool:
        if self.operator == "prefix":
            return any(value.startswith(self.values[0]) for value in found)
        return any(value in self.values for value in found)


@dataclass(frozen=True)
class DocumentFilter:
    conditions: tuple[Condition, ...]

    @classmethod
    def parse(cls, raw: Mapping | None) -> DocumentFilter | None:
        """A filter from its JSON form; None when there is none. InvalidQuestion says what is wrong."""
        if raw is None or raw == {}:
            return None
        if not isinstance(raw, Mapping):
            raise InvalidQuestion("filter must be an object of field: condition.")
        if len(raw) > MAX_CONDITIONS:
            raise InvalidQuestion(f"filter has {len(raw)} fields; the limit is {MAX_CONDITIONS}.")
        return cls(tuple(_condition(str(name), condition) for name, condition in raw.items()))

    def admits(self, fields: Mapping[str, str | list[str]]) -> bool:
        for condition in self.conditions:
            value = fields.get(condition.field)
            found = value if isinstance(value, list) else [] if value is None else [value]
            if not condition.holds(found):
                return False
        return True


def _condition(name: str, raw: object) -> Condition:
    if isinstance(raw, str):
        return Condition(name, "eq", _strings(name, [raw]))
    if isinstance(raw, list):
        return Condition(name, "in", _strings(name, raw))
    if isinstance(raw, Mapping) and len(raw) == 1:
        ((operator, value),) = raw.items()
        if operator == "in" and isinstance(value, list):
            return Condition(name, "in", _strings(name, value))
        if operator in ("eq", "prefix") and isinstance(value, str):
            return Condition(name, operator, _strings(name, [value]))
    raise InvalidQuestion(
        f"filter.{name}: use a string (equal), a list (any of), or one of "
        '{"eq": "..."}, {"in": ["...", ...]}, {"prefix": "..."}.'
    )


def _strings(name: str, values: list) -> tuple[str, ...]:
    if not all(isinstance(value, str) for value in values):
        raise InvalidQuestion(f"filter.{name}: every value must be a string.")
    if not all(valid_unicode(value) for value in [name, *values]):
        raise InvalidQuestion(f"filter.{name!a}: not valid Unicode (a lone surrogate).")
    if len(values) > MAX_VALUES:
        raise InvalidQuestion(f"filter.{name}: {len(values)} values; the limit is {MAX_VALUES}.")
    return tuple(values)
