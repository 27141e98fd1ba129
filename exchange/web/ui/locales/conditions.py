"""Conditions of use, evaluation and references (issue 16), in every language of the UI:
merged into each table (``strings.EN``, ``locales/fr.py`` ...), kept together here so the
meaning of each code reads the same in all four."""

from __future__ import annotations

CONDITIONS: dict[str, dict[str, str]] = {
    "en": {
        "conditions_of_use": "Conditions of use",
        "handling_code": "Handling code",
        "handling_H0": "H0 — no restriction",
        "handling_H1": (
            "H1 — not to be used as evidence in judicial proceedings without the"
            " provider's permission"
        ),
        "handling_H2": "H2 — not to be disseminated further without the provider's permission",
        "handling_H3": "H3 — other restrictions, stated by the provider",
        "handling_text": "Restrictions (required for H3)",
        "use_limitation": (
            "Use only for the proceedings stated in the request (UNTOC art. 18(19))"
        ),
        "confidential_flag": "Confidential (UNTOC art. 18(20))",
        "handling_default_hint": (
            "H2 with both UNTOC conditions is preselected: loosen them only on purpose."
        ),
        "evaluation": "Evaluation",
        "evaluation_source": "Source",
        "evaluation_information": "Information",
        "not_evaluated": "Not evaluated",
        "source_A": "A — completely reliable",
        "source_B": "B — usually reliable",
        "source_C": "C — fairly reliable",
        "source_D": "D — not usually reliable",
        "source_X": "X — reliability cannot be judged",
        "information_1": "1 — known to be true without reservation",
        "information_2": "2 — known personally to the source, not to the official passing it on",
        "information_3": "3 — not known personally to the source, corroborated",
        "information_4": "4 — not known personally to the source, cannot be corroborated",
        "sender_reference": "Sender's reference",
        "recipient_reference": "Recipient's reference",
        "your_reference": "Your file reference (optional, at most 100 characters)",
        "our_reference": "Our reference (optional)",
        "references": "References",
    },
    "fr": {
        "conditions_of_use": "Conditions d'utilisation",
        "handling_code": "Code de traitement",
        "handling_H0": "H0 — aucune restriction",
        "handling_H1": (
            "H1 — ne pas utiliser comme preuve dans une procédure judiciaire sans"
            " l'autorisation de l'autorité qui fournit l'information"
        ),
        "handling_H2": (
            "H2 — ne pas diffuser davantage sans l'autorisation de l'autorité qui fournit"
            " l'information"
        ),
        "handling_H3": "H3 — autres restrictions, indiquées par l'autorité qui la fournit",
        "handling_text": "Restrictions (obligatoires pour H3)",
        "use_limitation": (
            "Utiliser uniquement pour la procédure indiquée dans la demande (CTO art. 18(19))"
        ),
        "confidential_flag": "Confidentiel (CTO art. 18(20))",
        "handling_default_hint": (
            "H2 avec les deux conditions de la CTO est présélectionné : ne les assouplissez"
            " que délibérément."
        ),
        "evaluation": "Évaluation",
        "evaluation_source": "Source",
        "evaluation_information": "Information",
        "not_evaluated": "Non évaluée",
        "source_A": "A — entièrement fiable",
        "source_B": "B — généralement fiable",
        "source_C": "C — assez fiable",
        "source_D": "D — généralement peu fiable",
        "source_X": "X — fiabilité impossible à évaluer",
        "information_1": "1 — exacte sans réserve",
        "information_2": "2 — connue personnellement de la source, pas de l'agent qui la transmet",
        "information_3": "3 — pas connue personnellement de la source, corroborée",
        "information_4": "4 — pas connue personnellement de la source, non corroborée",
        "sender_reference": "Référence de l'expéditeur",
        "recipient_reference": "Référence du destinataire",
        "your_reference": "Votre référence de dossier (facultative, 100 caractères au plus)",
        "our_reference": "Notre référence (facultative)",
        "references": "Références",
    },
    "es": {
        "conditions_of_use": "Condiciones de uso",
        "handling_code": "Código de tratamiento",
        "handling_H0": "H0 — sin restricciones",
        "handling_H1": (
            "H1 — no utilizar como prueba en un procedimiento judicial sin permiso de quien"
            " proporciona la información"
        ),
        "handling_H2": ("H2 — no difundir más sin permiso de quien proporciona la información"),
        "handling_H3": "H3 — otras restricciones, indicadas por quien la proporciona",
        "handling_text": "Restricciones (obligatorias para H3)",
        "use_limitation": (
            "Usar solo para el procedimiento indicado en la solicitud (UNTOC art. 18(19))"
        ),
        "confidential_flag": "Confidencial (UNTOC art. 18(20))",
        "handling_default_hint": (
            "H2 con las dos condiciones de la UNTOC viene preseleccionado: relájelas solo a"
            " propósito."
        ),
        "evaluation": "Evaluación",
        "evaluation_source": "Fuente",
        "evaluation_information": "Información",
        "not_evaluated": "Sin evaluar",
        "source_A": "A — totalmente fiable",
        "source_B": "B — normalmente fiable",
        "source_C": "C — bastante fiable",
        "source_D": "D — normalmente poco fiable",
        "source_X": "X — fiabilidad imposible de evaluar",
        "information_1": "1 — cierta sin reservas",
        "information_2": "2 — conocida personalmente por la fuente, no por quien la transmite",
        "information_3": "3 — no conocida personalmente por la fuente, corroborada",
        "information_4": "4 — no conocida personalmente por la fuente, sin corroborar",
        "sender_reference": "Referencia del remitente",
        "recipient_reference": "Referencia del destinatario",
        "your_reference": "Su referencia de expediente (opcional, 100 caracteres como máximo)",
        "our_reference": "Nuestra referencia (opcional)",
        "references": "Referencias",
    },
    "ar": {
        "conditions_of_use": "شروط الاستخدام",
        "handling_code": "رمز المعالجة",
        "handling_H0": "H0 — بلا قيود",
        "handling_H1": "H1 — لا تُستخدم دليلاً في إجراءات قضائية دون إذن الجهة المقدِّمة",
        "handling_H2": "H2 — لا تُنشر إلى جهات أخرى دون إذن الجهة المقدِّمة",
        "handling_H3": "H3 — قيود أخرى تحددها الجهة المقدِّمة",
        "handling_text": "القيود (إلزامية مع H3)",
        "use_limitation": (
            "تُستخدم فقط للإجراءات المذكورة في الطلب (اتفاقية الجريمة المنظمة، المادة 18(19))"
        ),
        "confidential_flag": "سري (اتفاقية الجريمة المنظمة، المادة 18(20))",
        "handling_default_hint": "تم اختيار H2 مع الشرطين مسبقاً: لا تخففهما إلا عن قصد.",
        "evaluation": "التقييم",
        "evaluation_source": "المصدر",
        "evaluation_information": "المعلومة",
        "not_evaluated": "غير مقيَّم",
        "source_A": "A — موثوق تماماً",
        "source_B": "B — موثوق عادةً",
        "source_C": "C — موثوق إلى حد ما",
        "source_D": "D — غير موثوق عادةً",
        "source_X": "X — لا يمكن تقدير الموثوقية",
        "information_1": "1 — صحيحة دون تحفظ",
        "information_2": "2 — يعرفها المصدر شخصياً، لا الموظف الذي ينقلها",
        "information_3": "3 — لا يعرفها المصدر شخصياً، ومؤكدة من مصادر أخرى",
        "information_4": "4 — لا يعرفها المصدر شخصياً، ولا يمكن تأكيدها",
        "sender_reference": "مرجع المرسِل",
        "recipient_reference": "مرجع المرسَل إليه",
        "your_reference": "مرجع ملفك (اختياري، 100 حرف على الأكثر)",
        "our_reference": "مرجعنا (اختياري)",
        "references": "المراجع",
    },
}
