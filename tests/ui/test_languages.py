"""The UI in English, French, Spanish and Arabic (right to left): every table complete,
the language chosen by the switcher or the browser, and the page marked accordingly."""

from __future__ import annotations

import re
import string
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from exchange.web.ui.strings import DIRECTION, EN, NAMES, STRINGS, choose_language, translator

from ..federation import PASSWORD, Federation, Member

FIELDS = string.Formatter()


def fields(text: str) -> set[str]:
    return {name for _, name, _, _ in FIELDS.parse(text) if name}


@pytest.mark.parametrize("code", sorted(set(STRINGS) - {"en"}))
def test_each_table_has_every_string_with_its_fields(code: str) -> None:
    table = STRINGS[code]
    assert set(table) == set(EN), "a translation holds exactly the English keys"
    for key, english in EN.items():
        assert fields(table[key]) == fields(english), key
        assert table[key].strip(), key
    assert code in DIRECTION and code in NAMES
    assert DIRECTION[code] == ("rtl" if code == "ar" else "ltr")


def test_translated_strings_are_translated() -> None:
    # not copies of the English: most strings of each table differ from it
    for code in set(STRINGS) - {"en"}:
        same = [k for k in EN if STRINGS[code][k] == EN[k]]
        assert len(same) < len(EN) // 10, (code, same)


@pytest.mark.parametrize(
    ("cookie", "header", "expected"),
    [
        (None, None, "en"),
        (None, "fr-FR,fr;q=0.9,en;q=0.8", "fr"),
        (None, "de-DE,es;q=0.5,ar;q=0.7", "ar"),  # by weight, German not offered
        (None, "es-MX", "es"),
        (None, "pt-BR, de", "en"),
        (None, "fr;q=0, es;q=0.1", "es"),  # q=0 means "not this one"
        (None, "fr;q=abc, ar", "ar"),  # a broken weight is ignored
        ("ar", "fr", "ar"),  # the switcher's choice wins
        ("xx", "es", "es"),  # an unknown cookie value is ignored
    ],
)
def test_choose_language(cookie: str | None, header: str | None, expected: str) -> None:
    assert choose_language(cookie, header) == expected


def test_translator_formats_fields() -> None:
    _, direction, t = translator("fr")
    assert direction == "ltr"
    assert t("promised_response", hours=4) == "S'engage à répondre en urgence sous 4 h"


@pytest.fixture
async def member(tmp_path: Path) -> AsyncIterator[Member]:
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA"])
    await fed.start("ES-CNA")
    yield fed["ES-CNA"]
    await fed.stop()


async def _page(
    session: aiohttp.ClientSession, member: Member, path: str, **headers: str
) -> tuple[int, str, aiohttp.typedefs.LooseHeaders]:
    ssl = aiohttp.Fingerprint(bytes.fromhex(member.fingerprint))
    async with session.get(member.url + path, ssl=ssl, allow_redirects=False, headers=headers) as r:
        return r.status, await r.text(), r.headers


async def test_pages_follow_the_browser_and_the_switcher(member: Member) -> None:
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as session:
        status, html, _ = await _page(session, member, "/login", **{"Accept-Language": "fr"})
        assert status == 200 and '<html lang="fr" dir="ltr">' in html
        assert "<h1>Connexion</h1>" in html or "Connexion" in html
        status, html, _ = await _page(session, member, "/login", **{"Accept-Language": "ar"})
        assert '<html lang="ar" dir="rtl">' in html and "تسجيل الدخول" in html
        # every language is offered, each named in itself, the current one marked
        for code, name in NAMES.items():
            assert re.search(rf'href="/language/{code}\?next=/login"[^>]*>{name}<', html)
        assert re.search(r'href="/language/ar[^"]*"[^>]*aria-current="true"', html)

        status, _, headers = await _page(session, member, "/language/es?next=/login")
        assert status == 303 and headers["Location"] == "/login"
        cookie = headers["Set-Cookie"]
        assert "exchange_lang=es" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
        status, html, _ = await _page(session, member, "/login", **{"Accept-Language": "fr"})
        assert '<html lang="es" dir="ltr">' in html and "Iniciar sesión" in html

        # logged in, the navigation is in the chosen language too
        ssl = aiohttp.Fingerprint(bytes.fromhex(member.fingerprint))
        async with session.post(
            member.url + "/login",
            data={"username": "investigator", "password": PASSWORD, "next": "/requests"},
            ssl=ssl,
            allow_redirects=False,
        ) as r:
            assert r.status == 303
        status, html, _ = await _page(session, member, "/requests")
        assert status == 200 and "Mis solicitudes" in html and "Cerrar sesión" in html


async def test_the_switcher_refuses_unknown_languages_and_foreign_targets(
    member: Member,
) -> None:
    async with aiohttp.ClientSession() as session:
        status, _, _ = await _page(session, member, "/language/xx")
        assert status == 404
        for target in ("https://evil.example/", "//evil.example/x", "javascript:alert(1)"):
            status, _, headers = await _page(session, member, f"/language/fr?next={target}")
            assert status == 303 and headers["Location"] == "/", target
