"""A WARC file shaped like Common Crawl's CC-NEWS, made of real HTTP exchanges with a local server.

Why: WARC input (issue 15) is to be chosen, tested and benchmarked on files
like the ones users bring (CC-NEWS: ``.warc.gz`` files of about 1 GB, one
gzip member per record, a ``warcinfo`` record then ``request`` /
``response`` (/ ``metadata``) records of news pages), and no such file may
be fetched here. So this writes one: every page is served by an
``http.server`` on 127.0.0.1 started by this module and fetched over a
socket, and the bytes that went over that socket (request and response,
chunked and gzip-encoded as the server sent them) become the records. The
URLs are on fake news domains (``news-a.example.test`` …): the request's
``Host`` header names them, the connection goes to 127.0.0.1, and
``WARC-Target-URI`` is the fake URL. Nothing leaves the machine.

Content, by kind of response (roughly CC-NEWS's mix: most responses are
articles, about a fifth other HTML, a few per cent non-HTML, redirects and
errors):

* **article**: the pages of ``../shared/corpora/article_pages`` (real pages,
  read at run time, never stored in the project), each served under new
  URLs as often as needed; without the corpus (or with ``--no-pages``),
  generated English articles (prose, JSON-LD ``NewsArticle``,
  ``og:type article``, the site's navigation, scripts and footer). Always
  a few short articles written here in German, Spanish, French and
  Japanese, some in windows-1252, ISO-8859-1 or Shift_JIS, and English ones
  in windows-1252.
* **home** (front and section pages), **tag**, **author**, **video**
  (``VideoObject``, ``og:type video.other``), **gallery**, **liveblog**,
  **search**: the non-article HTML of a news crawl.
* **non_html** (JPEG, PDF, JSON, CSS, robots.txt), **redirect** (301/302
  with ``Location``), **error** (404 and 500 pages).

The HTTP side varies as real crawls do: most HTML declares its charset in
``Content-Type``, some do not, some declare a wrong one; some responses are
gzip- (or deflate-, brotli-) encoded, some chunked. Half of the encoded or
chunked responses are stored as they came over the socket (as warcio,
wget or Heritrix store them), half as Common Crawl stores them: the payload
decoded, ``Content-Encoding``/``Transfer-Encoding`` renamed
``X-Crawler-Content-Encoding``/``X-Crawler-Transfer-Encoding`` and a
``Content-Length`` of the stored payload.

A JSON sidecar (``OUT.json``) gives, per response, its URL, kind, language,
charset (true, declared by HTTP, declared in the page), status, encodings,
how it was stored, its record's offset, and the SHA-1 of its decoded body
(what a reader that undoes the transfer and content encodings must give);
and the totals by record type. Benchmarks and tests compare against it.

Same ``--seed``, same bytes (gzip headers carry no time; record ids come
from the seed).

    .venv/bin/python bench/warc_corpus.py OUT.warc.gz [--records N] [--pages DIR | --no-pages] [--seed S]
                                          [--whole-gzip | --plain]

``--records 20000`` writes about 0.5 GB with the corpus present (its pages
are 28 KB gzipped on average); ``--records 40000`` about 1 GB.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import html
import io
import json
import os
import random
import re
import socket
import sys
import threading
import time
import uuid
import zlib
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any, BinaryIO, Callable, Iterable, Iterator, NamedTuple, Optional, Sequence

try:  # brotli is what newsbeam's readers decode "br" with; without it the corpus uses gzip instead
    import brotli
except ImportError:  # pragma: no cover - present in newsbeam's environment
    brotli = None

ROOT = Path(__file__).resolve().parents[1]

#: How a file is compressed: one gzip member per record (CC-NEWS), one gzip stream, or none.
MEMBER, WHOLE, PLAIN = "member", "whole", "plain"
GZIP_MODES = (MEMBER, WHOLE, PLAIN)
#: The kinds of response the sidecar names.
KINDS = ("article", "home", "tag", "author", "video", "gallery", "liveblog", "search", "non_html", "redirect", "error")
NON_ARTICLE_HTML = ("home", "tag", "author", "video", "gallery", "liveblog", "search")
#: One deck of 100 responses, shuffled anew for every hundred: 75 articles, 19 other HTML pages, 6 others.
KIND_DECK = {
    "article": 75,
    "home": 4,
    "tag": 3,
    "author": 2,
    "video": 4,
    "gallery": 3,
    "liveblog": 1,
    "search": 2,
    "non_html": 3,
    "redirect": 2,
    "error": 1,
}
#: Articles, by language and charset: a deck of 40 (the "main" ones are the corpus's pages, or generated English).
ARTICLE_DECK = {
    ("main", "utf-8"): 33,
    ("en", "windows-1252"): 1,
    ("de", "iso-8859-1"): 1,
    ("de", "utf-8"): 0,
    ("es", "iso-8859-1"): 1,
    ("es", "utf-8"): 1,
    ("fr", "windows-1252"): 1,
    ("fr", "utf-8"): 1,
    ("ja", "shift_jis"): 1,
    ("ja", "utf-8"): 0,
}
#: How HTML declares its charset over HTTP, a deck of 20: right, absent (the page's own meta only), wrong.
DECLARED_DECK = {"right": 16, "absent": 2, "wrong": 2}
#: How a text response goes over the wire, a deck of 20: (content encoding, chunked).
WIRE_DECK = {("", False): 11, ("gzip", False): 4, ("", True): 2, ("gzip", True): 2, ("br", False): 1}
#: Non-HTML responses in turn, and error statuses in turn.
NON_HTML = ("image/jpeg", "application/pdf", "application/json", "text/css", "text/plain")
ERRORS = (404, 500, 404)
REDIRECTS = (301, 302)
#: When the crawl starts (record dates follow it; pages were published before they were fetched).
CRAWL_START = datetime(2024, 3, 18, 6, 0, 0, tzinfo=UTC)
USER_AGENT = "NewsCrawler/1.0 (+https://crawler.example.test/bot.html)"
ACCEPT_ENCODING = "gzip, deflate, br" if brotli is not None else "gzip, deflate"


# --------------------------------------------------------------------------
# Sites and words
# --------------------------------------------------------------------------


class Site(NamedTuple):
    """A fake news site: host, name, language, the address the archive says it had, and its server."""

    host: str
    name: str
    language: str
    ip: str
    server: str
    sections: tuple[str, ...]
    #: Embeds the page's state (article text included) as JSON, as Next.js sites do.
    next_data: bool


SITES = (
    Site(
        "news-a.example.test",
        "The Daily Ledger",
        "en",
        "203.0.113.10",
        "nginx",
        ("politics", "business", "world", "sport", "culture", "science"),
        False,
    ),
    Site(
        "news-b.example.test",
        "Morning Courier",
        "en",
        "203.0.113.24",
        "Apache/2.4.58 (Ubuntu)",
        ("news", "local", "money", "sports", "opinion", "weather"),
        True,
    ),
    Site(
        "news-c.example.test",
        "Harbor Times",
        "en",
        "198.51.100.7",
        "cloudflare",
        ("us", "world", "tech", "health", "arts", "travel"),
        False,
    ),
    Site(
        "news-d.example.test",
        "Metro Gazette",
        "en",
        "198.51.100.42",
        "nginx/1.24.0",
        ("city", "courts", "transit", "schools", "food", "events"),
        False,
    ),
    Site(
        "news-e.example.test",
        "Valley Tribune",
        "en",
        "192.0.2.15",
        "Microsoft-IIS/10.0",
        ("region", "farming", "business", "sports", "obituaries", "outdoors"),
        True,
    ),
)
FOREIGN_SITES = {
    "de": Site(
        "zeitung.example.test",
        "Rheinische Abendpost",
        "de",
        "192.0.2.80",
        "Apache",
        ("politik", "wirtschaft", "region", "sport", "kultur"),
        False,
    ),
    "es": Site(
        "diario.example.test",
        "Diario del Puerto",
        "es",
        "198.51.100.90",
        "nginx",
        ("nacional", "economia", "deportes", "cultura", "opinion"),
        False,
    ),
    "fr": Site(
        "journal.example.test",
        "Le Courrier du Soir",
        "fr",
        "203.0.113.77",
        "Apache/2.4.57 (Debian)",
        ("politique", "economie", "societe", "sport", "culture"),
        False,
    ),
    "ja": Site(
        "shimbun.example.test",
        "Minato Shimbun",
        "ja",
        "192.0.2.120",
        "nginx",
        ("seiji", "keizai", "shakai", "sports", "bunka"),
        False,
    ),
}

_FIRST = "Maria James Aisha Tom Elena David Priya Samuel Grace Omar Laura Kenji Nadia Peter Rosa Daniel Fatima Lucas Hannah Victor".split()
_LAST = "Alvarez Bennett Chen Okafor Fischer Novak Patel Rossi Kowalski Haddad Lindqvist Moreau Tanaka Brennan Silva Murphy Ivanova Mensah Walsh Duarte".split()
_CITIES = "Brookhaven Millbrook Eastport Carver Falls Linden Ridgefield Oakmont Westbury Harlow Port Ellis Greendale Ashford Cedar Bay".split(
    " "
)
_ORGS = (
    "the transit authority",
    "the state health department",
    "the teachers' union",
    "the county water board",
    "the chamber of commerce",
    "the regional hospital network",
    "the port commission",
    "the housing agency",
    "the university",
    "the electric cooperative",
)
_SUBJECTS = (
    "The city council",
    "State officials",
    "Researchers at the university",
    "The company",
    "Residents of {city}",
    "A spokesperson for {org}",
    "{person}, who has led {org} since {year},",
    "Police",
    "Lawmakers",
    "Analysts",
    "Union leaders",
    "Hospital administrators",
    "The school board",
    "Prosecutors",
    "Local business owners",
)
_VERBS = (
    "said on {weekday} that",
    "announced that",
    "warned that",
    "confirmed that",
    "argued that",
    "told reporters that",
    "acknowledged that",
    "insisted that",
    "said in a statement that",
    "wrote in a letter that",
)
_CLAUSES = (
    "the plan would cost about ${n} million over {k} years",
    "the new rules would take effect in {month}",
    "talks with {org} had stalled over pay and pensions",
    "more than {n},000 people had signed the petition",
    "the decision followed months of review",
    "the bridge would reopen to traffic by {month}",
    "enrolment had fallen for the {ordinal} year in a row",
    "the shortfall could reach ${n} million by next spring",
    "a second hearing was scheduled for {weekday}",
    "the project had been delayed by supply problems",
    "the vote was expected before the end of {month}",
    "inspectors found {n} violations during the visit",
    "the agency had received {n} complaints since {month}",
    "prices at the pump rose for the {ordinal} week",
    "the proposal still needed the governor's signature",
)
_TAILS = (
    "",
    "",
    ", according to documents reviewed by {site}",
    ", despite objections from {org}",
    ", a move that surprised many observers",
    ", the latest sign of strain in {city}",
    ", though details remained scarce",
    ", people familiar with the matter said",
)
_QUOTES = (
    "\u201cWe are not going to let this stand,\u201d {person} said.",
    "\u201cThis is a good day for {city},\u201d said {person}, a spokesperson for {org}.",
    "\u201cNobody expected it to take this long,\u201d {person} said in an interview.",
    "\u201cThe numbers simply do not add up,\u201d said {person}, who studies public budgets.",
    "\u201cWe will keep asking questions until we get answers,\u201d {person} told the meeting.",
    "\u201cIt is a fair compromise \u2014 not a perfect one,\u201d {person} said.",
)
_HEAD_NOUNS = (
    "Council",
    "Transit plan",
    "School board",
    "Water rates",
    "Hospital merger",
    "Port expansion",
    "Budget deal",
    "Housing vote",
    "Bridge repair",
    "Teachers' strike",
    "Stadium deal",
    "Flood defences",
)
_HEAD_VERBS = (
    "approves ${n} million {thing}",
    "faces new delay in {city}",
    "draws fire from {org}",
    "heads to a vote on {weekday}",
    "wins backing after long debate",
    "stalls as costs climb",
    "moves ahead despite protests",
    "prompts review of {thing}",
)
_THINGS = ("plan", "contract", "overhaul", "levy", "budget", "rezoning", "programme", "settlement")
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")
_MONTHS = ("January", "March", "April", "June", "September", "October", "November")
_ORDINALS = ("second", "third", "fourth", "fifth")

#: Short articles in other languages, written for this corpus: titles and sentences to draw paragraphs from.
FOREIGN_TEXT: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "de": (
        (
            "Stadtrat beschließt Haushalt: Mehr Geld für Schulen und die alte Brücke",
            "Neue Radwege: Anwohner fürchten den Lärm der Großbaustelle",
            "Gebühren für Kindergärten steigen erneut",
            "Hochwasserschutz am Rhein soll bis 2027 fertig sein",
        ),
        (
            "Der Stadtrat hat am Dienstagabend nach langer Debatte einen neuen Haushalt für das kommende Jahr beschlossen.",
            "Für Schulen, Radwege und die Sanierung der alten Brücke über den Fluss sind zusätzliche Mittel vorgesehen.",
            "Die Opposition kritisierte, dass die Gebühren für Kindergärten erneut steigen sollen.",
            "Bürgermeisterin Jana Köhler sprach von einem „schwierigen, aber fairen Kompromiss“.",
            "Nach Angaben der Verwaltung müssen rund zwölf Millionen Euro über neue Kredite finanziert werden.",
            "Anwohner äußerten sich in einer Fragestunde besorgt über den Lärm der geplanten Großbaustelle.",
            "Die Arbeiten an der Brücke sollen im Frühjahr beginnen und etwa zwei Jahre dauern.",
            "Während dieser Zeit wird der Verkehr über eine Umleitung durch das Gewerbegebiet geführt.",
            "Der Haushalt muss noch von der Aufsichtsbehörde des Landes genehmigt werden.",
            "Eine endgültige Entscheidung wird bis Ende März erwartet.",
            "Die Grünen forderten, einen größeren Teil des Geldes in den öffentlichen Nahverkehr zu stecken.",
            "Der Kämmerer warnte vor steigenden Zinsen und einer wachsenden Schuldenlast der Stadt.",
        ),
    ),
    "es": (
        (
            "El ayuntamiento aprueba la reforma del puerto tras meses de negociación",
            "¿Quién pagará la nueva línea de autobuses? El debate llega al pleno",
            "Los pescadores protestan por las nuevas cuotas de captura",
            "La sequía obliga a restringir el riego en la comarca",
        ),
        (
            "El pleno municipal aprobó el jueves, con los votos de la mayoría, la reforma del muelle pesquero.",
            "La obra costará unos ocho millones de euros y durará, según el proyecto, dieciocho meses.",
            "Los vecinos del barrio marítimo temen que el tráfico de camiones aumente durante las obras.",
            "«No estamos en contra del puerto, estamos en contra del ruido», explicó una portavoz de la asociación.",
            "La alcaldesa, Lucía Ortega, aseguró que habrá un plan de movilidad antes del verano.",
            "¿Y quién pagará el mantenimiento? La oposición pidió un informe económico independiente.",
            "El consejero de Economía recordó que la Unión Europea financiará casi la mitad del presupuesto.",
            "Las cofradías de pescadores valoraron la reforma, aunque reclaman más espacio para descargar.",
            "El proyecto incluye una lonja nueva, un aparcamiento y un paseo junto al mar.",
            "Las obras comenzarán, si no hay recursos, a principios del año próximo.",
            "La asociación de comerciantes espera que el paseo atraiga a más visitantes en otoño.",
        ),
    ),
    "fr": (
        (
            "Le conseil municipal adopte le budget malgré l’opposition",
            "Transports : la nouvelle ligne de tramway prend du retard",
            "Les agriculteurs manifestent devant la préfecture",
            "Œuvres d’art : le musée rouvre ses salles après deux ans de travaux",
        ),
        (
            "Le conseil municipal a adopté mardi soir le budget de l’année prochaine, après plus de quatre heures de débat.",
            "L’opposition dénonce une hausse de la taxe foncière qu’elle juge « injuste pour les familles ».",
            "Le maire, Étienne Garnier, a défendu un budget « responsable et tourné vers l’avenir ».",
            "La nouvelle ligne de tramway, attendue pour l’été, ne sera finalement mise en service qu’en décembre.",
            "Selon la métropole, des problèmes d’approvisionnement ont retardé la livraison des rames.",
            "Les commerçants du centre-ville s’inquiètent de la durée des travaux, qui pèsent sur leur chiffre d’affaires.",
            "Le musée des Beaux-Arts rouvre ses salles consacrées aux œuvres du XIXe siècle.",
            "Près de cent cinquante tableaux ont été restaurés pendant la fermeture.",
            "Les agriculteurs réclament une simplification des normes et une meilleure rémunération.",
            "Une délégation doit être reçue à la préfecture en fin de semaine.",
            "Le cœur du projet reste la rénovation des écoles, pour un coût de douze millions d’euros.",
        ),
    ),
    "ja": (
        (
            "市議会、新年度予算案を可決　学校の改修費を増額",
            "港の再開発計画、住民説明会で反対意見相次ぐ",
            "路線バスの減便、来月から　運転手不足が深刻に",
            "夏祭り、四年ぶりに通常開催へ",
        ),
        (
            "市議会は十五日の本会議で、新年度の一般会計予算案を賛成多数で可決した。",
            "予算の総額は前年度より三パーセント多く、学校施設の改修費が大きく増えた。",
            "市長は記者会見で「子どもたちの安全を最優先にした」と述べた。",
            "一方、野党会派は財源の見通しが甘いと批判し、反対に回った。",
            "港の再開発計画をめぐっては、先週開かれた住民説明会で反対意見が相次いだ。",
            "住民からは交通量の増加や騒音を心配する声が上がった。",
            "市の担当者は、工事中の交通対策を来月までにまとめると説明した。",
            "路線バスを運行する会社は、運転手不足のため来月から一部の便を減らすと発表した。",
            "夏祭りは四年ぶりに屋台や花火を含めた通常の形で開かれる予定だ。",
            "実行委員会はボランティアの募集を始めている。",
        ),
    ),
}
#: Navigation words of each language's site chrome.
CHROME_WORDS = {
    "en": (
        "Home",
        "Subscribe",
        "Sign in",
        "Newsletters",
        "Most read",
        "Related",
        "Advertisement",
        "Share",
        "Search",
        "About us",
        "Contact",
        "Privacy policy",
        "Terms of use",
        "Cookie settings",
    ),
    "de": (
        "Startseite",
        "Abonnieren",
        "Anmelden",
        "Newsletter",
        "Meistgelesen",
        "Mehr zum Thema",
        "Anzeige",
        "Teilen",
        "Suche",
        "Über uns",
        "Kontakt",
        "Datenschutz",
        "Impressum",
        "Cookie-Einstellungen",
    ),
    "es": (
        "Portada",
        "Suscríbete",
        "Iniciar sesión",
        "Boletines",
        "Lo más leído",
        "Relacionadas",
        "Publicidad",
        "Compartir",
        "Buscar",
        "Quiénes somos",
        "Contacto",
        "Privacidad",
        "Aviso legal",
        "Configurar cookies",
    ),
    "fr": (
        "Accueil",
        "S’abonner",
        "Se connecter",
        "Lettres d’information",
        "Les plus lus",
        "À lire aussi",
        "Publicité",
        "Partager",
        "Rechercher",
        "Qui sommes-nous",
        "Contact",
        "Confidentialité",
        "Mentions légales",
        "Gérer les cookies",
    ),
    "ja": (
        "ホーム",
        "購読",
        "ログイン",
        "ニュースレター",
        "よく読まれている記事",
        "関連記事",
        "広告",
        "共有",
        "検索",
        "会社案内",
        "お問い合わせ",
        "プライバシー",
        "利用規約",
        "クッキー設定",
    ),
}


def _fill(template: str, rng: random.Random, site: str = "the newspaper") -> str:
    """``template`` with its placeholders drawn from the word lists."""
    values = {
        "city": rng.choice(_CITIES),
        "org": rng.choice(_ORGS),
        "person": person_name(rng),
        "year": str(rng.randint(2008, 2021)),
        "weekday": rng.choice(_WEEKDAYS),
        "month": rng.choice(_MONTHS),
        "ordinal": rng.choice(_ORDINALS),
        "n": str(rng.randint(2, 95)),
        "k": str(rng.randint(2, 12)),
        "thing": rng.choice(_THINGS),
        "site": site,
    }
    return template.format(**values)


def person_name(rng: random.Random) -> str:
    """A made-up full name."""
    return f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"


def sentence(rng: random.Random, site: str = "the newspaper") -> str:
    """One sentence of generated news prose: subject, reporting verb, clause, sometimes a tail or a quote."""
    if rng.random() < 0.12:
        return _fill(rng.choice(_QUOTES), rng, site)
    text = " ".join((rng.choice(_SUBJECTS), rng.choice(_VERBS), rng.choice(_CLAUSES))) + rng.choice(_TAILS) + "."
    return _fill(text, rng, site)


def paragraphs(rng: random.Random, count: int, site: str = "the newspaper") -> list[str]:
    """``count`` paragraphs of two to five generated sentences."""
    return [" ".join(sentence(rng, site) for _ in range(rng.randint(2, 5))) for _ in range(count)]


def headline(rng: random.Random) -> str:
    """A generated headline."""
    return _fill(f"{rng.choice(_HEAD_NOUNS)} {rng.choice(_HEAD_VERBS)}", rng)


def slug(text: str) -> str:
    """The URL slug of a headline (ASCII words joined by hyphens; "story" when none)."""
    words = re.findall(r"[a-z0-9]+", text.lower())
    return "-".join(words[:8]) or "story"


# --------------------------------------------------------------------------
# HTML pages
# --------------------------------------------------------------------------


class Chrome(NamedTuple):
    """What every page of a site shares: styles, logo, navigation, footer, script bundle."""

    style: str
    logo: str
    nav: str
    footer: str
    bundle: str


def _pseudo_js(rng: random.Random, functions: int) -> str:
    """A minified-looking script bundle (what sits inline in most news pages), made of ``functions`` functions."""
    names = [f"_{rng.getrandbits(24):06x}" for _ in range(functions)]
    parts = []
    for name in names:
        other = rng.choice(names)
        key = rng.getrandbits(32)
        parts.append(
            f"function {name}(e,t){{var n=e&&e.{rng.choice(('data', 'el', 'cfg', 'opts'))}||{{}};"
            f"if(!n[{key}])return {other}(n,t+{rng.randint(1, 99)});"
            f"for(var r=0;r<t.length;r++)n.push(t[r]^{rng.randint(3, 255)});"
            f'return window.__q=window.__q||[],window.__q.push(["{name}",{key},"{rng.randbytes(6).hex()}"]),n}}'
        )
    return ";".join(parts)


def site_chrome(site: Site, seed: int) -> Chrome:
    """A site's shared page furniture, the same on every page of the site (seeded by the site)."""
    rng = random.Random(f"{seed}-{site.host}")
    words = CHROME_WORDS[site.language]
    style = "".join(
        f".{rng.choice(('c', 'k', 'x'))}{rng.getrandbits(20):05x}{{margin:{rng.randint(0, 24)}px {rng.randint(0, 24)}px;"
        f"color:#{rng.getrandbits(24):06x};font-size:{rng.randint(11, 28)}px;line-height:{rng.randint(12, 19) / 10}}}"
        for _ in range(140)
    )
    logo = (
        '<svg viewBox="0 0 200 40" role="img"><path d="'
        + " ".join(
            f"M{rng.randint(0, 200)} {rng.randint(0, 40)}L{rng.randint(0, 200)} {rng.randint(0, 40)}" for _ in range(60)
        )
        + '"/></svg>'
    )
    links = [f'<li><a href="/{s}/">{s.capitalize()}</a></li>' for s in site.sections]
    links += [
        f'<li><a href="/{s}/{rng.randint(1, 9)}{rng.getrandbits(16):x}/">{s.capitalize()} {i}</a></li>'
        for i, s in enumerate(site.sections * 10)
    ]
    nav = (
        f'<header class="site-header"><a class="logo" href="/" aria-label="{html.escape(site.name)}">{logo}</a>'
        f'<a class="subscribe" href="/subscribe">{words[1]}</a><a class="login" href="/login">{words[2]}</a>'
        f'<form action="/search" role="search"><input name="q" placeholder="{words[8]}"></form></header>'
        f'<nav class="main-nav" aria-label="main"><ul>{"".join(links)}</ul></nav>'
    )
    footer_links = "".join(
        f'<li><a href="/{w.lower().replace(" ", "-")}">{w}</a></li>' for w in (*words[9:], *words[:4])
    ) + "".join(f'<li><a href="/{s}/archive">{s} archive</a></li>' for s in site.sections)
    footer = (
        f'<footer class="site-footer"><ul>{footer_links}</ul>'
        f"<p>&copy; 2024 {html.escape(site.name)}. All rights reserved.</p></footer>"
        f'<div id="cookie-banner" class="consent"><p>{words[13]}</p><button>OK</button></div>'
    )
    return Chrome(style, logo, nav, footer, _pseudo_js(rng, 260))


def _json_ld(objects: Sequence[dict[str, Any]]) -> str:
    """JSON-LD script blocks (``</`` escaped, as JSON inside HTML must be)."""
    return "".join(
        '<script type="application/ld+json">' + json.dumps(obj, ensure_ascii=False).replace("</", "<\\/") + "</script>"
        for obj in objects
    )


class PageParts(NamedTuple):
    """What differs between pages of one site."""

    title: str
    description: str
    og_type: str
    canonical: str
    main: str
    json_ld: tuple[dict[str, Any], ...] = ()
    extra_head: str = ""
    state: Optional[dict[str, Any]] = None


def page_html(site: Site, chrome: Chrome, parts: PageParts, meta_charset: Optional[str], rng: random.Random) -> str:
    """A whole page of ``site``: head (meta, Open Graph, JSON-LD, styles), chrome around ``parts.main``, scripts."""
    words = CHROME_WORDS[site.language]
    charset = f'<meta charset="{meta_charset}">' if meta_charset else ""
    ads = "".join(
        f'<div class="ad-slot" id="ad-{rng.getrandbits(32):08x}" data-size="{rng.choice(("300x250", "728x90", "320x50"))}">'
        f"<span>{words[6]}</span></div>"
        for _ in range(4)
    )
    most_read = "".join(
        f'<li><a href="/{rng.choice(site.sections)}/{rng.getrandbits(28):x}.html">{html.escape(headline(rng))}</a></li>'
        for _ in range(10)
    )
    datalayer = json.dumps(
        {
            "page": {"type": parts.og_type, "id": rng.randbytes(12).hex(), "section": rng.choice(site.sections)},
            "ab": {f"exp{i}": rng.randbytes(4).hex() for i in range(24)},
            "tracking": [rng.randbytes(16).hex() for _ in range(40)],
        }
    )
    state = ""
    if site.next_data and parts.state is not None:
        state = (
            '<script id="__NEXT_DATA__" type="application/json">'
            + json.dumps(parts.state).replace("</", "<\\/")
            + "</script>"
        )
    title = html.escape(parts.title)
    description = html.escape(parts.description)
    return (
        f'<!DOCTYPE html><html lang="{site.language}"><head>{charset}'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title} | {html.escape(site.name)}</title>'
        f'<meta name="description" content="{description}"><link rel="canonical" href="{parts.canonical}">'
        f'<meta property="og:type" content="{parts.og_type}"><meta property="og:title" content="{title}">'
        f'<meta property="og:description" content="{description}"><meta property="og:url" content="{parts.canonical}">'
        f'<meta property="og:site_name" content="{html.escape(site.name)}"><meta name="twitter:card" content="summary_large_image">'
        f"{parts.extra_head}"
        + "".join(f'<link rel="stylesheet" href="/static/css/{rng.getrandbits(40):010x}.css">' for _ in range(3))
        + f"<style>{chrome.style}</style>{_json_ld(parts.json_ld)}"
        f"<script>window.dataLayer=[{datalayer}];</script></head>"
        f'<body>{chrome.nav}{ads[: len(ads) // 2]}<main id="main">{parts.main}</main>'
        f'<aside class="most-read"><h2>{words[4]}</h2><ol>{most_read}</ol></aside>{ads[len(ads) // 2 :]}'
        f'<section class="newsletter"><h2>{words[3]}</h2><form action="/newsletter"><input type="email"><button>{words[1]}</button></form></section>'
        f"{chrome.footer}{state}<script>{chrome.bundle}</script>"
        + "".join(f'<script async src="/static/js/{rng.getrandbits(40):010x}.js"></script>' for _ in range(4))
        + "</body></html>"
    )


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def article_parts(
    site: Site, url: str, title: str, body: Sequence[str], published: datetime, author: str, rng: random.Random
) -> PageParts:
    """An article page's content: headline, dek, byline, dateline, body with a figure and a related-links box, tags."""
    words = CHROME_WORDS[site.language]
    dek = body[0].split(". ")[0][:180]
    related = "".join(
        f'<li><a href="/{rng.choice(site.sections)}/{rng.getrandbits(28):x}.html">{html.escape(headline(rng))}</a></li>'
        for _ in range(4)
    )
    paras = [f"<p>{html.escape(p)}</p>" for p in body]
    if len(paras) > 3:
        paras.insert(3, f'<aside class="related-inline"><h3>{words[5]}</h3><ul>{related}</ul></aside>')
    main = (
        f'<article class="story"><header><h1 class="headline">{html.escape(title)}</h1>'
        f'<p class="dek">{html.escape(dek)}</p>'
        f'<div class="byline">By <a rel="author" href="/authors/{slug(author)}">{html.escape(author)}</a></div>'
        f'<time datetime="{_iso(published)}">{published:%B %d, %Y %H:%M} UTC</time></header>'
        f'<figure><img src="/images/{rng.getrandbits(40):010x}.jpg" alt="" width="1200" height="675">'
        f"<figcaption>{html.escape(body[-1].split('. ')[0][:120])} (Photo: {html.escape(person_name(rng))})</figcaption></figure>"
        f'<div class="article-body">{"".join(paras)}</div>'
        f'<ul class="tags">{"".join(f"<li><a href=/tag/{s}>{s}</a></li>" for s in rng.sample(site.sections, 3))}</ul>'
        f'<div class="share"><button>{words[7]}</button></div></article>'
    )
    news_article = {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "headline": title,
        "datePublished": _iso(published),
        "dateModified": _iso(published + timedelta(minutes=rng.randint(0, 300))),
        "author": [{"@type": "Person", "name": author}],
        "publisher": {
            "@type": "Organization",
            "name": site.name,
            "logo": {"@type": "ImageObject", "url": f"https://{site.host}/logo.png"},
        },
        "mainEntityOfPage": url,
        "inLanguage": site.language,
        "articleSection": url.split("/")[3],
    }
    head = (
        f'<meta property="article:published_time" content="{_iso(published)}">'
        f'<meta name="author" content="{html.escape(author)}">'
    )
    state = {
        "props": {
            "pageProps": {
                "article": {"headline": title, "body": list(body), "author": author, "id": rng.randbytes(8).hex()}
            }
        }
    }
    return PageParts(title, dek, "article", url, main, (news_article,), head, state)


def _cards(site: Site, rng: random.Random, count: int, teaser_sentences: int, published: datetime) -> str:
    """Headline cards: link, short teaser, time (what front, section, tag and author pages list)."""
    cards = []
    for _ in range(count):
        head = headline(rng)
        when = published - timedelta(minutes=rng.randint(5, 60 * 72))
        teaser = " ".join(sentence(rng, site.name) for _ in range(teaser_sentences))[:160]
        cards.append(
            f'<article class="card"><a href="/{rng.choice(site.sections)}/{when:%Y/%m/%d}/{slug(head)}-{rng.getrandbits(24):x}.html">'
            f'<img src="/images/t/{rng.getrandbits(40):010x}.jpg" alt="" loading="lazy"><h3>{html.escape(head)}</h3></a>'
            f'<p class="teaser">{html.escape(teaser)}</p><time datetime="{_iso(when)}">{when:%H:%M}</time></article>'
        )
    return "".join(cards)


def listing_parts(site: Site, url: str, kind: str, when: datetime, rng: random.Random) -> PageParts:
    """A page that is not an article: front/section, tag, author, video, gallery, live blog or search results."""
    collection = {"@context": "https://schema.org", "@type": "CollectionPage", "name": site.name, "url": url}
    if kind == "home":
        section = url.rstrip("/").rsplit("/", 1)[-1] or "home"
        main = "".join(
            f'<section class="rail"><h2><a href="/{s}/">{s.capitalize()}</a></h2>{_cards(site, rng, rng.randint(6, 12), 1, when)}</section>'
            for s in rng.sample(site.sections, 4)
        )
        return PageParts(
            f"{site.name} - {section.capitalize()}", "The latest news.", "website", url, main, (collection,)
        )
    if kind == "tag":
        topic = url.rstrip("/").rsplit("/", 1)[-1].replace("-", " ")
        main = f'<h1>Topic: {html.escape(topic)}</h1>{_cards(site, rng, rng.randint(18, 30), 1, when)}<nav class="pagination"><a href="?page=2">2</a><a href="?page=3">3</a></nav>'
        return PageParts(f"{topic.title()} news", f"All the news about {topic}.", "website", url, main, (collection,))
    if kind == "author":
        name = person_name(rng)
        bio = f"{name} covers {rng.choice(site.sections)} for {site.name}. {sentence(rng, site.name)}"
        profile = {
            "@context": "https://schema.org",
            "@type": "ProfilePage",
            "mainEntity": {"@type": "Person", "name": name, "jobTitle": "Reporter"},
        }
        main = f'<div class="author-bio"><img src="/images/authors/{slug(name)}.jpg" alt=""><h1>{html.escape(name)}</h1><p>{html.escape(bio)}</p></div>{_cards(site, rng, 20, 1, when)}'
        return PageParts(name, bio[:150], "profile", url, main, (profile,))
    if kind == "video":
        title = headline(rng)
        description = sentence(rng, site.name)
        video = {
            "@context": "https://schema.org",
            "@type": "VideoObject",
            "name": title,
            "description": description,
            "thumbnailUrl": f"https://{site.host}/images/v/{rng.getrandbits(32):x}.jpg",
            "uploadDate": _iso(when - timedelta(hours=rng.randint(1, 30))),
            "duration": f"PT{rng.randint(1, 9)}M{rng.randint(0, 59)}S",
            "contentUrl": f"https://{site.host}/media/{rng.getrandbits(40):x}.mp4",
        }
        main = (
            f'<div class="video-page"><h1>{html.escape(title)}</h1><div class="player"><video controls poster="/images/v/p.jpg">'
            f'<source src="/media/{rng.getrandbits(40):x}.mp4" type="video/mp4"></video></div><p class="caption">{html.escape(description)}</p>'
            f"<h2>More videos</h2>{_cards(site, rng, 8, 0, when)}</div>"
        )
        head = f'<meta property="og:video" content="{video["contentUrl"]}">'
        return PageParts(title, description, "video.other", url, main, (video,), head)
    if kind == "gallery":
        title = "In pictures: " + headline(rng)
        figures = "".join(
            f'<figure><img src="/images/g/{rng.getrandbits(40):010x}.jpg" alt=""><figcaption>{html.escape(sentence(rng, site.name)[:140])}</figcaption></figure>'
            for _ in range(rng.randint(12, 24))
        )
        gallery = {
            "@context": "https://schema.org",
            "@type": "ImageGallery",
            "name": title,
            "datePublished": _iso(when),
        }
        og = rng.choice(("article", "website"))  # galleries are marked as articles as often as not
        return PageParts(
            title, title, og, url, f'<div class="gallery"><h1>{html.escape(title)}</h1>{figures}</div>', (gallery,)
        )
    if kind == "liveblog":
        title = "Live: " + headline(rng)
        updates = []
        update_objects = []
        for index in range(rng.randint(18, 36)):
            at = when - timedelta(minutes=7 * index + rng.randint(0, 6))
            text = " ".join(sentence(rng, site.name) for _ in range(rng.randint(1, 2)))
            updates.append(
                f'<li class="update"><time datetime="{_iso(at)}">{at:%H:%M}</time><p>{html.escape(text)}</p></li>'
            )
            update_objects.append({"@type": "BlogPosting", "headline": text[:60], "datePublished": _iso(at)})
        live = {
            "@context": "https://schema.org",
            "@type": "LiveBlogPosting",
            "headline": title,
            "coverageStartTime": _iso(when - timedelta(hours=6)),
            "liveBlogUpdate": update_objects[:10],
        }
        return PageParts(
            title,
            title,
            "article",
            url,
            f'<h1>{html.escape(title)}</h1><ol class="live-updates">{"".join(updates)}</ol>',
            (live,),
        )
    if kind == "search":
        query = url.split("q=", 1)[-1].replace("+", " ")
        main = f'<h1>Search results for \u201c{html.escape(query)}\u201d</h1><p class="count">{rng.randint(20, 900)} results</p>{_cards(site, rng, rng.randint(10, 20), 1, when)}'
        return PageParts(
            f"Search: {query}",
            f"Search results for {query}",
            "website",
            url,
            main,
            (),
            '<meta name="robots" content="noindex">',
        )
    raise ValueError(f"not a non-article page kind: {kind}")


def error_parts(site: Site, url: str, status: int) -> PageParts:
    """A 404 page in the site's chrome, or a bare 500 page."""
    if status == 404:
        main = '<div class="error"><h1>Page not found</h1><p>The page you were looking for may have moved or no longer exists.</p><a href="/">Home</a></div>'
        return PageParts("Page not found", "Page not found", "website", url, main)
    main = "<h1>500 Internal Server Error</h1><p>The server encountered an unexpected condition.</p>"
    return PageParts("Internal Server Error", "", "website", url, main)


# --------------------------------------------------------------------------
# Non-HTML bodies
# --------------------------------------------------------------------------


def jpeg_bytes(rng: random.Random) -> bytes:
    """A JPEG-framed body (SOI, JFIF APP0, entropy-coded-looking bytes, EOI) of 3 to 60 KB."""
    return (
        b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
        + rng.randbytes(rng.randint(3000, 60000))
        + b"\xff\xd9"
    )


def pdf_bytes(title: str) -> bytes:
    """A valid one-page PDF saying ``title`` (objects, cross-reference table and trailer with their real offsets)."""
    text = title.encode("latin-1", "replace").replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")
    content = b"BT /F1 14 Tf 72 720 Td (" + text + b") Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, obj in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + obj + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    out.write(b"".join(b"%010d 00000 n \n" % offset for offset in offsets))
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def non_html_body(site: Site, content_type: str, rng: random.Random, when: datetime) -> tuple[str, bytes]:
    """The path and body of a non-HTML response of ``content_type``."""
    token = f"{rng.getrandbits(32):08x}"
    if content_type == "image/jpeg":
        return f"/images/{when:%Y/%m}/{token}.jpg", jpeg_bytes(rng)
    if content_type == "application/pdf":
        return f"/documents/{token}.pdf", pdf_bytes(f"{site.name}: annual report {when.year}")
    if content_type == "application/json":
        items = [
            {"id": rng.getrandbits(32), "headline": headline(rng), "teaser": sentence(rng, site.name)}
            for _ in range(20)
        ]
        return f"/api/v2/latest?page={rng.randint(1, 9)}&token={token}", json.dumps(
            {"items": items}, ensure_ascii=False
        ).encode()
    if content_type == "text/css":
        return f"/static/css/{token}.css", site_chrome(site, rng.getrandbits(16)).style.replace("}", "}\n").encode()
    lines = [
        "User-agent: *",
        "Disallow: /search",
        "Disallow: /login",
        "Disallow: /api/",
        "",
        "User-agent: GPTBot",
        "Disallow: /",
        "",
    ]
    lines.append(f"Sitemap: https://{site.host}/sitemap-news.xml")
    return "/robots.txt", ("\n".join(lines) + "\n").encode()


# --------------------------------------------------------------------------
# What is served
# --------------------------------------------------------------------------


class Truth(NamedTuple):
    """What the sidecar says about a response: what a reader must find in it."""

    kind: str
    language: Optional[str]
    charset: Optional[str]  # the body's real encoding (None: binary)
    meta_charset: Optional[str]  # what the page itself declares (meta charset), as written
    source: str  # "synthetic" or "article_pages"
    corpus_url: Optional[str] = None
    title: Optional[str] = None
    snippet: Optional[str] = None  # a sentence of the main text (generated pages)
    boilerplate: Optional[str] = None  # text on the page that is not the main text (generated pages)


@dataclass(frozen=True)
class Item:
    """One fetch: how the local server answers it and what the archive records about it."""

    url: str  # WARC-Target-URI
    ip: str  # WARC-IP-Address (documentation ranges: never contacted)
    server: str  # the Server header
    fetched: datetime
    status: int
    content_type: Optional[str]  # the HTTP Content-Type, charset parameter included
    body: bytes  # identity body
    truth: Truth
    headers: tuple[tuple[str, str], ...] = ()
    content_encoding: str = ""  # "", gzip, deflate, br
    chunk_size: Optional[int] = None  # chunked transfer, in chunks of this size
    decoded: bool = False  # stored as Common Crawl stores it: payload decoded, X-Crawler-* headers
    metadata: bool = False  # followed by a metadata record
    fetch_ms: int = 0

    @property
    def declared_charset(self) -> Optional[str]:
        """The charset the HTTP Content-Type declares."""
        match = re.search(r"charset=([\w.:-]+)", self.content_type or "", re.I)
        return match.group(1) if match else None

    @property
    def host(self) -> str:
        return self.url.split("/")[2]

    @property
    def target(self) -> str:
        """The request target (path and query)."""
        return "/" + self.url.split("/", 3)[3]


def _deck(counts: dict[Any, int], rng: random.Random) -> Iterator[Any]:
    """Endless draws from ``counts``: a shuffled deck of exactly those counts, reshuffled each time it runs out."""
    cards = [value for value, count in counts.items() for _ in range(count)]
    while True:
        rng.shuffle(cards)
        yield from cards


class CorpusPage(NamedTuple):
    """A page of ``article_pages``: where it came from, its bytes, its real charset and language."""

    url: str
    payload: bytes
    charset: str
    meta_charset: Optional[str]
    language: Optional[str]


_META_CHARSET_RE = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([\w.:-]+)""", re.I)
_LANG_RE = re.compile(rb"""<html[^>]*\slang\s*=\s*["']?([A-Za-z]{2,3})""", re.I)


def page_charset(payload: bytes) -> tuple[str, Optional[str]]:
    """A page's real encoding (UTF-8 when it decodes as such, else its meta charset, else windows-1252) and its meta charset."""
    match = _META_CHARSET_RE.search(payload[:8192])
    meta = match.group(1).decode("ascii").lower() if match else None
    try:
        payload.decode("utf-8")
        return "utf-8", meta
    except UnicodeDecodeError:
        pass
    if meta and meta not in ("utf-8", "utf8"):
        try:
            payload.decode(meta)
            return meta, meta
        except (LookupError, UnicodeDecodeError):
            pass
    return "windows-1252", meta


def corpora_dir() -> Path:
    """``../shared/corpora`` beside the project, or ``$NEWSBEAM_CORPORA``."""
    return Path(os.environ.get("NEWSBEAM_CORPORA") or ROOT.parent / "shared" / "corpora")


def corpus_pages(folder: Optional[Path]) -> list[CorpusPage]:
    """The pages of ``article_pages`` (``folder``) in URL order, read into memory; none when it is absent."""
    if folder is None or not (folder / "evaldata.json").is_file():
        return []
    evaldata = json.loads((folder / "evaldata.json").read_text(encoding="utf-8"))
    pages = []
    for url in sorted(evaldata):
        with gzip.open(folder / "html" / f"{evaldata[url]['file']}.gz") as handle:
            payload = handle.read()
        charset, meta = page_charset(payload)
        lang = _LANG_RE.search(payload[:4096])
        pages.append(CorpusPage(url, payload, charset, meta, lang.group(1).decode().lower() if lang else None))
    return pages


_WRONG = {"utf-8": "iso-8859-1"}


def content_type_for(mime: str, charset: Optional[str], declared: str) -> str:
    """The HTTP Content-Type of a text body: with its charset (``right``), without (``absent``), or a wrong one."""
    if charset is None or declared == "absent":
        return mime
    if declared == "wrong":
        return f"{mime}; charset={_WRONG.get(charset, 'utf-8')}"
    return f"{mime}; charset={charset.upper() if charset == 'utf-8' else charset}"


@dataclass
class _Planner:
    """The state that drawing items keeps: decks, counters, the clock, the corpus pages."""

    seed: int
    pages: list[CorpusPage]
    rng: random.Random = field(init=False)
    clock: datetime = CRAWL_START
    counter: int = 0
    chromes: dict[str, Chrome] = field(default_factory=dict)
    turns: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.kinds = _deck(KIND_DECK, self.rng)
        self.articles = _deck(ARTICLE_DECK, self.rng)
        self.declared = _deck(DECLARED_DECK, self.rng)
        self.wire = _deck(WIRE_DECK, self.rng)

    def chrome(self, site: Site) -> Chrome:
        if site.host not in self.chromes:
            self.chromes[site.host] = site_chrome(site, self.seed)
        return self.chromes[site.host]

    def turn(self, name: str, choices: Sequence[Any]) -> Any:
        """The next of ``choices`` in turn (so each appears as soon as a few of its kind have)."""
        index = self.turns[name]
        self.turns[name] += 1
        return choices[index % len(choices)]

    def item(
        self, url: str, site: Site, status: int, content_type: Optional[str], body: bytes, truth: Truth, **extra: Any
    ) -> Item:
        """An item fetched now, encoded on the wire by the next draw of the wire deck (text bodies only)."""
        rng = self.rng
        encoding, chunked = (
            next(self.wire)
            if content_type and not content_type.startswith(("image/", "application/pdf"))
            else ("", False)
        )
        if encoding == "br" and brotli is None:
            encoding = "gzip"
        if status in (301, 302):
            encoding, chunked = "", False
        self.clock += timedelta(milliseconds=rng.randint(150, 2800))
        encoded = bool(encoding) or chunked
        return Item(
            url=url,
            ip=site.ip,
            server=site.server,
            fetched=self.clock,
            status=status,
            content_type=content_type,
            body=body,
            truth=truth,
            content_encoding=encoding,
            chunk_size=rng.choice((1024, 4096, 8000, 16384)) if chunked else None,
            decoded=encoded and self.turn("stored", (False, True)),
            metadata=rng.random() < 0.3,
            fetch_ms=rng.randint(40, 2500),
            **extra,
        )

    def next_url(self, site: Site, path: str) -> str:
        self.counter += 1
        return f"https://{site.host}{path}"


def _article(plan: _Planner, language: str, charset: str) -> Item:
    """The next article: a corpus page, a generated English one, or a short one in another language."""
    rng = plan.rng
    declared = next(plan.declared)
    if language == "main" and plan.pages:
        page = plan.pages[plan.turns["corpus"] % len(plan.pages)]
        plan.turns["corpus"] += 1
        site = rng.choice(SITES)
        name = re.sub(r"\.html?$", "", page.url.rstrip("/").rsplit("/", 1)[-1]) or "index"
        path = f"/{rng.choice(site.sections)}/{plan.clock:%Y/%m/%d}/{slug(name)}-{plan.counter:06d}.html"
        truth = Truth("article", page.language, page.charset, page.meta_charset, "article_pages", corpus_url=page.url)
        return plan.item(
            plan.next_url(site, path),
            site,
            200,
            content_type_for("text/html", page.charset, declared),
            page.payload,
            truth,
        )
    language = "en" if language == "main" else language
    site = FOREIGN_SITES[language] if language in FOREIGN_SITES else rng.choice(SITES)
    published = plan.clock - timedelta(minutes=rng.randint(20, 60 * 60))
    if language == "en":
        title = headline(rng)
        body = paragraphs(rng, rng.randint(6, 18), site.name)
    else:
        titles, sentences = FOREIGN_TEXT[language]
        title = rng.choice(titles)
        pool = list(sentences)
        rng.shuffle(pool)
        body = [" ".join(pool[i : i + 2]) for i in range(0, len(pool), 2)][: rng.randint(3, 5)]
    path = f"/{rng.choice(site.sections)}/{published:%Y/%m/%d}/{slug(title)}-{plan.counter:06d}.html"
    url = plan.next_url(site, path)
    meta = charset if declared != "absent" or rng.random() < 0.5 else None
    parts = article_parts(site, url, title, body, published, person_name(rng), rng)
    markup = page_html(site, plan.chrome(site), parts, meta, rng)
    truth = Truth(
        "article",
        language,
        charset,
        meta,
        "synthetic",
        title=title,
        snippet=body[len(body) // 2],
        boilerplate=CHROME_WORDS[site.language][11],
    )
    payload = markup.encode(charset, "xmlcharrefreplace")
    return plan.item(url, site, 200, content_type_for("text/html", charset, declared), payload, truth)


def _listing(plan: _Planner, kind: str) -> Item:
    """The next non-article HTML page of ``kind``."""
    rng = plan.rng
    site = rng.choice(SITES)
    section = rng.choice(site.sections)
    paths = {
        "home": "/" if rng.random() < 0.4 else f"/{section}/",
        "tag": f"/tag/{slug(rng.choice(_HEAD_NOUNS))}",
        "author": f"/authors/{slug(person_name(rng))}",
        "video": f"/video/{section}/{slug(headline(rng))}-{plan.counter:06d}",
        "gallery": f"/{section}/gallery/{slug(headline(rng))}-{plan.counter:06d}",
        "liveblog": f"/{section}/live/{plan.clock:%Y-%m-%d}-{slug(headline(rng))}",
        "search": f"/search?q={'+'.join(rng.choice(_HEAD_NOUNS).lower().split())}",
    }
    path = paths[kind]
    if kind in ("home", "tag", "author", "search"):
        path += ("&" if "?" in path else "?") + f"ref={plan.counter:06d}"  # the same page, fetched again later
    url = plan.next_url(site, path)
    parts = listing_parts(site, url, kind, plan.clock, rng)
    declared = next(plan.declared)
    meta = "utf-8" if declared != "absent" or rng.random() < 0.5 else None
    markup = page_html(site, plan.chrome(site), parts, meta, rng)
    truth = Truth(kind, site.language, "utf-8", meta, "synthetic", title=parts.title)
    return plan.item(url, site, 200, content_type_for("text/html", "utf-8", declared), markup.encode("utf-8"), truth)


def _other(plan: _Planner, kind: str) -> Item:
    """The next non-HTML response, redirect or error page."""
    rng = plan.rng
    site = rng.choice(SITES)
    if kind == "non_html":
        mime = plan.turn("non_html", NON_HTML)
        path, body = non_html_body(site, mime, rng, plan.clock)
        charset = "utf-8" if mime.startswith("text/") or mime == "application/json" else None
        content_type = content_type_for(mime, charset, "right" if rng.random() < 0.7 else "absent")
        truth = Truth("non_html", None, charset, None, "synthetic")
        return plan.item(plan.next_url(site, path), site, 200, content_type, body, truth)
    if kind == "redirect":
        status = plan.turn("redirect", REDIRECTS)
        section = rng.choice(site.sections)
        old = f"/{section}/{rng.getrandbits(28):x}"
        target = f"https://{site.host}/{section}/{plan.clock:%Y/%m/%d}/{slug(headline(rng))}-{plan.counter:06d}.html"
        reason = "Moved Permanently" if status == 301 else "Found"
        body = f"<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n<center><h1>{status} {reason}</h1></center>\r\n<hr><center>{site.server}</center>\r\n</body>\r\n</html>\r\n"
        truth = Truth("redirect", None, "utf-8", None, "synthetic")
        return plan.item(
            plan.next_url(site, old), site, status, "text/html", body.encode(), truth, headers=(("Location", target),)
        )
    status = plan.turn("error", ERRORS)
    path = f"/{rng.choice(site.sections)}/{plan.clock:%Y/%m/%d}/{slug(headline(rng))}-{plan.counter:06d}.html"
    url = plan.next_url(site, path)
    parts = error_parts(site, url, status)
    markup = (
        page_html(site, plan.chrome(site), parts, "utf-8", rng)
        if status == 404
        else f"<!DOCTYPE html><html><head><title>{parts.title}</title></head><body>{parts.main}</body></html>"
    )
    truth = Truth("error", site.language, "utf-8", "utf-8" if status == 404 else None, "synthetic", title=parts.title)
    return plan.item(url, site, status, "text/html; charset=utf-8", markup.encode(), truth)


def default_pages_dir() -> Optional[Path]:
    """``article_pages`` of the shared corpora, when it is there."""
    folder = corpora_dir() / "article_pages"
    return folder if (folder / "evaldata.json").is_file() else None


def corpus_items(records: int, seed: int = 0, pages: Optional[Path] = None) -> Iterator[Item]:
    """``records`` responses to serve and archive, drawn in CC-NEWS's proportions; the same ones for the same seed.

    ``pages``: the ``article_pages`` folder whose pages are the articles
    (each under new URLs as often as needed); None for generated ones.
    """
    plan = _Planner(seed, corpus_pages(pages))
    for _ in range(records):
        kind = next(plan.kinds)
        if kind == "article":
            language, charset = next(plan.articles)
            yield _article(plan, language, charset)
        elif kind in NON_ARTICLE_HTML:
            yield _listing(plan, kind)
        else:
            yield _other(plan, kind)


# --------------------------------------------------------------------------
# Serving and capturing
# --------------------------------------------------------------------------


def encode_body(body: bytes, encoding: str) -> bytes:
    """``body`` in a content encoding (gzip and deflate as servers send them: no timestamp, zlib-wrapped deflate)."""
    if encoding == "gzip":
        return gzip.compress(body, compresslevel=6, mtime=0)
    if encoding == "deflate":
        return zlib.compress(body, 6)
    if encoding == "br":
        if brotli is None:
            raise ValueError("brotli is not installed")
        return bytes(brotli.compress(body, quality=5))
    return body


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    items: dict[tuple[str, str], Item]


class _Handler(BaseHTTPRequestHandler):
    """Answers each request with the item registered for its Host and target, as a real server would send it."""

    protocol_version = "HTTP/1.1"
    server: _Server
    item: Optional[Item] = None

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        item = self.server.items.pop((self.headers.get("Host", ""), self.path), None)
        if item is None:
            self.send_error(404, "no item for this request")
            return
        self.item = item
        self.send_response(item.status)
        body = encode_body(item.body, item.content_encoding)
        if item.content_type:
            self.send_header("Content-Type", item.content_type)
        for name, value in item.headers:
            self.send_header(name, value)
        if item.content_encoding:
            self.send_header("Content-Encoding", item.content_encoding)
            self.send_header("Vary", "Accept-Encoding")
        self.send_header("Cache-Control", "max-age=60, public" if item.status == 200 else "no-cache")
        if item.chunk_size is None:
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for start in range(0, len(body), item.chunk_size):
            chunk = body[start : start + item.chunk_size]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        self.wfile.write(b"0\r\n\r\n")

    def version_string(self) -> str:
        return self.item.server if self.item else "BaseHTTP"

    def date_time_string(self, timestamp: Optional[float] = None) -> str:
        """The item's fetch time, so that the same seed gives the same bytes."""
        if self.item is None:
            return super().date_time_string(timestamp)
        return format_datetime(self.item.fetched.replace(microsecond=0), usegmt=True)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's name
        """Quiet: thousands of requests."""


@contextmanager
def local_server() -> Iterator[_Server]:
    """An HTTP/1.1 server on 127.0.0.1 (a free port) in a thread, with an empty table of items to serve."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.items = {}
    thread = threading.Thread(target=server.serve_forever, name="warc-corpus-server", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class Exchange(NamedTuple):
    """The bytes of one request and its response, as they went over the socket."""

    request: bytes
    response: bytes


def request_bytes(item: Item) -> bytes:
    """The GET a news crawler sends for ``item`` (Host: the fake domain)."""
    lines = [
        f"GET {item.target} HTTP/1.1",
        f"Host: {item.host}",
        f"User-Agent: {USER_AGENT}",
        "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        "Accept-Language: en-US,en;q=0.5",
        f"Accept-Encoding: {ACCEPT_ENCODING}",
        "Connection: keep-alive",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


def read_response(stream: BinaryIO) -> bytes:
    """One HTTP/1.1 response off a keep-alive connection, byte for byte (framed by Content-Length or chunked)."""
    raw = bytearray()
    length = 0
    chunked = False
    while True:
        line = stream.readline()
        if not line:
            raise ConnectionError("connection closed inside a response head")
        raw += line
        if line == b"\r\n":
            break
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
        elif name.strip().lower() == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if not chunked:
        raw += stream.read(length)
        return bytes(raw)
    while True:
        size_line = stream.readline()
        raw += size_line
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        raw += stream.read(size + 2)
    while True:  # trailer
        line = stream.readline()
        raw += line
        if line in (b"\r\n", b""):
            return bytes(raw)


def fetch_all(items: Iterable[Item]) -> Iterator[tuple[Item, Exchange]]:
    """Each item served by a local server and fetched over one keep-alive socket: the bytes both ways."""
    with local_server() as server:
        port = server.server_address[1]
        connection = socket.create_connection(("127.0.0.1", port))
        stream = connection.makefile("rb")
        try:
            for item in items:
                server.items[(item.host, item.target)] = item
                request = request_bytes(item)
                connection.sendall(request)
                yield item, Exchange(request, read_response(stream))
        finally:
            stream.close()
            connection.close()


# --------------------------------------------------------------------------
# WARC records
# --------------------------------------------------------------------------


def digest(data: bytes) -> str:
    """A WARC digest: ``sha1:`` and the base-32 SHA-1, as Common Crawl and warcio write them."""
    return "sha1:" + base64.b32encode(hashlib.sha1(data).digest()).decode("ascii")


def warc_record(fields: Sequence[tuple[str, str]], block: bytes) -> bytes:
    """A WARC/1.0 record: version line, ``fields`` (``Content-Length`` placed after the record id), block, two CRLFs."""
    lines = ["WARC/1.0"]
    for name, value in fields:
        lines.append(f"{name}: {value}")
        if name == "WARC-Record-ID":
            lines.append(f"Content-Length: {len(block)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + block + b"\r\n\r\n"


def dechunk(body: bytes) -> bytes:
    """A chunked body's data."""
    out = bytearray()
    position = 0
    while True:
        end = body.index(b"\r\n", position)
        size = int(body[position:end].split(b";")[0], 16)
        if size == 0:
            return bytes(out)
        out += body[end + 2 : end + 2 + size]
        position = end + 2 + size + 2


def stored_response(item: Item, response: bytes) -> tuple[bytes, bytes]:
    """The response block as archived and its payload (what the payload digest is over).

    On the wire: the bytes as received; the payload is the body with the
    transfer encoding removed (WARC 1.1 §6.3.2: the entity body), content
    encoding kept. Decoded (``item.decoded``), as Common Crawl stores it:
    body decoded, ``Content-Encoding``, ``Transfer-Encoding`` and
    ``Content-Length`` renamed with ``X-Crawler-`` and a ``Content-Length``
    of the stored body added.
    """
    head, _, body = response.partition(b"\r\n\r\n")
    payload = dechunk(body) if item.chunk_size is not None else body
    if not item.decoded:
        return response, payload
    lines = head.split(b"\r\n")
    renamed = [lines[0]]
    for line in lines[1:]:
        name = line.split(b":", 1)[0].strip().lower()
        renamed.append(
            b"X-Crawler-" + line if name in (b"content-encoding", b"transfer-encoding", b"content-length") else line
        )
    renamed.append(b"Content-Length: %d" % len(item.body))
    return b"\r\n".join(renamed) + b"\r\n\r\n" + item.body, item.body


def _metadata_block(item: Item) -> bytes:
    """A metadata record's fields, as Common Crawl's crawler writes them (fetch time, charset and language found)."""
    fields = [f"fetchTimeMs: {item.fetch_ms}"]
    if item.truth.charset:
        fields.append(f"charset-detected: {item.truth.charset.upper()}")
    if item.truth.language:
        cld2 = {"reliable": True, "languages": [{"code": item.truth.language, "text-covered": 0.98}]}
        fields.append("languages-cld2: " + json.dumps(cld2, separators=(",", ":")))
    return ("\r\n".join(fields) + "\r\n").encode("utf-8")


class RecordOut(NamedTuple):
    """A record to write and, for a response, what the sidecar says about it."""

    kind: str
    data: bytes
    response: Optional[dict[str, Any]] = None


def warc_records(exchanges: Iterable[tuple[Item, Exchange]], filename: str, seed: int = 0) -> Iterator[RecordOut]:
    """The records of an archive: a warcinfo, then for each exchange request, response (and metadata)."""
    ids = random.Random(f"record-ids-{seed}")

    def new_id() -> str:
        return f"<urn:uuid:{uuid.UUID(int=ids.getrandbits(128), version=4)}>"

    info_id = new_id()
    info = (
        "\r\n".join(
            [
                "software: newsbeam bench/warc_corpus.py (CC-NEWS-shaped test corpus)",
                "isPartOf: CC-NEWS-TEST",
                "operator: newsbeam tests",
                "description: News pages served from 127.0.0.1 under fake domains, captured as they went over the socket",
                "robots: checked via robots.txt",
                f"http-header-user-agent: {USER_AGENT}",
                "format: WARC File Format 1.0",
                "conformsTo: https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.0/",
            ]
        ).encode()
        + b"\r\n"
    )
    fields = [
        ("WARC-Type", "warcinfo"),
        ("WARC-Date", _iso(CRAWL_START)),
        ("WARC-Record-ID", info_id),
        ("Content-Type", "application/warc-fields"),
        ("WARC-Filename", filename),
    ]
    yield RecordOut("warcinfo", warc_record(fields, info))
    for item, exchange in exchanges:
        date = _iso(item.fetched)
        request_id, response_id = new_id(), new_id()
        common = [("WARC-Warcinfo-ID", info_id), ("WARC-IP-Address", item.ip), ("WARC-Target-URI", item.url)]
        yield RecordOut(
            "request",
            warc_record(
                [
                    ("WARC-Type", "request"),
                    ("WARC-Date", date),
                    ("WARC-Record-ID", request_id),
                    ("Content-Type", "application/http; msgtype=request"),
                    *common,
                    ("WARC-Block-Digest", digest(exchange.request)),
                ],
                exchange.request,
            ),
        )
        block, payload = stored_response(item, exchange.response)
        mime = (item.content_type or "application/octet-stream").split(";")[0]
        response_fields = [
            ("WARC-Type", "response"),
            ("WARC-Date", date),
            ("WARC-Record-ID", response_id),
            ("Content-Type", "application/http; msgtype=response"),
            *common,
            ("WARC-Concurrent-To", request_id),
            ("WARC-Payload-Digest", digest(payload)),
            ("WARC-Block-Digest", digest(block)),
            ("WARC-Identified-Payload-Type", mime),
        ]
        truth = item.truth
        sidecar = {
            "url": item.url,
            "kind": truth.kind,
            "status": item.status,
            "language": truth.language,
            "charset": truth.charset,
            "declared_charset": item.declared_charset,
            "meta_charset": truth.meta_charset,
            "content_type": item.content_type,
            "content_encoding": item.content_encoding or None,
            "chunked": item.chunk_size is not None,
            "stored": "decoded" if item.decoded else "wire",
            "record_id": response_id,
            "date": date,
            "body_bytes": len(item.body),
            "body_sha1": hashlib.sha1(item.body).hexdigest(),
            "source": truth.source,
            "corpus_url": truth.corpus_url,
            "title": truth.title,
            "snippet": truth.snippet,
            "boilerplate": truth.boilerplate,
            "location": dict(item.headers).get("Location"),
        }
        yield RecordOut("response", warc_record(response_fields, block), sidecar)
        if item.metadata:
            meta_fields = [
                ("WARC-Type", "metadata"),
                ("WARC-Date", date),
                ("WARC-Record-ID", new_id()),
                ("Content-Type", "application/warc-fields"),
                *common,
                ("WARC-Concurrent-To", response_id),
            ]
            yield RecordOut("metadata", warc_record(meta_fields, _metadata_block(item)))


class _Sink:
    """Where records go, and the offset of each: in the file (one member per record, or none) or in the gzip stream."""

    def __init__(self, path: Path, mode: str) -> None:
        if mode not in GZIP_MODES:
            raise ValueError(f"gzip mode {mode!r} is not one of {GZIP_MODES}")
        self.mode = mode
        self.file: BinaryIO = open(path, "wb")  # noqa: SIM115 - closed in close()
        self.stream: IO[bytes] = (
            gzip.GzipFile(fileobj=self.file, mode="wb", compresslevel=6, mtime=0) if mode == WHOLE else self.file
        )
        self.uncompressed = 0

    def write(self, data: bytes) -> int:
        """Writes one record; its offset (in the file, or in the decompressed stream of a one-stream file)."""
        offset = self.uncompressed if self.mode == WHOLE else self.file.tell()
        self.stream.write(gzip.compress(data, compresslevel=6, mtime=0) if self.mode == MEMBER else data)
        self.uncompressed += len(data)
        return offset

    def close(self) -> None:
        if self.stream is not self.file:
            self.stream.close()
        self.file.close()


def write_warc(path: Path | str, items: Iterable[Item], gzip_mode: str = MEMBER, seed: int = 0) -> dict[str, Any]:
    """Serves and fetches ``items``, writes the archive to ``path``; returns the sidecar (not written: see ``write_corpus``).

    ``gzip_mode``: ``member`` (one gzip member per record, as CC-NEWS),
    ``whole`` (one gzip stream: not splittable) or ``plain`` (no compression).
    """
    path = Path(path)
    sink = _Sink(path, gzip_mode)
    responses: list[dict[str, Any]] = []
    records: list[list[Any]] = []
    totals: Counter[str] = Counter()
    try:
        for record in warc_records(fetch_all(items), path.name, seed):
            offset = sink.write(record.data)
            records.append([record.kind, offset])
            totals[record.kind] += 1
            if record.response is not None:
                responses.append({**record.response, "offset": offset})
    finally:
        sink.close()
    return {
        "file": path.name,
        "gzip_mode": gzip_mode,
        "offsets_in": "decompressed stream" if gzip_mode == WHOLE else "file",
        "seed": seed,
        "bytes": path.stat().st_size,
        "uncompressed_bytes": sink.uncompressed,
        "records": {**dict(sorted(totals.items())), "total": sum(totals.values())},
        "responses_by_kind": dict(Counter(r["kind"] for r in responses).most_common()),
        "record_offsets": records,
        "responses": responses,
    }


def write_corpus(
    path: Path | str, records: int, seed: int = 0, pages: Optional[Path] = None, gzip_mode: str = MEMBER
) -> dict[str, Any]:
    """``records`` responses (see ``corpus_items``) written to ``path``, and the sidecar beside it (``path`` + ``.json``)."""
    sidecar = write_warc(path, corpus_items(records, seed, pages), gzip_mode, seed)
    sidecar["pages"] = "article_pages" if pages else "generated"
    Path(f"{path}.json").write_text(json.dumps(sidecar, ensure_ascii=False, indent=1), encoding="utf-8")
    return sidecar


def main(argv: Optional[Sequence[str]] = None, out: Callable[[str], None] = print) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output", type=Path, help="the WARC file to write (.warc.gz, or .warc with --plain)")
    parser.add_argument(
        "--records", type=int, default=1000, help="responses to write (each with its request; default 1000)"
    )
    parser.add_argument(
        "--pages",
        type=Path,
        default=None,
        help="article_pages folder (default: ../shared/corpora/article_pages when present)",
    )
    parser.add_argument(
        "--no-pages", action="store_true", help="generated articles only, even where the corpus is present"
    )
    parser.add_argument("--seed", type=int, default=0, help="same seed, same bytes")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--whole-gzip", action="store_true", help="the whole file as one gzip stream (cannot be split)")
    mode.add_argument("--plain", action="store_true", help="no compression")
    args = parser.parse_args(argv)
    pages = None if args.no_pages else (args.pages or default_pages_dir())
    gzip_mode = WHOLE if args.whole_gzip else PLAIN if args.plain else MEMBER
    started = time.perf_counter()
    sidecar = write_corpus(args.output, args.records, args.seed, pages, gzip_mode)
    seconds = time.perf_counter() - started
    out(
        f"{args.output}: {sidecar['bytes'] / 1e6:.1f} MB ({sidecar['uncompressed_bytes'] / 1e6:.1f} MB uncompressed, {gzip_mode}), "
        f"{seconds:.1f} s; articles from {sidecar['pages']}"
    )
    out("records: " + ", ".join(f"{k} {v}" for k, v in sidecar["records"].items()))
    out("responses: " + ", ".join(f"{k} {v}" for k, v in sidecar["responses_by_kind"].items()))
    out(f"sidecar: {args.output}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
