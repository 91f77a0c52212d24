"""SQuAD 2.0 articles as documents a user would bring, in four formats, and their questions.

The articles of ../shared/benchmarks/squad2/dev-public.json are written as plain text (one
paragraph per block), as text hard-wrapped at 72 columns, as HTML with inline links and bold,
and as PDF. Questions keep their article, gold answers, plausible (wrong) answers of the
unanswerable ones, and the paragraph they were written on.
"""

from __future__ import annotations

import html
import json
import re
import string
import textwrap
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "benchmarks" / "squad2" / "dev-public.json"
FORMATS = ("txt", "wrapped", "html", "pdf", "docx", "epub")
SUFFIX = {"txt": ".txt", "wrapped": ".txt", "html": ".html", "pdf": ".pdf", "docx": ".docx", "epub": ".epub"}


@dataclass(frozen=True)
class Article:
    title: str
    paragraphs: tuple[str, ...]


@dataclass(frozen=True)
class SquadQuestion:
    id: str
    article: str
    question: str
    answers: tuple[str, ...]  # gold answer texts; empty when unanswerable
    plausible: tuple[str, ...]  # the wrong span an unanswerable question was written to tempt
    paragraph: str  # the context the question was written on

    @property
    def answerable(self) -> bool:
        return bool(self.answers)


def load(path: Path = DATA) -> tuple[list[Article], list[SquadQuestion]]:
    data = json.loads(path.read_text())["data"]
    articles, questions = [], []
    for entry in data:
        title = entry["title"].replace("_", " ")
        paragraphs = tuple(p["context"].strip() for p in entry["paragraphs"])
        articles.append(Article(title, paragraphs))
        for paragraph in entry["paragraphs"]:
            for qa in paragraph["qas"]:
                questions.append(
                    SquadQuestion(
                        id=qa["id"],
                        article=title,
                        question=qa["question"].strip(),
                        answers=tuple(dict.fromkeys(a["text"] for a in qa["answers"])),
                        plausible=tuple(dict.fromkeys(a["text"] for a in qa.get("plausible_answers", []))),
                        paragraph=paragraph["context"].strip(),
                    )
                )
    return articles, questions


def split(articles: list[Article]) -> tuple[set[str], set[str]]:
    """Tune on the articles at even positions of the file, hold out the odd ones (as bench.scifact)."""
    titles = [a.title for a in articles]
    return set(titles[0::2]), set(titles[1::2])


# -- scoring (the benchmark README's rule) ----------------------------------------------------
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = set(string.punctuation)


def normalize(text: str) -> str:
    """SQuAD's own normalization: lower case, no punctuation, no a/an/the, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def holds(text: str, answers: tuple[str, ...]) -> bool:
    """One of the gold answers appears inside the text, after normalization."""
    haystack = f" {normalize(text)} "
    return any(normalize(a) and f" {normalize(a)} " in haystack for a in answers)


def exact_match(prediction: str, answers: tuple[str, ...]) -> float:
    """SQuAD's exact match: the normalized prediction equals a normalized gold answer."""
    return float(any(normalize(prediction) == normalize(a) for a in answers))


def token_f1(prediction: str, answers: tuple[str, ...]) -> float:
    """SQuAD's token F1 against the best-matching gold answer."""
    predicted = normalize(prediction).split()
    best = 0.0
    for answer in answers:
        gold = normalize(answer).split()
        common = Counter(predicted) & Counter(gold)
        same = sum(common.values())
        if same:
            precision, recall = same / len(predicted), same / len(gold)
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


def shares_passage(cited: str, paragraph: str, n: int = 6) -> bool:
    """The cited text lies in the paragraph: they share a run of n words (whole, if shorter)."""
    cited_words, paragraph_words = normalize(cited).split(), normalize(paragraph).split()
    if len(cited_words) < n:
        return f" {' '.join(cited_words)} " in f" {' '.join(paragraph_words)} " if cited_words else False
    grams = {tuple(paragraph_words[i : i + n]) for i in range(len(paragraph_words) - n + 1)}
    return any(tuple(cited_words[i : i + n]) in grams for i in range(len(cited_words) - n + 1))


# -- rendering --------------------------------------------------------------------------------
def file_name(article: Article, fmt: str) -> str:
    return article.title.replace(" ", "_") + SUFFIX[fmt]


def render(article: Article, fmt: str, target: Path) -> Path:
    path = target / file_name(article, fmt)
    if fmt == "txt":
        path.write_text(article.title + "\n\n" + "\n\n".join(article.paragraphs) + "\n")
    elif fmt == "wrapped":
        blocks = [textwrap.fill(p, 72) for p in article.paragraphs]
        path.write_text(article.title + "\n\n" + "\n\n".join(blocks) + "\n")
    elif fmt == "html":
        path.write_text(_html(article))
    elif fmt == "pdf":
        _pdf(article, path)
    elif fmt == "docx":
        _docx(article, path)
    elif fmt == "epub":
        _epub(article, path)
    else:
        raise ValueError(f"unknown format {fmt!r}")
    return path


# Names of two or more capitalized words become links and numbers bold, as on a wiki page.
_NAME = re.compile(r"\b[A-Z][\w'-]+(?: (?:of |the |de )?[A-Z][\w'-]+)+")
_NUMBER = re.compile(r"\b\d[\d,.]*\b")


def _inline_markup(paragraph: str) -> str:
    escaped = html.escape(paragraph, quote=False)
    linked = _NAME.sub(lambda m: f'<a href="/wiki/{m.group(0).replace(" ", "_")}">{m.group(0)}</a>', escaped)
    return _NUMBER.sub(lambda m: f"<b>{m.group(0)}</b>", linked)


def _html(article: Article) -> str:
    # Source lines wrapped at 100 columns: inside a <p> a line break is only a space.
    body = "\n".join(
        "<p>" + textwrap.fill(_inline_markup(p), 100, break_long_words=False, break_on_hyphens=False) + "</p>"
        for p in article.paragraphs
    )
    title = html.escape(article.title)
    return (
        f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{title}</title>"
        f"<style>p {{ margin: 1em; }}</style><script>var views = 0;</script></head>\n"
        f"<body><nav><a href='/'>Home</a></nav>\n<h1>{title}</h1>\n{body}\n</body></html>\n"
    )


def _pdf(article: Article, path: Path) -> None:
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import Paragraph, SimpleDocTemplate

    styles = getSampleStyleSheet()
    story = [Paragraph(html.escape(article.title), styles["Title"])]
    story += [Paragraph(html.escape(p), styles["BodyText"]) for p in article.paragraphs]
    SimpleDocTemplate(str(path), pagesize=A4, title=article.title, invariant=1).build(story)


def _docx(article: Article, path: Path) -> None:
    """As a word processor saves it: a title heading, then one paragraph a paragraph."""
    import docx

    document = docx.Document()
    document.core_properties.title = article.title
    document.add_heading(article.title, level=1)
    for paragraph in article.paragraphs:
        document.add_paragraph(paragraph)
    document.save(str(path))


def _epub(article: Article, path: Path) -> None:
    """A small e-book: the article split into chapters of five paragraphs, marked up as the HTML."""
    from ebooklib import epub

    book = epub.EpubBook()
    book.set_identifier(article.title)
    book.set_title(article.title)
    book.set_language("en")
    chapters = []
    for number, begin in enumerate(range(0, len(article.paragraphs), 5), start=1):
        chapter = epub.EpubHtml(title=f"Part {number}", file_name=f"part{number}.xhtml", lang="en")
        body = "".join(f"<p>{_inline_markup(p)}</p>" for p in article.paragraphs[begin : begin + 5])
        heading = f"<h1>{html.escape(article.title)}</h1>" if number == 1 else ""
        chapter.content = f"<html><body>{heading}{body}</body></html>"
        book.add_item(chapter)
        chapters.append(chapter)
    book.toc = chapters
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = chapters
    epub.write_epub(str(path), book)
