"""Sharing a case (issue 16, item 1), in every language of the UI: merged into each
table (``strings.EN``, ``locales/fr.py`` ...), kept together here."""

from __future__ import annotations

SHARING: dict[str, dict[str, str]] = {
    "en": {
        "case_members": "Members of the case",
        "case_member": "Authority",
        "case_member_state": "Membership",
        "case_member_reference": "Their reference",
        "member_state_invited": "Invited",
        "member_state_member": "Member",
        "member_state_declined": "Declined",
        "member_state_left": "Left",
        "case_invite": "Invite an authority",
        "case_invite_button": "Send the invitation",
        "case_shared_by": "Shared by {origin}",
        "case_invitation_banner": (
            "{origin} invites this authority to the case. Accepting lets both sides file"
            " requests in it; the title, reference, offences and route come from {origin}."
        ),
        "case_accept": "Accept",
        "case_decline": "Decline",
        "case_accept_reference": "Our reference",
        "case_accept_investigator": "Investigator who holds the case here",
        "case_accept_nobody": "Liaison prosecutors only",
        "case_messages": "Membership messages",
        "case_message_type_case_invitation": "Invitation",
        "case_message_type_case_acceptance": "Answer",
        "case_message_type_case_membership": "Member list",
        "shared_only": "Shared cases only",
    },
    "fr": {
        "case_members": "Membres de l'affaire",
        "case_member": "Autorité",
        "case_member_state": "Participation",
        "case_member_reference": "Sa référence",
        "member_state_invited": "Invitée",
        "member_state_member": "Membre",
        "member_state_declined": "A décliné",
        "member_state_left": "Partie",
        "case_invite": "Inviter une autorité",
        "case_invite_button": "Envoyer l'invitation",
        "case_shared_by": "Partagée par {origin}",
        "case_invitation_banner": (
            "{origin} invite cette autorité à l'affaire. En acceptant, chaque partie peut y"
            " classer ses demandes ; le titre, la référence, les infractions et l'itinéraire"
            " viennent de {origin}."
        ),
        "case_accept": "Accepter",
        "case_decline": "Décliner",
        "case_accept_reference": "Notre référence",
        "case_accept_investigator": "Enquêteur qui suit l'affaire ici",
        "case_accept_nobody": "Magistrats de liaison seulement",
        "case_messages": "Messages de participation",
        "case_message_type_case_invitation": "Invitation",
        "case_message_type_case_acceptance": "Réponse",
        "case_message_type_case_membership": "Liste des membres",
        "shared_only": "Affaires partagées seulement",
    },
    "es": {
        "case_members": "Miembros del caso",
        "case_member": "Autoridad",
        "case_member_state": "Participación",
        "case_member_reference": "Su referencia",
        "member_state_invited": "Invitada",
        "member_state_member": "Miembro",
        "member_state_declined": "Rechazó",
        "member_state_left": "Salió",
        "case_invite": "Invitar a una autoridad",
        "case_invite_button": "Enviar la invitación",
        "case_shared_by": "Compartido por {origin}",
        "case_invitation_banner": (
            "{origin} invita a esta autoridad al caso. Al aceptar, ambas partes pueden"
            " archivar solicitudes en él; el título, la referencia, los delitos y la ruta"
            " vienen de {origin}."
        ),
        "case_accept": "Aceptar",
        "case_decline": "Rechazar",
        "case_accept_reference": "Nuestra referencia",
        "case_accept_investigator": "Investigador que lleva el caso aquí",
        "case_accept_nobody": "Solo fiscales de enlace",
        "case_messages": "Mensajes de participación",
        "case_message_type_case_invitation": "Invitación",
        "case_message_type_case_acceptance": "Respuesta",
        "case_message_type_case_membership": "Lista de miembros",
        "shared_only": "Solo casos compartidos",
    },
    "ar": {
        "case_members": "أعضاء القضية",
        "case_member": "الجهة",
        "case_member_state": "العضوية",
        "case_member_reference": "مرجعها",
        "member_state_invited": "مدعوة",
        "member_state_member": "عضو",
        "member_state_declined": "اعتذرت",
        "member_state_left": "انسحبت",
        "case_invite": "دعوة جهة",
        "case_invite_button": "إرسال الدعوة",
        "case_shared_by": "تشاركها {origin}",
        "case_invitation_banner": (
            "تدعو {origin} هذه الجهة إلى القضية. بالقبول يمكن لكل طرف أن يودع طلباته فيها؛"
            " العنوان والمرجع والجرائم والمسار من {origin}."
        ),
        "case_accept": "قبول",
        "case_decline": "اعتذار",
        "case_accept_reference": "مرجعنا",
        "case_accept_investigator": "المحقق الذي يتابع القضية هنا",
        "case_accept_nobody": "قضاة الاتصال فقط",
        "case_messages": "رسائل العضوية",
        "case_message_type_case_invitation": "دعوة",
        "case_message_type_case_acceptance": "رد",
        "case_message_type_case_membership": "قائمة الأعضاء",
        "shared_only": "القضايا المشتركة فقط",
    },
}
