"""A frozen copy of newsbeam's first id rule (``ID_RULE`` 1), for tests of what older outputs hold.

Output directories written before the id rule changed carry ``article_id``s
and canonical ``url``s made by this code: the tests build such rows with it
and check that a run under the current rule recognises them. Never change
this file; it is what rule 1 was (``transforms/identify.py`` before the
tracker list became data and query parameters were sorted).
"""

from __future__ import annotations

import hashlib
from typing import Optional
from urllib.parse import quote, unquote, urlsplit, urlunsplit

_TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "mc_cid",
        "mc_eid",
        "igshid",
        "yclid",
        "_ga",
        "ocid",
        "cmpid",
    }
)
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _is_tracking(name: str) -> bool:
    name = name.lower()
    return name.startswith("utm_") or name in _TRACKING_PARAMS


def canonical_url_rule1(url: Optional[str]) -> Optional[str]:
    if not url:
        return None
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname.lower().rstrip(".")
    if port and port != _DEFAULT_PORTS[scheme]:
        host = f"{host}:{port}"
    if parts.username:
        host = f"{parts.username}@{host}"
    path = quote(parts.path, safe="/%:@!$&'()*+,;=-._~") or "/"
    query = "&".join(p for p in parts.query.split("&") if p and not _is_tracking(unquote(p.split("=", 1)[0])))
    return urlunsplit((scheme, host, path, quote(query, safe="=&%+:/?@!$'()*,;-._~"), ""))


def url_id_rule1(url: Optional[str]) -> Optional[str]:
    """The ``article_id`` rule 1 gave an article with this link (None: no usable URL, another kind of id)."""
    canonical = canonical_url_rule1(url)
    if canonical is None:
        return None
    return hashlib.blake2b(f"url\x1f{canonical}".encode(), digest_size=10).hexdigest()
