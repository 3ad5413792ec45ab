"""The OAuth token endpoint of the fake Drive: service-account JWT assertions (RS256 signature
verified against the registered public key) and refresh-token grants, both revocable."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from typing import Any
from urllib.parse import parse_qs

from chitty_pipelines.kernel.fake_server import Request, Response


class TokenEndpoint:
    """Mixed into ``FakeDrive``; the host provides ``base_url`` and ``_state`` (an RLock)."""

    base_url: str
    _state: threading.RLock
    require_auth: bool

    def _init_tokens(self) -> None:
        self._service_accounts: dict[str, Any] = {}  # client_email -> public key
        self._refresh_tokens: dict[str, tuple[str, str]] = {}  # refresh token -> (id, secret)
        self._access_tokens: set[str] = set()
        self.issued_tokens: list[str] = []  # every access token handed out (tests look for leaks)
        self.revoked = False

    def register_service_account(self, client_email: str, public_key: Any) -> None:
        self._service_accounts[client_email] = public_key

    def register_refresh_token(self, refresh_token: str, client_id: str, client_secret: str) -> None:
        self._refresh_tokens[refresh_token] = (client_id, client_secret)

    def revoke(self) -> None:
        """Every issued access token and every grant stops working (a revoked key)."""
        with self._state:
            self.revoked = True
            self._access_tokens.clear()

    @property
    def token_uri(self) -> str:
        return f"{self.base_url}/token"

    def _token(self, req: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs(req.body.decode()).items()}
        grant = form.get("grant_type", "")
        ok = False
        if not self.revoked and grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            ok = self._valid_assertion(form.get("assertion", ""))
        elif not self.revoked and grant == "refresh_token":
            expected = self._refresh_tokens.get(form.get("refresh_token", ""))
            ok = expected == (form.get("client_id"), form.get("client_secret"))
        if not ok:
            return Response(400, {"error": "invalid_grant", "error_description": "Invalid grant."})
        token = "ya29.fake-" + base64.urlsafe_b64encode(hashlib.sha256(req.body).digest()[:12]).decode()
        with self._state:
            self._access_tokens.add(token)
            self.issued_tokens.append(token)
        return Response(200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"})

    def _valid_assertion(self, assertion: str) -> bool:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        try:
            head, body, sig = assertion.split(".")
            claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
            key = self._service_accounts[claims["iss"]]
            key.verify(
                base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)),
                f"{head}.{body}".encode(),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except (ValueError, KeyError, InvalidSignature):
            return False
        # google-auth always addresses the assertion to Google's endpoint, whatever token_uri is.
        audiences = {self.token_uri, "https://oauth2.googleapis.com/token"}
        return claims.get("aud") in audiences and "drive" in claims.get("scope", "")

    def _authorized(self, req: Request) -> bool:
        if not self.require_auth:
            return True
        auth = req.headers.get("authorization", "")
        return auth.startswith("Bearer ") and auth[7:] in self._access_tokens
