"""``schemas.packed``: a record packed for a shuffle comes back the same, smaller, after travelling as a pickle."""

from __future__ import annotations

import pickle

import numpy as np
from apache_beam.utils.timestamp import Timestamp
from support import blank_article

from schemas import Article, DeadLetter, EncodingInfo, Entity, Repair
from schemas.packed import Packer

TEXT = " ".join(f"Paragraph {n}: the council met again on Tuesday to discuss the harbour’s future." for n in range(60))


def full_article() -> Article:
    return blank_article(
        article_id="a1",
        url="https://news.example.org/harbour",
        title="Harbour plans — “again”",
        text=TEXT,
        authors=["Ana Ruiz", "Bo Li"],
        published_at=Timestamp.of(1_715_724_000.5),
        encoding=EncodingInfo("utf-8", "declared", "utf-8", [Repair("mojibake", np.int32(2))]),
        entities=[Entity("Harbour", "ORG", np.int32(3), np.int32(10), "harbour")],
        people=["Ana Ruiz"],
        word_count=np.int32(840),
    )


def test_a_packed_article_unpacks_to_the_same_article_and_is_smaller_than_encoded() -> None:
    packer = Packer(Article)
    article = full_article()
    packed = packer.pack(article)
    assert isinstance(packed, bytes)
    assert packer.unpack(packed) == article
    assert len(packed) < len(packer.coder.encode(article)) / 3  # its text compresses


def test_a_packer_travels_as_its_type_and_makes_its_coder_where_it_lands() -> None:
    packer = Packer(DeadLetter)
    letter = DeadLetter("parse", "FeedError", "not a feed", "f.xml", b"<inventory/>" * 100, None, "r", Timestamp.of(5))
    packed = packer.pack(letter)
    travelled = pickle.loads(pickle.dumps(packer))
    assert travelled._coder is None
    assert travelled.unpack(packed) == letter
