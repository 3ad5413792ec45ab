"""Bearer tokens and scopes of the sync API.

* A token is ``chs_`` + 43 url-safe characters (256 random bits), shown once by ``chitty-sync
  token create``; the hub store keeps only its sha256 (``hash_token``).
* Checking a request hashes the presented token and compares it with every active hash using
  ``hmac.compare_digest`` (constant time: how much of a guess matched is not measurable).
* Scopes are levels, each including the ones below: ``read`` < ``write`` < ``sync`` < ``admin``.
  A comma-separated list (``read,sync``) grants exactly the listed scopes and no others.
  GET needs read; POST/PUT/DELETE of sessions, projects, topics and todos need write; submitting
  a sync run needs sync; deleting a project needs admin.
* Tokens never reach a log line: the access log prints the token's *name*.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

LEVELS: tuple[str, ...] = ("read", "write", "sync", "admin")
TOKEN_PREFIX = "chs_"


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def parse_scope(scope: str) -> frozenset[str]:
    """The scopes a stored scope string grants; ValueError for an unknown name."""
    names = [s.strip() for s in scope.split(",") if s.strip()]
    unknown = [n for n in names if n not in LEVELS]
    if not names or unknown:
        raise ValueError(f"unknown scope {scope!r}: use one of {', '.join(LEVELS)} or a comma-separated list")
    if len(names) == 1:  # a level includes every level below it
        return frozenset(LEVELS[: LEVELS.index(names[0]) + 1])
    return frozenset(names)


@dataclass(frozen=True)
class Principal:
    """Who made a request: a token's name and scopes (never the token)."""

    name: str
    scopes: frozenset[str]

    def allows(self, scope: str) -> bool:
        return scope in self.scopes


NO_AUTH = Principal("no-auth (loopback)", frozenset(LEVELS))


def match_token(presented: str, stored: list[tuple[str, str, str]]) -> Principal | None:
    """The principal whose stored hash equals the presented token's hash, else None.

    Every stored hash is compared (no early exit), each in constant time."""
    digest = hash_token(presented)
    found: Principal | None = None
    for name, token_hash, scope in stored:
        if hmac.compare_digest(digest, token_hash) and found is None:
            try:
                found = Principal(name, parse_scope(scope))
            except ValueError:
                continue
    return found


def bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, else None."""
    if not header:
        return None
    kind, _, value = header.partition(" ")
    value = value.strip()
    return value if kind.lower() == "bearer" and value else None


def is_loopback(host: str) -> bool:
    import ipaddress

    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
