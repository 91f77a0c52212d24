"""Uploaded files: safe names, allowed types (by content), and changes to a collection's sources
that can be undone when the rebuild that follows them fails."""

from __future__ import annotations

import codecs
import io
import json
import logging
import os
import shutil
import unicodedata
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from assistant.errors import SourceUnreadable, UploadRefused
from assistant.ingest import formats
from assistant.ingest.loading import MAX_METADATA_BYTES, METADATA_DIR, metadata_path, valid_metadata, valid_unicode

# Uploads wait here, inside the collection's folder (so placing them is one rename), hidden from
# the scan. What a restart leaves here is thrown away: its jobs are gone with the process.
INCOMING_DIR = ".incoming"
logger = logging.getLogger(__name__)
# File systems allow 255 bytes a name; a document's metadata is stored as "<name>.json".
MAX_PART_BYTES = 200
MAX_NAME_BYTES = 512
_INVISIBLE = frozenset({"Cc", "Cf", "Zl", "Zp"})


def _copy_bounded(source: BinaryIO, target: Path, doc_id: str, max_bytes: int | None) -> None:
    written = 0
    with open(target, "wb") as out:
        while piece := source.read(_PIECE):
            written += len(piece)
            if max_bytes is not None and written > max_bytes:
                raise UploadRefused(
                    f"{doc_id} is over {max_bytes} bytes (ASSISTANT_MAX_UPLOAD_BYTES).", 413, "too_large"
                )
            out.write(piece)


def staged_bytes(sources_dir: Path) -> int:
    """What uploads to a collection hold staged now, waiting for their jobs."""
    root = sources_dir / INCOMING_DIR
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) if root.is_dir() else 0


def _clear(path: Path) -> None:
    try:
        if path.is_symlink() or path.is_file():
            path.unlink()
        elif path.is_dir():
            shutil.rmtree(path)
    except FileNotFoundError:
        pass
    except NotADirectoryError:  # a file stands where the path's folder would be: nothing to clear
        pass


def name_conflicts(sources_dir: Path, names: list[str]) -> list[str]:
    """Names that would turn a folder of documents into a file or the reverse: "x.txt" when
    "x.txt/inner.txt" exists, "x.txt/under.txt" when the file "x.txt" exists, or both in one request."""
    problems = []
    wanted = set(names)
    for name in names:
        parts = name.split("/")
        for i in range(1, len(parts)):
            prefix = "/".join(parts[:i])
            if (sources_dir / prefix).is_file() or (sources_dir / prefix).is_symlink() or prefix in wanted:
                problems.append(f"{name} would go under {prefix}, which is a document")
        if (sources_dir / name).is_dir():
            problems.append(f"{name} is a folder of documents; delete them first")
    return problems


def safe_name(name: str | None) -> str:
    """The document id an upload may take: a relative path with no way out of the collection."""
    if not name or not name.strip():
        raise UploadRefused("An uploaded file has no name.")
    if not valid_unicode(name):
        raise UploadRefused(f"File name {name!a} is not valid Unicode (a lone surrogate).")
    # Control, format (a right-to-left override, a zero-width space) and line/paragraph separators
    # make names that look like others, or break a log line.
    if any(unicodedata.category(c) in _INVISIBLE for c in name):
        raise UploadRefused(
            f"File name {name!a} holds control, format or separator characters (NUL, U+202E, U+200B, U+2028...)."
        )
    # One spelling per name: "café" typed precomposed (NFC) or decomposed (NFD) is one document.
    name = unicodedata.normalize("NFC", name)
    if "\\" in name or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise UploadRefused(f"File name {name!a} is absolute or uses backslashes: send a relative name.")
    parts = name.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise UploadRefused(f"File name {name!a} has an empty, '.' or '..' part.")
    if any(part.startswith(".") for part in parts):
        raise UploadRefused(f"File name {name!a} is hidden (starts with '.'), and hidden files are not indexed.")
    if len(name.encode()) > MAX_NAME_BYTES or any(len(part.encode()) > MAX_PART_BYTES for part in parts):
        raise UploadRefused(
            f"File name {name[:80]!a}... is too long: at most {MAX_PART_BYTES} bytes (UTF-8) a part "
            f"and {MAX_NAME_BYTES} in all."
        )
    if Path(name).suffix.lower() not in formats.SUFFIXES:
        allowed = ", ".join(formats.SUFFIXES)
        raise UploadRefused(f"{name}: unsupported type; allowed: {allowed}.", status=415, code="unsupported_type")
    return name


def check_content(name: str, data: bytes | BinaryIO) -> None:
    """The bytes (or a seekable file of them) must be what the name says: a .pdf that is an
    executable is refused (415). Files are read in pieces: a staged upload is never held whole."""
    handle = io.BytesIO(data) if isinstance(data, bytes | bytearray) else data
    suffix = Path(name).suffix.lower()
    handle.seek(0)
    problem = _content_problem(suffix, handle)
    if problem:
        raise UploadRefused(f"{name}: {problem}", status=415, code="unsupported_type")
    if suffix in (".docx", ".pptx", ".epub"):
        try:
            handle.seek(0)
            formats.check_archive(handle)
        except SourceUnreadable as error:
            raise UploadRefused(f"{name}: {error}", status=413, code="archive_too_large") from None


_ZIP_MEMBER = {".docx": "word/document.xml", ".pptx": "ppt/presentation.xml", ".epub": "META-INF/container.xml"}
_PIECE = 1 << 20


def _content_problem(suffix: str, handle: BinaryIO) -> str | None:
    head = handle.read(8)
    if suffix == ".pdf":
        return None if head.startswith(b"%PDF-") else "not a PDF (no %PDF- header)"
    if suffix in _ZIP_MEMBER:
        if not head.startswith(b"PK\x03\x04"):
            return f"not a {suffix} file (not a ZIP container)"
        try:
            handle.seek(0)
            names = set(zipfile.ZipFile(handle).namelist())
        except zipfile.BadZipFile:
            return f"not a {suffix} file (a damaged ZIP container)"
        return None if _ZIP_MEMBER[suffix] in names else f"not a {suffix} file (no {_ZIP_MEMBER[suffix]})"
    # Text formats: text, not binary named .txt: no NUL anywhere, and UTF-8 throughout.
    handle.seek(0)
    decoder = codecs.getincrementaldecoder("utf-8")()
    utf8 = True
    while piece := handle.read(_PIECE):
        if b"\0" in piece:
            return f"not a {suffix} file (binary content)"
        if utf8:
            try:
                decoder.decode(piece)
            except UnicodeDecodeError:
                utf8 = False
    if utf8:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            utf8 = False
    if not utf8 and suffix not in (".html", ".htm"):  # pages may declare another charset
        return f"not a {suffix} file (not UTF-8 text)"
    return None


def parse_metadata(raw: str | None) -> dict:
    """Refused at upload for what would otherwise be dropped at index time: over the size limit,
    nested (RecursionError deep down), or not valid Unicode."""
    if raw is None or not raw.strip():
        return {}
    if not valid_unicode(raw):
        raise UploadRefused("metadata: not valid Unicode (a lone surrogate such as \\ud800).", 422, "invalid_metadata")
    if len(raw.encode()) > MAX_METADATA_BYTES:
        raise UploadRefused(f"metadata: over {MAX_METADATA_BYTES} bytes.", 413, "too_large")
    try:
        parsed = json.loads(raw)
    except RecursionError:
        raise UploadRefused("metadata: nested too deep; give an object of strings or lists of strings.") from None
    except ValueError as error:
        raise UploadRefused(f"metadata: {error}") from None
    try:
        return valid_metadata(parsed)
    except ValueError as error:
        raise UploadRefused(f"metadata: {error}", 422, "invalid_metadata") from None


@dataclass
class SourceChange:
    """Files placed in or removed from a collection's folder, undoable until committed."""

    sources_dir: Path
    work_dir: Path  # sources/<c>/.incoming/<job>: staged uploads and the backups of what they replace
    _undo: list[tuple[Path, Path | None]] = field(default_factory=list)  # (path, backup or None=new)

    def stage(self, doc_id: str, data: bytes | BinaryIO, metadata: dict, max_bytes: int | None = None) -> Path:
        """Write one upload (bytes, or a file copied in pieces up to `max_bytes`: 413 beyond)."""
        staged = self.work_dir / "staged" / doc_id
        staged.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, bytes | bytearray):
            staged.write_bytes(data)
        else:
            _copy_bounded(data, staged, doc_id, max_bytes)
        self._write_metadata(doc_id, metadata)
        return staged

    def _write_metadata(self, doc_id: str, metadata: dict) -> None:
        meta = self.work_dir / "staged" / METADATA_DIR / f"{doc_id}.json"
        meta.parent.mkdir(parents=True, exist_ok=True)
        meta.write_text(json.dumps(metadata))

    def staged_ids(self) -> list[str]:
        root = self.work_dir / "staged"
        return sorted(
            p.relative_to(root).as_posix()
            for p in root.rglob("*")
            if p.is_file() and p.relative_to(root).parts[0] != METADATA_DIR
        )

    def place_staged(self) -> None:
        """Move every staged file (and its metadata) into the collection, over what was there."""
        root = self.work_dir / "staged"
        for doc_id in self.staged_ids():
            self._replace(self.sources_dir / doc_id, root / doc_id)
            self._replace(metadata_path(self.sources_dir, doc_id), root / METADATA_DIR / f"{doc_id}.json")

    def remove(self, doc_id: str) -> None:
        for path in (self.sources_dir / doc_id, metadata_path(self.sources_dir, doc_id)):
            if path.exists() or path.is_symlink():
                self._replace(path, None)

    def _replace(self, target: Path, new: Path | None) -> None:
        backup = None
        if target.exists() or target.is_symlink():
            backup = self.work_dir / "backup" / str(len(self._undo))
            backup.parent.mkdir(parents=True, exist_ok=True)
            os.replace(target, backup)
        self._undo.append((target, backup))
        if new is not None:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(new, target)

    def undo(self) -> None:
        """Every step back, whatever failed on the way forward or fails now: one step that cannot
        be undone (logged) does not stop the others."""
        for target, backup in reversed(self._undo):
            try:
                _clear(target)  # what the step put there, if it got that far
                if backup is not None:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(backup, target)
            except OSError as error:
                logger.error("Could not put %s back: %s", target, error)
        self._undo.clear()

    def discard(self) -> None:
        shutil.rmtree(self.work_dir, ignore_errors=True)
