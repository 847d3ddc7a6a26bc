"""Who may do what: the roles of API keys and console accounts, and what each route needs.

Roles:

- ``viewer``: reads everything a console user can read (never a secret's value, which
  nobody reads back); changes nothing.
- ``run`` (API keys only): starts jobs, and reads and halts the jobs it started.
- ``operator``: a viewer that also starts and halts any job.
- ``admin``: everything.

A route declares one of :data:`NEEDS` where it is registered; :func:`allows` is the one
table that says which roles meet which need.
"""

from __future__ import annotations

#: Every role, for API keys (their ``scope``).
ROLES = ("viewer", "run", "operator", "admin")
#: The roles a console account may have (``run`` is for automation keys only).
ACCOUNT_ROLES = ("viewer", "operator", "admin")

#: What a route may need. ``open``: no caller needed; ``any``: any key or session (reading
#: jobs, where a run key sees only the jobs it started; one's own password); ``viewer``:
#: reading anything else; ``run``: starting and halting jobs (a run key halts only its
#: own); ``admin``: changing anything else.
NEEDS = ("open", "any", "viewer", "run", "admin")

_GRANTS: dict[str, frozenset[str]] = {
    "viewer": frozenset({"any", "viewer"}),
    "run": frozenset({"any", "run"}),
    "operator": frozenset({"any", "viewer", "run"}),
    "admin": frozenset({"any", "viewer", "run", "admin"}),
}


def allows(role: str, need: str) -> bool:
    """True when ``role`` meets ``need``.

    Raises:
        ValueError: ``need`` is not one of :data:`NEEDS` (a bug in the caller).
    """
    if need not in NEEDS:
        raise ValueError(f"need is one of {', '.join(NEEDS)}, not {need!r}")
    return need == "open" or need in _GRANTS.get(role, frozenset())


def sees_every_job(role: str) -> bool:
    """True unless ``role`` sees only the jobs it started (a ``run`` key)."""
    return role != "run"


def check_role(role: object, roles: tuple[str, ...] = ROLES) -> str:
    """``role`` if it is one of ``roles``.

    Raises:
        ValueError: it is not (the message lists the roles).
    """
    if not isinstance(role, str) or role not in roles:
        raise ValueError(f"a role is one of {', '.join(roles)}, not {role!r}")
    return role


def needed(need: str) -> str:
    """The roles that meet ``need``, in words: ``"run, operator or admin"``."""
    names = [role for role in ROLES if allows(role, need)]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def grants(role: str) -> list[str]:
    """The needs ``role`` meets, in the order of :data:`NEEDS` (the console hides or
    disables what needs more)."""
    return [need for need in NEEDS if allows(role, need)]
