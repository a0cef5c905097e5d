"""Which articles a run keeps: the languages and the domains a user asked for (``--languages``, ``--domains``).

A news crawl holds every language and every site its crawler reached; a
team that studies one country's press keeps its languages and its outlets.
The rest is read, identified and counted, never written: each article left
out is ``skipped`` under a named rule (``skipped.language``,
``skipped.domain``), so the run's counts still reconcile.

Domains are also checked where it is cheapest: a web archive's page on
another domain is skipped before its HTML is parsed
(``transforms.formats.warc``), under the same rule. Languages can only be
checked once text repair has identified them (``Enrich``); an article whose
language could not be identified (a short or empty text) is kept and counted
(``language_unknown_kept``): dropping it would lose articles of the chosen
languages that are only too short to tell.
"""

from __future__ import annotations

from typing import Iterator, NamedTuple, Optional
from urllib.parse import urlsplit

import apache_beam as beam

from schemas import Article
from transforms.errors import SKIPPED, count_skipped, counter

__all__ = ["Selection", "SelectArticles", "in_domains", "parse_domains", "selection_rule"]


class Selection(NamedTuple):
    """The languages (ISO 639-1) and registered domains to keep; empty: all."""

    languages: frozenset[str] = frozenset()
    domains: frozenset[str] = frozenset()

    @property
    def selects(self) -> bool:
        return bool(self.languages or self.domains)


def parse_domains(value: str) -> frozenset[str]:
    """Domains from a comma-separated list, as hosts: ``https://www.Example.com/x`` and ``example.com.`` alike."""
    domains = set()
    for part in value.split(","):
        part = part.strip().lower()
        if not part:
            continue
        host = urlsplit(part if "//" in part else f"//{part}").hostname or ""
        host = host.rstrip(".")
        if host.startswith("www."):
            host = host[4:]
        if host:
            domains.add(host)
    return frozenset(domains)


def in_domains(url: Optional[str], domains: frozenset[str]) -> bool:
    """Whether ``url``'s host is one of ``domains`` or below one (``bbc.co.uk`` takes ``www.bbc.co.uk``)."""
    if not domains:
        return True
    try:
        host = (urlsplit(url or "").hostname or "").rstrip(".")
    except ValueError:  # an unparseable address (a bad IPv6 literal) is on no domain
        return False
    while host:
        if host in domains:
            return True
        host = host.partition(".")[2]
    return False


def selection_rule(article: Article, selection: Selection) -> Optional[str]:
    """The rule that leaves ``article`` out (``domain``, ``language``), or None to keep it."""
    if selection.domains and not in_domains(article.url, selection.domains):
        return "domain"
    if selection.languages and article.language is not None and article.language not in selection.languages:
        return "language"
    return None


class _Select(beam.DoFn):
    def __init__(self, selection: Selection):
        self.selection = selection
        self._unknown = counter("language_unknown_kept")

    def process(self, article: Article) -> Iterator[object]:
        rule = selection_rule(article, self.selection)
        if rule is None:
            if self.selection.languages and article.language is None:
                self._unknown.inc()
            yield article
            return
        yield count_skipped(rule, read=False)  # read was counted when the article was parsed


class SelectArticles(beam.PTransform):
    """Keeps the articles of the chosen languages and domains (main output); the rules of the rest on ``skipped``."""

    def __init__(self, selection: Selection):
        super().__init__()
        self.selection = selection

    def expand(self, articles: beam.PCollection[Article]) -> beam.pvalue.DoOutputsTuple:
        return articles | "KeepSelected" >> beam.ParDo(_Select(self.selection)).with_output_types(Article).with_outputs(
            SKIPPED, main="articles"
        )
