"""A Griffe extension for the API reference: docstrings cross-reference the way Sphinx
does (``:class:`~aft.jobs.Job```), which Markdown would show literally; each such role is
rendered as a code span of the name (its last part when the target starts with ``~``)."""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?:class|func|meth|data|mod|attr|exc|obj|const):`(~?)([^`]+)`")


def plain(docstring: str) -> str:
    """``docstring`` with every Sphinx cross-reference role turned into a code span."""
    return ROLE.sub(lambda m: f"`{m[2].rsplit('.', 1)[-1] if m[1] else m[2]}`", docstring)


class SphinxRoles(griffe.Extension):
    """Rewrites each object's docstring as it is loaded."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = plain(obj.docstring.value)
