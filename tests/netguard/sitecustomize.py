"""The network guard in every Python process a test starts (the CLI, Beam and Dask workers, helpers).

``tests/conftest.py`` puts this directory first on ``PYTHONPATH`` and names
a log in ``NEWSBEAM_NETGUARD_LOG`` for the whole session, so the interpreter
imports this module at start-up (``site``) in each child, which installs the
guard of ``newsbeam_netguard`` there when the variable is set. Only one
``sitecustomize`` is ever imported, so this one then runs the next one on
``sys.path`` (a venv's or the system's own), which keeps working as before.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys


def _install_guard() -> None:
    import newsbeam_netguard  # beside this file, which is on sys.path: that is how this module was found

    newsbeam_netguard.install_from_environment()


def _chain() -> None:
    """Runs the ``sitecustomize`` this one hides: the first one further on ``sys.path`` that is not a copy of this."""
    here = os.path.dirname(os.path.abspath(__file__))
    later = [
        entry
        for entry in sys.path
        if entry
        and os.path.abspath(entry) != here
        and not os.path.exists(os.path.join(entry, "newsbeam_netguard.py"))  # another copy of this guard
    ]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", later)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules["_sitecustomize_chained"] = module
    spec.loader.exec_module(module)


_install_guard()
_chain()
