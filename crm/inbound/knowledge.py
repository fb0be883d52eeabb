"""Answers to callers' questions from an inbound number's knowledge base (issue 17 item 3).

The entries are question/answer pairs an admin keeps per number (crm.models.inbound.KnowledgeEntry). A
caller's question is ranked against each entry's question and answer with BM25 (rank-bm25's BM25+
variant: its IDF stays positive in a knowledge base of one or two entries, where Okapi's turns negative):
a few dozen entries per number, so the index is built per question, from the rows, with no cache to go
stale when an admin edits them.

BM25 always names a best entry, however poor, and its scores are not comparable across knowledge bases of
different sizes; an answer read to a caller must be a good match, so the best entry must also contain at
least MIN_COVERAGE of the question's content words (and at least MIN_SHARED of them). Otherwise there is
no answer: the dialog says it will ask a colleague and a task is created."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from rank_bm25 import BM25Plus

from crm.extensions import db
from crm.models import KnowledgeEntry

# On tests/inbound/test_knowledge.py's entries: a question about an entry's subject shares a third or more
# of its content words with it ("Wie lange haben Sie heute geöffnet?": 1 of 3); one about something else
# shares none.
MIN_COVERAGE = 1 / 3
MIN_SHARED = 1
STEM = 6
_WORD = re.compile(r"\w+")
# Words that say nothing about the subject of a question (de, en, fr): kept out of both sides.
STOPWORDS = frozenset(
    """
    a an and are as at be by can could do does for from have how i if in is it me my of on or our please so
    that the there this to was we what when where which who why will with would you your tell know
    aber am an auch auf aus bei bin bis das dass dem den der des die doch du ein eine einen einem einer es
    fuer gibt haben habe hat ich ihr ihre ihnen im in ist ja kann koennen koennten man mich mir mit noch
    nur oder sie sind so und uns von vor was wann wie wo wer zu zum zur sagen mal bitte wissen moechte
    au aux avec ce ces dans de des du elle en est et il je la le les leur ma mais me mes mon ne nous on ou
    par pas pour qu que qui quand quel quelle sa se ses son sur ta te tu un une vos votre vous
    """.split()
)


@dataclass(frozen=True)
class Match:
    entry_id: int
    question: str
    answer: str
    score: float


def words(text: str) -> list[str]:
    """Lower-case content words, umlauts written out and accents dropped (as a recogniser may spell them)."""
    folded = text.lower().replace("ä", "ae").replace("ö", "oe").replace("ü", "ue").replace("ß", "ss")
    plain = unicodedata.normalize("NFKD", folded).encode("ascii", "ignore").decode()
    # Cut to a prefix: a crude stem that lets "financing" meet "finance" and "Inspektionen" meet "Inspektion"
    # in any of the three languages, without a stemmer per language.
    return [w[:STEM] for w in _WORD.findall(plain) if w not in STOPWORDS and len(w) > 1]


def best(entries: Sequence[tuple[int, str, str]], question: str) -> Match | None:
    """The entry (id, question, answer) that answers `question` well enough, or None."""
    asked = words(question)
    if not entries or not asked:
        return None
    # The entry's question counts twice: it is written as callers ask, the answer as the company speaks.
    documents = [words(q) * 2 + words(a) for _id, q, a in entries]
    if not any(documents):
        return None
    scores = BM25Plus([d or ["-"] for d in documents]).get_scores(asked)
    index = max(range(len(entries)), key=lambda i: (scores[i], -i))
    shared = len(set(asked) & set(documents[index]))
    if shared < MIN_SHARED or shared / len(set(asked)) < MIN_COVERAGE:
        return None
    entry_id, q, a = entries[index]
    return Match(entry_id, q, a, float(scores[index]))


def entries_of(number_id: int) -> list[tuple[int, str, str]]:
    """The number's active entries (in the current company's scope)."""
    rows = db.session.execute(
        sa.select(KnowledgeEntry.id, KnowledgeEntry.question, KnowledgeEntry.answer)
        .where(KnowledgeEntry.phone_number_id == number_id, KnowledgeEntry.active.is_(True))
        .order_by(KnowledgeEntry.id)
    ).all()
    return [(r.id, r.question, r.answer) for r in rows]


def answer(number_id: int, question: str) -> Match | None:
    return best(entries_of(number_id), question)
