"""Several recipients (issue 16, item 2), in every language of the UI: merged into each
table (``strings.EN``, ``locales/fr.py`` ...), kept together so the four read alike."""

from __future__ import annotations

RECIPIENTS: dict[str, dict[str, str]] = {
    "en": {
        "case_implicit_several": "Case opened by one request to several authorities",
        "also_to": "Also send to (one request each, sealed for each alone)",
        "also_to_hint": "Tick every other authority along the route; leave empty for one.",
        "one_recipient_drafts": "A draft has one recipient: send it, or untick the others.",
        "sent_to_several": "Sent: one request per recipient, each with its own receipt.",
        "per_recipient": "Per recipient",
        "recipient": "Recipient",
        "country_code": "Country",
        "last_message": "Last message",
    },
    "fr": {
        "case_implicit_several": "Dossier ouvert par une demande à plusieurs autorités",
        "also_to": "Envoyer aussi à (une demande chacune, scellée pour elle seule)",
        "also_to_hint": "Cochez les autres autorités de la route ; rien pour une seule.",
        "one_recipient_drafts": (
            "Un brouillon a un seul destinataire : envoyez-le, ou décochez les autres."
        ),
        "sent_to_several": "Envoyé : une demande par destinataire, chacune avec son accusé.",
        "per_recipient": "Par destinataire",
        "recipient": "Destinataire",
        "country_code": "Pays",
        "last_message": "Dernier message",
    },
    "es": {
        "case_implicit_several": "Caso abierto por una solicitud a varias autoridades",
        "also_to": "Enviar también a (una solicitud cada una, sellada solo para ella)",
        "also_to_hint": "Marque las demás autoridades de la ruta; nada para una sola.",
        "one_recipient_drafts": (
            "Un borrador tiene un solo destinatario: envíelo o desmarque los demás."
        ),
        "sent_to_several": "Enviado: una solicitud por destinatario, cada una con su acuse.",
        "per_recipient": "Por destinatario",
        "recipient": "Destinatario",
        "country_code": "País",
        "last_message": "Último mensaje",
    },
    "ar": {
        "case_implicit_several": "قضية فتحها طلب إلى عدة جهات",
        "also_to": "أرسل أيضاً إلى (طلب لكل جهة، مختوم لها وحدها)",
        "also_to_hint": "حدد الجهات الأخرى على المسار؛ اتركها فارغة لجهة واحدة.",
        "one_recipient_drafts": "للمسودة مرسَل إليه واحد: أرسلها أو ألغِ تحديد الجهات الأخرى.",
        "sent_to_several": "أُرسل: طلب لكل مرسَل إليه، ولكل منها إشعار استلامه.",
        "per_recipient": "حسب المرسَل إليه",
        "recipient": "المرسَل إليه",
        "country_code": "البلد",
        "last_message": "آخر رسالة",
    },
}
