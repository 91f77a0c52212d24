"""SourceDocument -> Chunks with exact start/end offsets into the document's text."""

from __future__ import annotations

from dataclasses import dataclass

from langchain_text_splitters import RecursiveCharacterTextSplitter

from assistant.ingest.loading import SourceDocument

# Paragraphs, then lines, then sentence ends, then words: chunks break where a reader would.
SEPARATORS = ["\n\n", "\n", r"(?<=[.!?])\s+", " ", ""]


@dataclass(frozen=True)
class Chunk:
    id: str
    source: str
    index: int
    start: int
    end: int
    text: str
    page: int | None = None


class ChunkTooLong(RuntimeError):
    """A chunk would be truncated by the embedding model: a bug, never silently accepted."""


class Chunker:
    """Splits documents into chunks that fit the embedding model's window, counted in its tokens."""

    def __init__(self, tokenizer, chunk_tokens: int, overlap_tokens: int, window: int) -> None:
        # [CLS] and [SEP] take two places in the model's window.
        self._budget = window - 2
        if chunk_tokens > self._budget:
            raise ValueError(f"chunk_tokens={chunk_tokens} exceeds the model window ({self._budget} tokens)")
        if overlap_tokens >= chunk_tokens:
            raise ValueError("chunk_overlap_tokens must be smaller than chunk_tokens")
        self._tokenizer = tokenizer
        self._splitter = RecursiveCharacterTextSplitter.from_huggingface_tokenizer(
            tokenizer,
            chunk_size=chunk_tokens,
            chunk_overlap=overlap_tokens,
            separators=SEPARATORS,
            is_separator_regex=True,
            keep_separator="end",
        )

    def token_count(self, text: str) -> int:
        return len(self._tokenizer.tokenize(text))

    def split(self, document: SourceDocument) -> list[Chunk]:
        chunks: list[Chunk] = []
        # A segment (a CSV row) is a passage of its own: split inside it when too long, never
        # merged with its neighbours.
        for segment_start, segment_end in document.segments or ((0, len(document.text)),):
            segment = document.text[segment_start:segment_end]
            search_from = 0
            for piece in self._splitter.split_text(segment):
                piece_start = _locate(segment, piece, search_from)
                begin = segment_start + piece_start
                for start, end in self._fit(document.text, begin, begin + len(piece)):
                    chunks.append(
                        Chunk(
                            id=f"{document.id}#{len(chunks)}",
                            source=document.id,
                            index=len(chunks),
                            start=start,
                            end=end,
                            text=document.text[start:end],
                            page=document.page_at(start),
                        )
                    )
                search_from = piece_start + 1
        return chunks

    def _fit(self, text: str, start: int, end: int) -> list[tuple[int, int]]:
        """Halve a span at whitespace until every part fits the window.

        The splitter sums token counts of pieces, and a joined text can tokenize longer than
        its parts: rare, but a truncated chunk is unsearchable text, so check every one.
        """
        if self.token_count(text[start:end]) <= self._budget:
            return [(start, end)]
        middle = (start + end) // 2
        cut = text.rfind(" ", start + 1, middle + 1)
        if cut <= start:
            cut = middle
        if cut <= start or cut >= end:
            raise ChunkTooLong(f"cannot split span {start}:{end} to fit {self._budget} tokens")
        left_end = cut
        right_start = cut
        while right_start < end and text[right_start].isspace():
            right_start += 1
        return self._fit(text, start, left_end) + self._fit(text, right_start, end)


def _locate(text: str, piece: str, search_from: int) -> int:
    """Where the splitter's piece lies in the text; the splitter returns pieces in order."""
    position = text.find(piece, search_from)
    if position < 0:
        position = text.find(piece)
    if position < 0:
        raise ValueError("text splitter returned a piece that is not in the document")
    return position
