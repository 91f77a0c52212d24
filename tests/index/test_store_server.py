"""The same index and answers through a real `chroma run` server (ASSISTANT_CHROMA_URL)."""

import pytest

from assistant.errors import StoreUnavailable
from tests.servers import chroma_server, free_port

pytestmark = [pytest.mark.server, pytest.mark.slow]


def test_index_and_answer_through_a_chroma_server(corpus, make_assistant, tmp_path):
    with chroma_server(tmp_path / "chroma-data") as url:
        assistant = make_assistant(corpus, chroma_url=url)
        report = assistant.indexer().rebuild()
        assert report.added == 1 and report.chunks > 0
        assert not (tmp_path / "index" / "generations" / report.generation / "chroma").exists()

        answer = assistant.ask_text("How many guests attended the First Congress of World Azerbaijanis?")
        assert "63" in answer.text
        index = assistant.handle.current()
        assert all(index.texts[c.source][c.start : c.end] == c.text for c in answer.citations)

        # An edit re-embeds only the edited file and the server holds no stale chunks.
        (corpus / "extra.txt").write_text("The lighthouse keeper counted forty ships in the storm.")
        second = assistant.indexer().rebuild()
        assert (second.added, second.unchanged, second.embedded) == (1, 1, 1)
        assert "forty ships" in assistant.ask_text("How many ships did the lighthouse keeper count?").text


def test_an_unreachable_chroma_server_is_a_clear_error(corpus, make_assistant):
    assistant = make_assistant(corpus, chroma_url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(StoreUnavailable, match="Chroma"):
        assistant.indexer().rebuild()


def test_each_collection_gets_its_own_chroma_collections(corpus, embeddings, tmp_path):
    import chromadb

    from assistant.service.assembly import build_library
    from assistant.settings import Settings

    (corpus.parent / "hr").mkdir()
    (corpus.parent / "hr" / "leave.txt").write_text("Staff get 25 days of paid leave a year.")
    with chroma_server(tmp_path / "chroma-data") as url:
        library = build_library(
            Settings(sources_dir=corpus.parent, index_dir=tmp_path / "index", chroma_url=url), embeddings=embeddings
        )
        default, hr = library.get("default").indexer().rebuild(), library.get("hr").indexer().rebuild()
        host, port = url.removeprefix("http://").split(":")
        names = {c.name for c in chromadb.HttpClient(host=host, port=int(port)).list_collections()}
        assert names == {f"assistant-{default.generation}", f"assistant-hr-{hr.generation}"}
        assert "25 days" in library.get("hr").ask_text("How many days of paid leave do staff get?").text
        assert library.get("default").ask_text("How many days of paid leave do staff get?").abstained
        library.delete("hr")
        names = {c.name for c in chromadb.HttpClient(host=host, port=int(port)).list_collections()}
        assert names == {f"assistant-{default.generation}"}
