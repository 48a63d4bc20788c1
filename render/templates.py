"""The one Jinja environment every file of the project is rendered with.

Templates are named by their path in the repository (`cloud-init/roles/web.yaml.j2`,
`steps/migrate.sh.j2`), so a name says where to read the file. Block tags eat
the newline after them; an undefined name is an error, never an empty string.
"""

from __future__ import annotations

import json
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from model.project import ROOT

ENVIRONMENT = Environment(
    loader=FileSystemLoader(str(ROOT)),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
    autoescape=False,
)
# JSON is YAML: a value quoted this way reads back as exactly itself.
ENVIRONMENT.filters["q"] = json.dumps


def render(template: str, **context: Any) -> str:
    """The text of the template at `template` (a path from the repository's root)."""
    return ENVIRONMENT.get_template(template).render(context)
