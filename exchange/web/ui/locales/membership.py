"""Leaving a shared case, removing a member, and the case's consent requests (issue
16), in every language of the UI: merged into each table (``strings.EN``,
``locales/fr.py`` ...), kept together here."""

from __future__ import annotations

MEMBERSHIP: dict[str, dict[str, str]] = {
    "en": {
        "member_state_removed": "Removed",
        "case_message_type_case_departure": "Departure",
        "case_member_actions": "Actions",
        "case_remove": "Remove",
        "case_remove_label": "Remove {authority} from the case",
        "case_leave": "Leave the case",
        "case_left_notice": (
            "This authority left the case. Its members no longer send it the case's"
            " messages; this copy stays as it was."
        ),
        "case_removed_notice": (
            "{origin} removed this authority from the case. Its members no longer send it"
            " the case's messages; this copy stays as it was."
        ),
        "case_consents": "Consent requests",
        "consent_request_col": "Request",
        "consent_asked_by": "Asked by",
        "consent_asked_of": "Asked of",
        "consent_concerns": "Concerns",
        "consent_concerns_request": "The request",
        "consent_concerns_answers": "The answers",
        "consent_asked_at": "Asked",
        "consent_state_pending": "Pending",
        "consent_state_granted": "Granted",
        "consent_state_refused": "Refused",
    },
    "fr": {
        "member_state_removed": "Retirée",
        "case_message_type_case_departure": "Départ",
        "case_member_actions": "Actions",
        "case_remove": "Retirer",
        "case_remove_label": "Retirer {authority} de l'affaire",
        "case_leave": "Quitter l'affaire",
        "case_left_notice": (
            "Cette autorité a quitté l'affaire. Ses membres ne lui envoient plus les"
            " messages de l'affaire ; cette copie reste telle quelle."
        ),
        "case_removed_notice": (
            "{origin} a retiré cette autorité de l'affaire. Ses membres ne lui envoient"
            " plus les messages de l'affaire ; cette copie reste telle quelle."
        ),
        "case_consents": "Demandes de consentement",
        "consent_request_col": "Demande",
        "consent_asked_by": "Demandé par",
        "consent_asked_of": "Demandé à",
        "consent_concerns": "Porte sur",
        "consent_concerns_request": "La demande",
        "consent_concerns_answers": "Les réponses",
        "consent_asked_at": "Demandé le",
        "consent_state_pending": "En attente",
        "consent_state_granted": "Accordé",
        "consent_state_refused": "Refusé",
    },
    "es": {
        "member_state_removed": "Retirada",
        "case_message_type_case_departure": "Salida",
        "case_member_actions": "Acciones",
        "case_remove": "Retirar",
        "case_remove_label": "Retirar a {authority} del caso",
        "case_leave": "Salir del caso",
        "case_left_notice": (
            "Esta autoridad salió del caso. Sus miembros ya no le envían los mensajes del"
            " caso; esta copia queda como estaba."
        ),
        "case_removed_notice": (
            "{origin} retiró a esta autoridad del caso. Sus miembros ya no le envían los"
            " mensajes del caso; esta copia queda como estaba."
        ),
        "case_consents": "Solicitudes de consentimiento",
        "consent_request_col": "Solicitud",
        "consent_asked_by": "Pedido por",
        "consent_asked_of": "Pedido a",
        "consent_concerns": "Se refiere a",
        "consent_concerns_request": "La solicitud",
        "consent_concerns_answers": "Las respuestas",
        "consent_asked_at": "Pedido el",
        "consent_state_pending": "Pendiente",
        "consent_state_granted": "Otorgado",
        "consent_state_refused": "Denegado",
    },
    "ar": {
        "member_state_removed": "أُخرجت",
        "case_message_type_case_departure": "انسحاب",
        "case_member_actions": "إجراءات",
        "case_remove": "إخراج",
        "case_remove_label": "إخراج {authority} من القضية",
        "case_leave": "الانسحاب من القضية",
        "case_left_notice": (
            "انسحبت هذه الجهة من القضية. لم يعد أعضاؤها يرسلون إليها رسائل القضية؛"
            " تبقى هذه النسخة كما هي."
        ),
        "case_removed_notice": (
            "أخرجت {origin} هذه الجهة من القضية. لم يعد أعضاؤها يرسلون إليها رسائل القضية؛"
            " تبقى هذه النسخة كما هي."
        ),
        "case_consents": "طلبات الموافقة",
        "consent_request_col": "الطلب",
        "consent_asked_by": "طلبتها",
        "consent_asked_of": "طُلبت من",
        "consent_concerns": "تتعلق بـ",
        "consent_concerns_request": "الطلب",
        "consent_concerns_answers": "الردود",
        "consent_asked_at": "تاريخ الطلب",
        "consent_state_pending": "قيد الانتظار",
        "consent_state_granted": "تمت الموافقة",
        "consent_state_refused": "مرفوضة",
    },
}
