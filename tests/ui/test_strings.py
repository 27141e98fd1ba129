"""Every string a template or the script asks for exists in the English table, so a
translation can be made by copying one table (and nothing visible is hard-coded)."""

from __future__ import annotations

import re
from pathlib import Path

from exchange.web.ui.strings import DIRECTION, EN, STRINGS, labeller

TEMPLATES = Path(__file__).resolve().parents[2] / "exchange" / "web" / "ui" / "templates"


def test_every_key_used_exists() -> None:
    used: set[str] = set()
    for template in TEMPLATES.glob("*.html"):
        used |= set(re.findall(r"""\bt\(["']([a-z0-9_]+)["']""", template.read_text()))
    assert used, "the templates use the string table"
    prefixes = {k for k in used if k.endswith("_")}  # t("state_" ~ value): a family of keys
    assert sorted(used - prefixes - EN.keys()) == []
    for prefix in prefixes:
        assert any(key.startswith(prefix) for key in EN), prefix


def test_tables_and_directions_agree() -> None:
    assert set(STRINGS) == set(DIRECTION)
    for table in STRINGS.values():
        assert set(table) <= set(EN)
    label = labeller("en")
    assert label("status", "answered") == "Answered"
    assert label("status", "something_new") == "something new"  # never a blank
