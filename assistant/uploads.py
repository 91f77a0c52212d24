"""Uploaded files: safe names, allowed types (by content), and changes to a collection's sources
that can be undone when the rebuild that follows them fails."""

from __future__ import annotations

import io
import json
import os
import shutil
import unicodedata
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from assistant import formats
from assistant.errors import SourceUnreadable, UploadRefused
from assistant.loading import METADATA_DIR, metadata_path, valid_metadata

# Uploads wait here, inside the collection's folder (so placing them is one rename), hidden from
# the scan. What a restart leaves here is thrown away: its jobs are gone with the process.
INCOMING_DIR = ".incoming"


def safe_name(name: str | None) -> str:
    """The document id an upload may take: a relative path with no way out of the collection."""
    if not name or not name.strip():
        raise UploadRefused("An uploaded file has no name.")
    if any(unicodedata.category(c) == "Cc" for c in name):
        raise UploadRefused(f"File name {name!a} holds control characters or NUL.")
    if "\\" in name or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise UploadRefused(f"File name {name!a} is absolute or uses backslashes: send a relative name.")
    parts = name.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise UploadRefused(f"File name {name!a} has an empty, '.' or '..' part.")
    if any(part.startswith(".") for part in parts):
        raise UploadRefused(f"File name {name!a} is hidden (starts with '.'), and hidden files are not indexed.")
    if len(name.encode()) > 512 or any(len(part.encode()) > 255 for part in parts):
        raise UploadRefused(f"File name {name[:80]!a}... is too long.")
    if Path(name).suffix.lower() not in formats.SUFFIXES:
        allowed = ", ".join(formats.SUFFIXES)
        raise UploadRefused(f"{name}: unsupported type; allowed: {allowed}.", status=415, code="unsupported_type")
    return name


def check_content(name: str, data: bytes) -> None:
    """The bytes must be what the name says: a .pdf that is an executable is refused (415)."""
    suffix = Path(name).suffix.lower()
    problem = _content_problem(suffix, data)
    if problem:
        raise UploadRefused(f"{name}: {problem}", status=415, code="unsupported_type")
    if suffix in (".docx", ".pptx", ".epub"):
        try:
            formats.check_archive(data)
        except SourceUnreadable as error:
            raise UploadRefused(f"{name}: {error}", status=413, code="archive_too_large") from None


_ZIP_MEMBER = {".docx": "word/document.xml", ".pptx": "ppt/presentation.xml", ".epub": "META-INF/container.xml"}


def _content_problem(suffix: str, data: bytes) -> str | None:
    if suffix == ".pdf":
        return None if data.startswith(b"%PDF-") else "not a PDF (no %PDF- header)"
    if suffix in _ZIP_MEMBER:
        if not data.startswith(b"PK\x03\x04"):
            return f"not a {suffix} file (not a ZIP container)"
        try:
            names = set(zipfile.ZipFile(io.BytesIO(data)).namelist())
        except zipfile.BadZipFile:
            return f"not a {suffix} file (a damaged ZIP container)"
        return None if _ZIP_MEMBER[suffix] in names else f"not a {suffix} file (no {_ZIP_MEMBER[suffix]})"
    # Text formats: text, not binary named .txt.
    if b"\0" in data[:65536]:
        return f"not a {suffix} file (binary content)"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        if suffix not in (".html", ".htm"):  # pages may declare another charset
            return f"not a {suffix} file (not UTF-8 text)"
    return None


def parse_metadata(raw: str | None) -> dict:
    if raw is None or not raw.strip():
        return {}
    try:
        return valid_metadata(json.loads(raw))
    except ValueError as error:
        raise UploadRefused(f"metadata: {error}") from None


@dataclass
class SourceChange:
    """Files placed in or removed from a collection's folder, undoable until committed."""

    sources_dir: Path
    work_dir: Path  # sources/<c>/.incoming/<job>: staged uploads and the backups of what they replace
    _undo: list[tuple[Path, Path | None]] = field(default_factory=list)  # (path, backup or None=new)

    def stage(self, doc_id: str, data: bytes, metadata: dict) -> None:
        staged = self.work_dir / "staged" / doc_id
        staged.parent.mkdir(parents=True, exist_ok=True)
        staged.write_bytes(data)
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
        for target, backup in reversed(self._undo):
            if backup is not None:
                os.replace(backup, target)
            else:
                target.unlink(missing_ok=True)
        self._undo.clear()

    def discard(self) -> None:
        shutil.rmtree(self.work_dir, ignore_errors=True)
