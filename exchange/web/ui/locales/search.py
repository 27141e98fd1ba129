"""Search (issue 17), in every language of the UI (its button says "Find": the
directory page's own button is "Search"): merged into each table
(``strings.EN``, ``locales/fr.py`` ...), kept together so the four read alike."""

from __future__ import annotations

SEARCH: dict[str, dict[str, str]] = {
    "en": {
        "find_button": "Find",
        "search_title": "Find requests",
        "search_label": "Words to find",
        "search_hint": (
            "Whole words of a subject, text, reference or authority; every word must be"
            " in the request. Case and accents do not matter."
        ),
        "search_results_for": "Requests holding: {q}",
        "search_building": (
            "Search is getting ready: the node is indexing its requests after starting."
            " Try again in a moment."
        ),
        "case_text": "Title or reference",
    },
    "fr": {
        "find_button": "Trouver",
        "search_title": "Trouver des demandes",
        "search_label": "Mots à trouver",
        "search_hint": (
            "Mots entiers d'un objet, d'un texte, d'une référence ou d'une autorité ; chaque"
            " mot doit figurer dans la demande. Majuscules et accents sont indifférents."
        ),
        "search_results_for": "Demandes contenant : {q}",
        "search_building": (
            "La recherche se prépare : le nœud indexe ses demandes après son démarrage."
            " Réessayez dans un instant."
        ),
        "case_text": "Titre ou référence",
    },
    "es": {
        "find_button": "Encontrar",
        "search_title": "Encontrar solicitudes",
        "search_label": "Palabras que buscar",
        "search_hint": (
            "Palabras completas de un asunto, texto, referencia o autoridad; cada palabra"
            " debe figurar en la solicitud. Mayúsculas y acentos no importan."
        ),
        "search_results_for": "Solicitudes que contienen: {q}",
        "search_building": (
            "La búsqueda se está preparando: el nodo indexa sus solicitudes tras arrancar."
            " Inténtelo de nuevo en un momento."
        ),
        "case_text": "Título o referencia",
    },
    "ar": {
        "find_button": "اعثر",
        "search_title": "العثور على الطلبات",
        "search_label": "الكلمات المطلوبة",
        "search_hint": (
            "كلمات كاملة من موضوع أو نص أو مرجع أو جهة؛ يجب أن ترد كل كلمة في الطلب."
            " لا أهمية لحالة الأحرف ولا للتشكيل."
        ),
        "search_results_for": "الطلبات التي تتضمن: {q}",
        "search_building": (
            "البحث قيد التحضير: العقدة تفهرس طلباتها بعد بدء التشغيل. أعد المحاولة بعد قليل."
        ),
        "case_text": "العنوان أو المرجع",
    },
}
