"""Directory search: by country, kind, language and free text.

The index is built once per directory (on install), so a search over
10,000 entries is a few set lookups and one substring scan of
pre-folded text. Free text ignores case and accents ("Policia" finds
"Policía") and every word must match. A language filter ``fr`` matches
entries accepting ``fr`` or any ``fr-*`` tag.
"""

from __future__ import annotations

import unicodedata

from .directory import Authority, Directory


def fold(text: str) -> str:
    """Lower case without accents, for matching across scripts and keyboards."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


class DirectoryIndex:
    def __init__(self, directory: Directory) -> None:
        ordered = sorted(directory.authorities, key=lambda a: (a.country, fold(a.name)))
        self._entries: tuple[Authority, ...] = tuple(ordered)
        self._text: list[str] = []
        self._by_country: dict[str, set[int]] = {}
        self._by_kind: dict[str, set[int]] = {}
        self._by_language: dict[str, set[int]] = {}
        for i, a in enumerate(ordered):
            self._text.append(
                fold(
                    " ".join(
                        (
                            a.authority_id,
                            a.country,
                            a.name,
                            a.kind.replace("_", " "),
                            a.legal_requirements,
                        )
                    )
                )
            )
            self._by_country.setdefault(a.country, set()).add(i)
            self._by_kind.setdefault(a.kind, set()).add(i)
            for tag in a.languages:
                self._by_language.setdefault(tag.lower(), set()).add(i)
                self._by_language.setdefault(tag.split("-")[0].lower(), set()).add(i)

    def __len__(self) -> int:
        return len(self._entries)

    def search(
        self,
        q: str = "",
        *,
        country: str | None = None,
        kind: str | None = None,
        language: str | None = None,
        limit: int = 50,
    ) -> list[Authority]:
        """Entries matching every given filter, by country then name; at most ``limit``."""
        candidates: set[int] | None = None
        for table, key in (
            (self._by_country, country.upper() if country else None),
            (self._by_kind, kind),
            (self._by_language, language.lower() if language else None),
        ):
            if key is None:
                continue
            found = table.get(key, set())
            candidates = found if candidates is None else candidates & found
        words = fold(q).split()[:10]
        order = range(len(self._entries)) if candidates is None else sorted(candidates)
        result: list[Authority] = []
        for i in order:
            if words and not all(w in self._text[i] for w in words):
                continue
            result.append(self._entries[i])
            if len(result) >= limit:
                break
        return result
