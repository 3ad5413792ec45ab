"""Google Drive v3 through google-api-python-client: credentials from the environment, the
synced folder or shared drive, a configurable API root, and one retry policy for every call.

The client's own retries are off (``num_retries=0``) so that ``resources/retry.call_with_retry``
alone decides: 429, 5xx and 403 rate-limit reasons back off (honouring Retry-After); 401 and
rejected grants fail at once with the name of the variable to fix. Messages never echo a key,
a token or a request header.
"""

from __future__ import annotations

import http.client
import json
import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import dagster as dg
from pydantic import Field

from chitty_pipelines import config
from chitty_pipelines.kernel.retry import call_with_retry, parse_retry_after

if TYPE_CHECKING:
    # The Google client libraries are imported where used, not when the code location loads.
    from google.auth import exceptions as auth_exceptions
    from googleapiclient.errors import HttpError

SCOPES = ["https://www.googleapis.com/auth/drive.readonly"]
FILE_FIELDS = (
    "id,name,mimeType,parents,size,md5Checksum,modifiedTime,createdTime,version,trashed,"
    "owners(displayName,emailAddress),driveId,webViewLink"
)
DEFAULT_TOKEN_URI = "https://oauth2.googleapis.com/token"
_RATE_REASONS = {"rateLimitExceeded", "userRateLimitExceeded"}
_RETRY_STATUSES = {408, 429, 500, 502, 503, 504}
_GRANT_ERRORS = {"invalid_grant", "invalid_client", "unauthorized_client", "invalid_request", "access_denied"}


class DriveAuthError(RuntimeError):
    """Credentials were refused; the message names the variable to fix and nothing secret."""


class DriveApiError(RuntimeError):
    """A non-retryable API error (other than auth), e.g. the folder is not shared with us."""


class DriveUnreachable(DriveApiError):
    """No (usable) answer from DRIVE_BASE_URL or DRIVE_TOKEN_URI after every attempt: the folder
    id is not what to check."""


def _reason(exc: HttpError) -> str:
    try:
        details = exc.error_details
        if isinstance(details, list) and details and isinstance(details[0], dict):
            return str(details[0].get("reason", ""))
    except Exception:  # error_details is parsed lazily from the body; a bad body has no reason
        pass
    return ""


def is_retryable(exc: BaseException) -> bool:
    import httplib2
    from google.auth import exceptions as auth_exceptions
    from googleapiclient.errors import HttpError

    if isinstance(exc, HttpError):
        status = exc.status_code
        return status in _RETRY_STATUSES or (status == 403 and _reason(exc) in _RATE_REASONS)
    if isinstance(exc, auth_exceptions.RefreshError):
        return not _is_grant_refusal(exc)
    return isinstance(
        exc, auth_exceptions.TransportError | OSError | http.client.HTTPException | httplib2.HttpLib2Error
    )


def retry_after(exc: BaseException) -> float | None:
    from googleapiclient.errors import HttpError

    if isinstance(exc, HttpError):
        return parse_retry_after(exc.resp.get("retry-after"))
    return None


def _is_grant_refusal(exc: auth_exceptions.RefreshError) -> bool:
    """The token endpoint said no (a revoked key or token), as opposed to being unavailable."""
    data = exc.args[1] if len(exc.args) > 1 else None
    error = data.get("error") if isinstance(data, dict) else None
    return isinstance(error, str) and error in _GRANT_ERRORS  # a 5xx envelope holds a dict here


def _load_json(value: str, variable: str) -> dict[str, Any]:
    """A variable holds either the JSON itself or the path of a file holding it."""
    text = value.strip()
    if not text.startswith("{"):
        try:
            with open(os.path.expanduser(text), encoding="utf-8") as fh:
                text = fh.read()
        except OSError as exc:
            raise DriveAuthError(
                f"{variable} is neither JSON nor a readable file path ({type(exc).__name__})"
            ) from None
    try:
        info = json.loads(text)
    except ValueError:
        raise DriveAuthError(f"{variable} does not hold valid JSON") from None
    if not isinstance(info, dict):
        raise DriveAuthError(f"{variable} must hold a JSON object")
    return info


class DriveClient:
    """One authorised Drive service plus the retry policy; all calls go through ``execute``."""

    def __init__(
        self,
        service: Any,
        credential_var: str,
        attempts: int,
        max_wait_s: float,
        *,
        base_url: str = "https://www.googleapis.com/",
        token_uri: str = DEFAULT_TOKEN_URI,
        timeout_s: float = 60.0,
    ):
        self.service = service
        self.credential_var = credential_var
        self.attempts = attempts
        self.max_wait_s = max_wait_s
        self.base_url = base_url  # named when it does not answer
        self.token_uri = token_uri
        self.timeout_s = timeout_s
        self.requests = 0  # HTTP requests sent through execute (retries included)

    def execute(self, make_request: Callable[[], Any], describe: str) -> Any:
        from google.auth import exceptions as auth_exceptions
        from googleapiclient.errors import HttpError

        def once() -> Any:
            self.requests += 1
            try:
                return make_request().execute(num_retries=0)
            except HttpError as exc:
                if exc.status_code == 401:
                    raise DriveAuthError(
                        f"Google Drive rejected the credentials (HTTP 401) on {describe}; "
                        f"check {self.credential_var}"
                    ) from None
                raise
            except auth_exceptions.RefreshError as exc:
                if _is_grant_refusal(exc):
                    raise DriveAuthError(
                        f"Google's token endpoint refused the credentials in {self.credential_var} "
                        "(revoked, expired or wrong key); create new credentials and update it"
                    ) from None
                raise

        try:
            return call_with_retry(
                once,
                retryable=is_retryable,
                retry_after=retry_after,
                attempts=self.attempts,
                max_wait=self.max_wait_s,
                describe=f"drive {describe}",
            )
        except HttpError as exc:
            # Re-raised without the request URI's query (harmless) or headers (never included).
            raise DriveApiError(
                f"Google Drive {describe} failed: HTTP {exc.status_code} {_reason(exc) or exc.reason}"
            ) from None
        except auth_exceptions.RefreshError as exc:
            # Not a refusal (that raised DriveAuthError above): the endpoint kept failing. Its
            # body (a dict dumped into the message) says little; the endpoint and setting do.
            data = exc.args[1] if len(exc.args) > 1 else None
            error = data.get("error") if isinstance(data, dict) else None
            detail = error.get("status") or error.get("code") if isinstance(error, dict) else error
            raise DriveUnreachable(
                f"Google's token endpoint {self.token_uri} gave no token after {self.attempts} attempts "
                f"({detail or type(exc).__name__}): check DRIVE_TOKEN_URI (default {DEFAULT_TOKEN_URI}) "
                f"and {self.credential_var}"
            ) from None
        except auth_exceptions.TransportError as exc:
            # The token endpoint did not answer (google-auth wraps the socket error).
            reason = self._unreachable(describe, exc, self.token_uri, "DRIVE_TOKEN_URI")
            raise DriveUnreachable(reason) from None
        except (OSError, http.client.HTTPException) as exc:
            # "[Errno 111] Connection refused" or "timed out" alone named neither host nor setting.
            reason = self._unreachable(describe, exc, self.base_url, "DRIVE_BASE_URL")
            raise DriveUnreachable(reason) from None

    def _unreachable(self, describe: str, exc: BaseException, url: str, variable: str) -> str:
        default = DEFAULT_TOKEN_URI if variable == "DRIVE_TOKEN_URI" else "https://www.googleapis.com/"
        return (
            f"Google Drive {describe}: {type(exc).__name__} after {self.attempts} attempts reaching "
            f"{url} (check {variable}, default {default}, and the network; DRIVE_TIMEOUT_S is "
            f"{self.timeout_s:g} s)"
        )

    def pages(self, resource: str, describe: str, **params: Any) -> Iterator[dict[str, Any]]:
        """Every page of ``files.list`` or ``changes.list``, following ``nextPageToken``."""
        method = getattr(self.service, resource)().list
        token = params.pop("pageToken", None)
        while True:
            page = self.execute(lambda t=token: method(pageToken=t, **params), describe)
            yield page
            token = page.get("nextPageToken")
            if not token:
                return


class DriveResource(dg.ConfigurableResource):
    """Google Drive: which folder or shared drive to sync, with which credentials, where."""

    base_url: str = Field(default="https://www.googleapis.com/", description="API root; drive/v3/ is added.")
    folder_id: str | None = Field(default=None, description="Folder synced recursively.")
    shared_drive_id: str | None = Field(default=None, description="Shared drive (corpora=drive).")
    service_account_json: str | None = Field(default=None, description="Service-account JSON or its path.")
    authorized_user_json: str | None = Field(default=None, description="Authorized-user JSON or its path.")
    refresh_token: str | None = Field(default=None, description="OAuth refresh token (user credentials).")
    client_id: str | None = None
    client_secret: str | None = None
    token_uri: str | None = Field(default=None, description="Overrides the credentials' token endpoint.")
    content_max_bytes: int = Field(default=1_048_576, description="Largest file whose content is stored.")
    page_size: int = Field(default=1000, description="files.list / changes.list page size (max 1000).")
    folders_per_query: int = Field(default=40, description="Folders listed together in one files.list q.")
    timeout_s: float = 60.0
    attempts: int = 6
    max_wait_s: float = 60.0

    @classmethod
    def from_settings(cls, **overrides: Any) -> DriveResource:
        max_bytes = config.env("DRIVE_CONTENT_MAX_BYTES")
        settings: dict[str, Any] = dict(
            base_url=config.env("DRIVE_BASE_URL") or "https://www.googleapis.com/",
            folder_id=config.env("DRIVE_FOLDER_ID"),
            shared_drive_id=config.env("DRIVE_SHARED_DRIVE_ID"),
            service_account_json=config.secret("DRIVE_SERVICE_ACCOUNT_JSON"),  # type: ignore[arg-type]
            authorized_user_json=config.secret("DRIVE_AUTHORIZED_USER_JSON"),  # type: ignore[arg-type]
            refresh_token=config.secret("DRIVE_REFRESH_TOKEN"),  # type: ignore[arg-type]
            client_id=config.env("DRIVE_CLIENT_ID"),
            client_secret=config.secret("DRIVE_CLIENT_SECRET"),  # type: ignore[arg-type]
            token_uri=config.env("DRIVE_TOKEN_URI"),
            content_max_bytes=int(max_bytes) if max_bytes else 1_048_576,
            timeout_s=config.number("DRIVE_TIMEOUT_S", 60, positive=True),
        )
        return cls(**(settings | overrides))

    # --- configuration ------------------------------------------------------------------
    @property
    def root_id(self) -> str | None:
        return self.folder_id or self.shared_drive_id

    @property
    def credential_var(self) -> str | None:
        if self.service_account_json:
            return "DRIVE_SERVICE_ACCOUNT_JSON"
        if self.authorized_user_json:
            return "DRIVE_AUTHORIZED_USER_JSON"
        if self.refresh_token:
            return "DRIVE_REFRESH_TOKEN"
        return None

    @property
    def configured(self) -> bool:
        return bool(self.root_id and self.credential_var)

    def not_configured_reason(self) -> str:
        missing = []
        if not self.credential_var:
            missing.append("DRIVE_SERVICE_ACCOUNT_JSON (or DRIVE_AUTHORIZED_USER_JSON / DRIVE_REFRESH_TOKEN)")
        if not self.root_id:
            missing.append("DRIVE_FOLDER_ID or DRIVE_SHARED_DRIVE_ID")
        return "Google Drive is not configured: set " + " and ".join(missing)

    def list_params(self) -> dict[str, Any]:
        """Parameters every files.list / changes call needs for the configured corpus."""
        params: dict[str, Any] = {"supportsAllDrives": True}
        if self.shared_drive_id:
            params |= {"corpora": "drive", "driveId": self.shared_drive_id, "includeItemsFromAllDrives": True}
        return params

    def changes_params(self) -> dict[str, Any]:
        params: dict[str, Any] = {"supportsAllDrives": True}
        if self.shared_drive_id:
            params |= {"driveId": self.shared_drive_id, "includeItemsFromAllDrives": True}
        return params

    # --- client ---------------------------------------------------------------------------
    def _credentials(self) -> tuple[Any, str]:
        var = self.credential_var
        if var is None:
            raise DriveAuthError(self.not_configured_reason())
        from google.oauth2 import credentials as user_credentials
        from google.oauth2 import service_account

        try:
            if var == "DRIVE_SERVICE_ACCOUNT_JSON":
                info = _load_json(config.secret_value(self.service_account_json) or "", var)
                if self.token_uri:
                    info["token_uri"] = self.token_uri
                creds = service_account.Credentials.from_service_account_info(info, scopes=SCOPES)
            elif var == "DRIVE_AUTHORIZED_USER_JSON":
                info = _load_json(config.secret_value(self.authorized_user_json) or "", var)
                missing = sorted({"refresh_token", "client_id", "client_secret"} - info.keys())
                if missing:
                    raise DriveAuthError(f"{var} lacks {', '.join(missing)}")
                # Built by hand: from_authorized_user_info ignores the JSON's token_uri.
                creds = user_credentials.Credentials(
                    None,
                    refresh_token=info["refresh_token"],
                    client_id=info["client_id"],
                    client_secret=info["client_secret"],
                    token_uri=self.token_uri or info.get("token_uri") or DEFAULT_TOKEN_URI,
                    quota_project_id=info.get("quota_project_id"),
                    scopes=SCOPES,
                )
            else:
                if not (self.client_id and self.client_secret):
                    raise DriveAuthError("DRIVE_REFRESH_TOKEN needs DRIVE_CLIENT_ID and DRIVE_CLIENT_SECRET")
                creds = user_credentials.Credentials(
                    None,
                    refresh_token=config.secret_value(self.refresh_token),
                    client_id=self.client_id,
                    client_secret=config.secret_value(self.client_secret),
                    token_uri=self.token_uri or DEFAULT_TOKEN_URI,
                    scopes=SCOPES,
                )
        except DriveAuthError:
            raise
        except (ValueError, KeyError, TypeError) as exc:
            # The library's messages can quote fields of the key; only the type is reported.
            raise DriveAuthError(f"{var} is not usable credentials JSON ({type(exc).__name__})") from None
        return creds, var

    def client(self) -> DriveClient:
        import httplib2
        from google_auth_httplib2 import AuthorizedHttp
        from googleapiclient.discovery import build

        creds, var = self._credentials()
        http_client = AuthorizedHttp(creds, http=httplib2.Http(timeout=self.timeout_s))
        endpoint = self.base_url.rstrip("/") + "/drive/v3/"
        service = build(
            "drive",
            "v3",
            http=http_client,
            static_discovery=True,
            cache_discovery=False,
            client_options={"api_endpoint": endpoint},
        )
        return DriveClient(
            service,
            var,
            self.attempts,
            self.max_wait_s,
            base_url=self.base_url,
            # User credentials expose token_uri; service-account ones keep it private.
            token_uri=getattr(creds, "token_uri", None)
            or getattr(creds, "_token_uri", None)
            or DEFAULT_TOKEN_URI,
            timeout_s=self.timeout_s,
        )
