"""Migration 24 (issue 17), kept beside ``schema.py`` (which holds every other
migration; never edited once released): the lists and search at a million requests.

Each filter of the requests list has an index in the list's order, so a rare value (a
status, a kind, an urgency, an authority) is a range scan, not a walk through every
request; the case board's status and investigator filters and its shared cases too.
Its authority, country and overdue filters find the cases through their requests when
few match (``store/paging.is_sparse``). The deadlines list keeps its own order's
indexes: ``store/deadline_lists.py`` names counterpart and urgency with a unary +, or
SQLite, without statistics, would take these for selective and sort a whole list.
Erasures are found by time (``store/search_texts.py``: they leave the search index).
"""

from __future__ import annotations

MIGRATION: list[str] = [
    "CREATE INDEX requests_status_newest ON requests (status, created_at, id)",
    "CREATE INDEX requests_counterpart_newest ON requests (counterpart, created_at, id)",
    "CREATE INDEX requests_kind_newest ON requests (kind, created_at, id)",
    "CREATE INDEX requests_urgency_newest ON requests (urgency, created_at, id)",
    "CREATE INDEX requests_erased ON requests (erased_at) WHERE erased_at IS NOT NULL",
    "CREATE INDEX cases_status_newest ON cases (status, created_at, id)",
    "CREATE INDEX cases_creator_newest ON cases (created_by, created_at, id)",
    "CREATE INDEX cases_shared_newest ON cases (created_at, id) WHERE origin IS NOT NULL",
]
