"""Pipeline composition, options, command line and run reporting.

Importing the package installs one log filter before anything imports Beam
(the package is initialised before any of its modules).
"""

import logging


class _QuietOptionalGcp(logging.Filter):
    """Drops Beam's import-time notice that the optional GCP client libraries are absent.

    Beam logs it on the root logger whenever ``apache-beam[gcp]`` is not
    installed; local runs do not need those libraries, and the notice would
    open every run's output with a misleading warning.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "apitools not found" not in record.getMessage()


logging.getLogger().addFilter(_QuietOptionalGcp())
