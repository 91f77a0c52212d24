"""Hardening, third round: the documents API under attack (issue items by number)."""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest

from assistant import uploads
from assistant.errors import CollectionExists, InvalidQuestion, UploadRefused
from assistant.evaluation import gate
from assistant.filters import DocumentFilter
from assistant.library import Library, check_name
from assistant.settings import Settings
from assistant.uploads import SourceChange, check_content, name_conflicts, parse_metadata, safe_name
from tests.conftest import REPO


# 3. Zip members that lie about their size.
def _liar_docx(inflated: int) -> bytes:
    """A .docx whose [Content_Types].xml says 1 KB and inflates to `inflated` bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", b"<w:document/>")
        with archive.open("[Content_Types].xml", "w") as member:
            piece = b"<a/>" * (1 << 18)
            for _ in range(inflated // len(piece)):
                member.write(piece)
    data = bytearray(buffer.getvalue())
    info = zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo("[Content_Types].xml")
    # The uncompressed size in its local header and in its central directory entry (the last one).
    for offset in (info.header_offset + 22, data.rfind(b"PK\x01\x02") + 24):
        struct.pack_into("<I", data, offset, 1024)
    return bytes(data)


def test_a_member_that_lies_about_its_size_is_refused_within_bounded_memory(tmp_path: Path):
    liar = tmp_path / "liar.docx"
    liar.write_bytes(_liar_docx(300 << 20))
    script = (
        "import resource, sys\n"
        "from assistant import uploads\n"
        "from assistant.errors import UploadRefused\n"
        "data = open(sys.argv[1], 'rb').read()\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "try:\n    uploads.check_content('liar.docx', data)\n    print('accepted')\n"
        "except UploadRefused as error:\n    print('refused', error.status, error)\n"
        "print('grew_mb', (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(liar)], cwd=REPO, capture_output=True, text=True)
    assert done.stdout.startswith("refused"), done.stdout + done.stderr
    grew = int(done.stdout.split("grew_mb")[1])
    assert grew < 64, f"checking the upload took {grew} MB more"


# 7. A file replaces a folder of documents (and the reverse).
def test_a_name_that_turns_a_folder_into_a_file_or_back_is_a_conflict(tmp_path: Path):
    (tmp_path / "x.txt").mkdir()
    (tmp_path / "x.txt" / "inner1.txt").write_text("one")
    (tmp_path / "aa.txt").write_text("v1")
    assert name_conflicts(tmp_path, ["x.txt"]) == ["x.txt is a folder of documents; delete them first"]
    assert name_conflicts(tmp_path, ["aa.txt/under.txt"]) == [
        "aa.txt/under.txt would go under aa.txt, which is a document"
    ]
    assert name_conflicts(tmp_path, ["n.txt", "n.txt/b.txt"]) == [
        "n.txt/b.txt would go under n.txt, which is a document"
    ]
    assert name_conflicts(tmp_path, ["x.txt/inner2.txt", "aa.txt"]) == []


# 6. A failed job restores the folder, whatever step failed.
def _tree(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): p.read_text()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".incoming" not in p.parts
    }


@pytest.mark.parametrize("failing_step", range(6))
def test_undo_puts_the_folder_back_whichever_step_failed(tmp_path: Path, monkeypatch, failing_step):
    sources = tmp_path / "sources"
    (sources / "x.txt").mkdir(parents=True)
    (sources / "aa.txt").write_text("v1")
    (sources / "x.txt" / "keep.txt").write_text("kept")
    (sources / ".metadata").mkdir()
    (sources / ".metadata" / "aa.txt.json").write_text('{"title": "old"}')
    before = _tree(sources)
    change = SourceChange(sources, sources / ".incoming" / "job")
    change.stage("aa.txt", b"v2", {"title": "new"})
    change.stage("new.txt", b"fresh", {})
    calls = {"n": 0}
    real_replace = os.replace

    def flaky_replace(source, target):
        calls["n"] += 1
        if calls["n"] == failing_step + 1:
            raise OSError(5, "injected failure")
        return real_replace(source, target)

    monkeypatch.setattr(uploads.os, "replace", flaky_replace)
    with pytest.raises(OSError):
        change.place_staged()
    monkeypatch.setattr(uploads.os, "replace", real_replace)
    change.undo()
    assert _tree(sources) == before


def test_undo_carries_on_past_a_step_that_cannot_be_undone(tmp_path: Path):
    """Item 6's repro: a staged path under an existing file fails with NotADirectoryError."""
    sources = tmp_path / "sources"
    sources.mkdir()
    (sources / "aa.txt").write_text("v1")
    (sources / "x.txt").write_text("a file")
    before = _tree(sources)
    change = SourceChange(sources, sources / ".incoming" / "job")
    change.stage("aa.txt", b"v2", {})
    change.stage("x.txt/under.txt", b"under", {})
    with pytest.raises(OSError):
        change.place_staged()
    change.undo()
    assert _tree(sources) == before


# 9. Lone surrogates; 12. deep metadata; 14. limits enforced at upload.
def test_a_lone_surrogate_in_metadata_or_a_filter_is_refused():
    with pytest.raises(UploadRefused) as refused:
        parse_metadata(json.dumps({"title": "\ud800"}, ensure_ascii=True))
    assert refused.value.status == 422
    with pytest.raises(UploadRefused):
        parse_metadata(json.dumps({"\udfff": "x"}, ensure_ascii=True))
    with pytest.raises(InvalidQuestion):
        DocumentFilter.parse({"title": "\ud800"})
    with pytest.raises(InvalidQuestion):
        DocumentFilter.parse({"tags": {"in": ["ok", "\ud800"]}})


@pytest.mark.parametrize("raw", ['{"a": ' + "[" * 1500 + "]" * 1500 + "}", "[" * 60000])
def test_deep_metadata_is_a_400_not_a_recursion_error(raw):
    with pytest.raises(UploadRefused) as refused:
        parse_metadata(raw)
    assert refused.value.status in (400, 413)


def test_metadata_over_the_limit_and_a_late_nul_are_refused_at_upload():
    with pytest.raises(UploadRefused) as big:
        parse_metadata(json.dumps({"title": "x" * 70000}))
    assert big.value.status == 413
    with pytest.raises(UploadRefused) as nul:
        check_content("notes.txt", b"plain text\n" * 7000 + b"\0 hidden")
    assert nul.value.status == 415


# 10. Over-long name parts; 15. look-alike names.
def test_a_name_part_the_file_system_cannot_hold_is_refused_naming_the_limit():
    with pytest.raises(UploadRefused, match="at most 200 bytes"):
        safe_name("a" * 247 + ".txt")


@pytest.mark.parametrize("name", ["invoice\u202efdp.txt", "zero\u200bwidth.txt", "line\u2028sep.txt", "bell\x07.txt"])
def test_names_with_invisible_characters_are_refused(name):
    with pytest.raises(UploadRefused, match="control, format or separator"):
        safe_name(name)


def test_names_are_normalized_to_one_spelling():
    assert safe_name("cafe\u0301.txt") == safe_name("caf\u00e9.txt") == "caf\u00e9.txt"


def test_a_failed_staging_leaves_nothing_behind(tmp_path: Path):
    change = SourceChange(tmp_path, tmp_path / ".incoming" / "job")
    change.stage("fine.txt", b"ok", {})
    with pytest.raises(OSError):
        change.stage("b" * 260 + ".txt", b"too long for the file system", {})
    change.discard()
    assert not (tmp_path / ".incoming" / "job").exists()


# 13. Collection names; 17. concurrent creates.
@pytest.mark.parametrize("name", ["legal\n", "legal\r\n", "\nlegal"])
def test_a_collection_name_with_a_newline_is_refused(name):
    with pytest.raises(InvalidQuestion):
        check_name(name)


def test_of_two_concurrent_creates_one_gets_a_conflict_not_a_crash(tmp_path: Path):
    library = Library(Settings(sources_dir=tmp_path / "sources", index_dir=tmp_path / "index"), build=None)
    (tmp_path / "sources").mkdir()
    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    def create() -> None:
        barrier.wait()
        try:
            library.create("race")
            outcomes.append("created")
        except CollectionExists:
            outcomes.append("exists")
        except Exception as error:  # noqa: BLE001 - what the test is looking for
            outcomes.append(type(error).__name__)

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["created"] + ["exists"] * 7


# 22. The eval gate never passes vacuously.
def test_the_gate_fails_without_its_thresholds_file(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="thresholds"):
        gate.load_thresholds(tmp_path / "missing.json")
    (tmp_path / "empty.json").write_text('{"min": {}, "max": {}}')
    with pytest.raises(ValueError, match="sets no thresholds"):
        gate.load_thresholds(tmp_path / "empty.json")


def test_assistant_eval_outside_the_repo_root_fails_naming_the_file(tmp_path: Path):
    done = subprocess.run(
        [str(Path(sys.executable).parent / "assistant"), "eval", "--questions", str(REPO / "eval" / "questions.jsonl")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "thresholds.json" in done.stderr and "missing" in done.stderr
