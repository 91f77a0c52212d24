"""Ingest: a file -> text with offsets.

Enters: a document's bytes (a sources folder's files, or an upload). Leaves: `SourceDocument`
(text, title, pages, metadata) for analysis and the index. Loading and checks (loading, uploads),
the formats (formats, pdf_layout, ocr) and the parse budget (parse_budget).
Imports: the shared modules (settings, errors) only; no other stage.
"""
