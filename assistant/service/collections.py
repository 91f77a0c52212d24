"""Collections: named sets of documents, each with its own sources folder and index generations.

    sources/<collection>/...        what the collection answers from (the sample is in `default`)
    index/                          the default collection's generations (where they always were)
    index/collections/<name>/       every other collection's
    Chroma                          one collection per generation, named after the collection

The model, the answer model and the LLM client are loaded once and shared by all collections.
"""

from __future__ import annotations

import re
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from assistant.errors import CollectionExists, CollectionNotFound, InvalidQuestion
from assistant.index import store
from assistant.index.catalog import Catalog
from assistant.settings import Settings

DEFAULT = "default"
# Lower-case letters, digits, "-" and "_": safe as a folder, a URL segment and a Chroma name.
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,47}")


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name):  # match() would take "legal\n": "$" matches before a final newline
        raise InvalidQuestion(
            f"Collection name {name[:60]!r} is not valid: use 1-48 lower-case letters, digits, '-' or '_', "
            "starting with a letter or digit."
        )
    return name


def sources_dir(settings: Settings, name: str) -> Path:
    return settings.sources_dir / name


def catalog_for(settings: Settings, name: str) -> Catalog:
    if name == DEFAULT:
        return Catalog(settings.index_dir, settings.chroma_url, settings.collection_prefix)
    return Catalog(
        settings.index_dir / "collections" / name, settings.chroma_url, f"{settings.collection_prefix}-{name}"
    )


class Library:
    """Every collection's Assistant, built on first use from the shared heavy parts."""

    def __init__(self, settings: Settings, build) -> None:
        self.settings = settings
        self._build = build  # (name) -> Assistant for that collection
        self._assistants: dict = {}
        self._lock = threading.Lock()
        # Held while a collection's folder is deleted, and while an upload stages into it: an
        # upload cannot bring a deleted collection back, nor a delete remove half an upload.
        self._structure = threading.RLock()

    @contextmanager
    def changing(self, name: str) -> Iterator[None]:
        with self._structure:
            if not self.exists(name):
                raise CollectionNotFound(f"No collection {name!r}.")
            yield

    def names(self) -> list[str]:
        root = self.settings.sources_dir
        found = {p.name for p in root.iterdir() if p.is_dir() and _NAME.fullmatch(p.name)} if root.is_dir() else set()
        return sorted(found | {DEFAULT})

    def exists(self, name: str) -> bool:
        return name == DEFAULT or sources_dir(self.settings, name).is_dir()

    def get(self, name: str = DEFAULT):
        check_name(name)
        if not self.exists(name):
            raise CollectionNotFound(f"No collection {name!r}: create it with POST /collections.")
        with self._lock:
            if name not in self._assistants:
                self._assistants[name] = self._build(name)
            return self._assistants[name]

    def adopt(self, assistant) -> None:
        """Serve an assistant built elsewhere as its collection."""
        with self._lock:
            self._assistants[assistant.collection] = assistant

    def create(self, name: str) -> None:
        check_name(name)
        folder = sources_dir(self.settings, name)
        folder.parent.mkdir(parents=True, exist_ok=True)
        try:  # one atomic step: of two concurrent creates, the second gets 409, not a 500
            folder.mkdir()
        except FileExistsError:
            raise CollectionExists(f"Collection {name!r} already exists.") from None

    def discard_incoming(self) -> None:
        for name in self.names():
            shutil.rmtree(sources_dir(self.settings, name) / ".incoming", ignore_errors=True)

    def delete(self, name: str) -> None:
        """Its documents, every generation of its index, and its vectors go; `default` stays."""
        check_name(name)
        if name == DEFAULT:
            raise InvalidQuestion("The default collection cannot be deleted; delete its documents instead.")
        with self._structure:
            if not self.exists(name):
                raise CollectionNotFound(f"No collection {name!r}.")
            self._delete(name)

    def _delete(self, name: str) -> None:
        catalog = catalog_for(self.settings, name)
        with catalog.rebuild_lock():
            with self._lock:
                assistant = self._assistants.pop(name, None)
            if assistant is not None:
                assistant.handle.close()
            for generation in catalog.generations():
                store.drop(catalog.location(generation))
            shutil.rmtree(sources_dir(self.settings, name), onerror=_gone_is_fine)
        shutil.rmtree(catalog.index_dir, ignore_errors=True)


def _gone_is_fine(function, path, error_info) -> None:
    """rmtree's error handler: a file that vanished meanwhile (a job's staging cleaned up) is fine."""
    if not isinstance(error_info[1], FileNotFoundError):
        raise error_info[1]
