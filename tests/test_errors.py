"""The dead-letter stages: which ones count as read, which ones are never entries of a feed.

``READ_STAGES`` is what a stream's window report counts as read and what
``SafeDoFn.counts_read`` declares stage by stage in a batch run; these tests
hold the two together over every ``SafeDoFn`` of every transforms module, so
a new stage cannot count one way in batch and another in a stream.
"""

from __future__ import annotations

import importlib
import pkgutil

import transforms
from transforms.errors import INPUT_STAGES, READ_STAGES, SafeDoFn


def every_safe_dofn() -> list[type[SafeDoFn]]:
    for module in pkgutil.walk_packages(transforms.__path__, "transforms."):
        importlib.import_module(module.name)
    found: list[type[SafeDoFn]] = []
    pending = list(SafeDoFn.__subclasses__())
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


def test_the_stages_that_count_as_read_are_read_stages() -> None:
    stages = {cls.stage: cls.counts_read for cls in every_safe_dofn()}
    assert {"fetch", "source", "read", "parse"} <= set(stages)  # the stages this test is about were all found
    assert {stage for stage, counts in stages.items() if counts} == READ_STAGES


def test_input_stages_come_before_parse_and_count_as_read() -> None:
    """A feed's health leaves out its inputs' dead letters (no entries yet) and counts parse's (entries)."""
    assert INPUT_STAGES < READ_STAGES
    assert READ_STAGES - INPUT_STAGES == {"parse"}
