"""How a URL is fetched: one value, built from the pipeline options, whose defaults are the options' defaults."""

from __future__ import annotations

import importlib.metadata
from typing import NamedTuple, Optional

from transforms.sources import MAX_FILE_MB, MB


def _version() -> str:
    try:
        return importlib.metadata.version("newsbeam")
    except importlib.metadata.PackageNotFoundError:  # running from a source tree that was not installed
        return "dev"


VERSION = _version()


class FetchPolicy(NamedTuple):
    """Everything that decides how one URL is fetched; built from the pipeline options.

    Two size limits, never to be confused: ``max_response_bytes`` is the body
    as it comes off the wire (``--max-response-mb``), ``max_decoded_bytes``
    the body once its content encodings are undone (a gzip bomb is cut off
    while it inflates), the same limit a file read from disk has
    (``--max-file-mb``). ``discover`` is read by the feed fetch only
    (``feeds.fetch_feed``): the HTTP client never looks inside a body.
    """

    contact: Optional[str] = None
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    deadline: float = 120.0
    max_redirects: int = 5
    retries: int = 3
    backoff: float = 1.0
    max_retry_wait: float = 60.0
    max_response_bytes: int = 16 * MB
    max_decoded_bytes: int = MAX_FILE_MB * MB
    allow_private_hosts: bool = False
    conditional: bool = True
    per_host_concurrency: int = 2
    per_host_delay: float = 1.0
    threads: int = 16
    discover: bool = True
    #: Keep each response as it came (``FetchOutcome.exchanges``) for the run's web archive (``--warc-out``).
    keep_exchanges: bool = False

    @property
    def user_agent(self) -> str:
        contact = f"; +{self.contact}" if self.contact else ""
        return f"newsbeam/{VERSION} (feed fetcher; Apache Beam{contact})"
