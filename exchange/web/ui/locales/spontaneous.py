"""Spontaneous information (issue 16, item 6), in every language of the UI: merged into
each table (``strings.EN``, ``locales/fr.py`` ...), kept together so the four read alike."""

from __future__ import annotations

SPONTANEOUS: dict[str, dict[str, str]] = {
    "en": {
        "no_answer_expected": "Spontaneous information — no answer expected",
        "spontaneous_no_deadline": "Spontaneous information expects no answer: no deadline.",
    },
    "fr": {
        "no_answer_expected": "Information spontanée — aucune réponse attendue",
        "spontaneous_no_deadline": (
            "Une information spontanée n'attend pas de réponse : pas de délai."
        ),
    },
    "es": {
        "no_answer_expected": "Información espontánea — no se espera respuesta",
        "spontaneous_no_deadline": "La información espontánea no espera respuesta: sin plazo.",
    },
    "ar": {
        "no_answer_expected": "معلومات تلقائية — لا يُنتظر رد",
        "spontaneous_no_deadline": "المعلومات التلقائية لا تنتظر رداً: بلا مهلة.",
    },
}
