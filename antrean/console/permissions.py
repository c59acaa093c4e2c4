"""Who may do what: permission flags per role (flasky's habit), pure Python.

The four roles are fixed by the issue, so they live here as constants rather than as rows to seed:
changing what a role may do is one line, reviewed like any other code change."""

from __future__ import annotations

from enum import IntFlag


class Permission(IntFlag):
    VIEW_BOOKINGS = 0x01  # day list, quota fill, search, booking detail (masked)
    REVEAL_PERSONAL_DATA = 0x02  # full NIK, WhatsApp number and ID photo; each view is audited
    EXPORT = 0x04  # CSV of a day list; audited
    CHECK_IN = 0x08  # the door
    SERVE = 0x10  # call the next applicant, served, no-show
    HANDOFF = 0x20  # conversations waiting for a person
    REVIEW = 0x40  # conversations and NLU (later pages)
    ADMINISTER = 0x80  # audit log, accounts
    DASHBOARD = 0x100  # aggregate figures only (no personal data): registrations, funnel, NLU quality
    MODELS = 0x200  # trained NLU models: train, compare, promote through the gate, roll back

    @classmethod
    def none(cls) -> Permission:
        return cls(0)


ROLES: dict[str, Permission] = {
    "admin": Permission(0x3FF),
    "reviewer": Permission.REVIEW | Permission.HANDOFF | Permission.DASHBOARD,
    # The counter works with applicants face to face: it may see full data, but not run the door,
    # so one person cannot both let someone in and serve them under another's name.
    "counter": (Permission.VIEW_BOOKINGS | Permission.REVEAL_PERSONAL_DATA | Permission.EXPORT
                | Permission.SERVE | Permission.HANDOFF | Permission.DASHBOARD),
    "security": Permission.CHECK_IN,
    # Maintainers retrain the assistant from what reviewers confirmed: the inbox and the models, no
    # applicant's booking. Overriding the gate stays with admins (ADMINISTER).
    "maintainer": Permission.MODELS | Permission.REVIEW | Permission.DASHBOARD,
}

def permissions_of(role: str) -> Permission:
    return ROLES.get(role, Permission.none())
