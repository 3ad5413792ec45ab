"""The Cloudflare resource: R2 (S3 API via boto3), Workers KV and D1 (v4 API via the official SDK).

Secrets arrive as Dagster ``EnvVar``s (``config.secret``) and are resolved only at run time. The
platform is configured when ``CLOUDFLARE_ACCOUNT_ID`` is set; each sub-stream additionally needs
its own settings (R2 keys and buckets; the API token and KV namespaces or D1 databases) and
reports itself not configured, with zero rows, when they are missing.
"""

from __future__ import annotations

from typing import Any

import dagster as dg
from pydantic import Field

from chitty_pipelines import config
from chitty_pipelines.platforms.cloudflare.api_client import (
    ACCOUNT_VAR,
    TOKEN_VAR,
    CloudflareApi,
    CloudflareError,
)
from chitty_pipelines.platforms.cloudflare.r2_client import R2Client, R2Error

DEFAULT_API_BASE = "https://api.cloudflare.com/client/v4"


def _csv(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


class CloudflareResource(dg.ConfigurableResource):
    """Cloudflare account access for the R2, Workers KV and D1 assets."""

    account_id: str | None = Field(default=None, description="Account id (CLOUDFLARE_ACCOUNT_ID).")
    api_token: str | None = Field(default=None, description="API token for KV and D1 (secret).")
    api_base_url: str = Field(default=DEFAULT_API_BASE, description="v4 REST base URL.")
    api_rate_per_s: float = Field(default=3.5, description="Client-side pace of v4 calls (req/s).")
    api_attempts: int = Field(default=6, description="Attempts per v4 call (429/5xx/connection errors).")
    api_max_wait_s: float = Field(default=60.0, description="Longest wait between attempts.")
    # Connect+read timeouts: a request that never answers becomes a retryable error, not a hang.
    api_timeout_s: float = Field(default=30.0, description="Seconds per v4 request before it is retried.")
    r2_attempts: int = Field(
        default=6, description="Attempts per R2 call (429/5xx/timeouts/connection errors)."
    )
    r2_max_wait_s: float = Field(default=30.0, description="Longest wait between R2 attempts.")
    r2_timeout_s: float = Field(default=60.0, description="R2 read timeout (connect: at most 10 s).")
    r2_access_key_id: str | None = Field(default=None, description="R2 access key id (secret).")
    r2_secret_access_key: str | None = Field(default=None, description="R2 secret access key (secret).")
    r2_endpoint_url: str | None = Field(
        default=None, description="S3 endpoint; default https://<account>.r2.cloudflarestorage.com."
    )
    r2_buckets: list[str] = Field(default_factory=list, description="Buckets to inventory.")
    r2_json_prefixes: list[str] = Field(
        default_factory=list, description="Key prefixes whose .json objects are loaded into r2_json_objects."
    )
    r2_json_max_bytes: int = Field(default=1024 * 1024, description="Larger JSON objects are rejected.")
    r2_concurrency: int = Field(default=8, description="Parallel object reads.")
    r2_list_page_size: int = Field(
        default=1000, description="Keys per ListObjectsV2 call (R2 maximum 1,000)."
    )
    kv_namespace_ids: list[str] = Field(default_factory=list, description="Workers KV namespaces.")
    kv_concurrency: int = Field(default=4, description="Parallel KV value reads (still paced).")
    kv_page_size: int = Field(default=1000, description="Keys per list call (10 to 1,000).")
    d1_database_ids: list[str] = Field(default_factory=list, description="D1 databases.")
    d1_cursor_columns: list[str] = Field(
        default_factory=lambda: ["updated_at"], description="Columns that make a D1 table incremental."
    )
    d1_page_rows: int = Field(default=500, description="Rows per keyset page of a D1 read.")

    @classmethod
    def from_settings(cls) -> CloudflareResource:
        return cls(
            account_id=config.env("CLOUDFLARE_ACCOUNT_ID"),
            api_token=config.secret("CLOUDFLARE_API_TOKEN"),  # type: ignore[arg-type]
            api_base_url=config.env("CLOUDFLARE_API_BASE_URL") or DEFAULT_API_BASE,
            api_rate_per_s=config.number("CLOUDFLARE_API_RATE", 3.5, minimum=0),
            api_timeout_s=config.number("CLOUDFLARE_API_TIMEOUT_S", 30, positive=True),
            r2_timeout_s=config.number("CLOUDFLARE_R2_TIMEOUT_S", 60, positive=True),
            r2_access_key_id=config.secret("CLOUDFLARE_R2_ACCESS_KEY_ID"),  # type: ignore[arg-type]
            r2_secret_access_key=config.secret("CLOUDFLARE_R2_SECRET_ACCESS_KEY"),  # type: ignore[arg-type]
            r2_endpoint_url=config.env("CLOUDFLARE_R2_ENDPOINT"),
            r2_buckets=_csv(config.env("CLOUDFLARE_R2_BUCKETS")),
            r2_json_prefixes=_csv(config.env("CLOUDFLARE_R2_JSON_PREFIXES")),
            r2_json_max_bytes=config.number("CLOUDFLARE_R2_JSON_MAX_BYTES", 1024 * 1024, int, minimum=1),
            kv_namespace_ids=_csv(config.env("CLOUDFLARE_KV_NAMESPACE_IDS")),
            d1_database_ids=_csv(config.env("CLOUDFLARE_D1_DATABASE_IDS")),
            d1_cursor_columns=_csv(config.env("CLOUDFLARE_D1_CURSOR_COLUMNS") or "updated_at"),
        )

    # --- what is configured ---------------------------------------------------------------------
    def r2_missing(self) -> str | None:
        """Why the R2 streams are not configured, or None when they are."""
        if not self.r2_buckets:
            return "CLOUDFLARE_R2_BUCKETS is not set"
        missing = [
            name
            for name, value in (
                ("CLOUDFLARE_R2_ACCESS_KEY_ID", self.r2_access_key_id),
                ("CLOUDFLARE_R2_SECRET_ACCESS_KEY", self.r2_secret_access_key),
            )
            if not value
        ]
        if not self.account_id and not self.r2_endpoint_url:
            missing.append(ACCOUNT_VAR)
        return f"{', '.join(missing)} not set" if missing else None

    def api_missing(self, ids_var: str, ids: list[str]) -> str | None:
        missing = [
            n
            for n, v in ((ACCOUNT_VAR, self.account_id), (TOKEN_VAR, self.api_token), (ids_var, ids))
            if not v
        ]
        return f"{', '.join(missing)} not set" if missing else None

    def kv_missing(self) -> str | None:
        return self.api_missing("CLOUDFLARE_KV_NAMESPACE_IDS", self.kv_namespace_ids)

    def d1_missing(self) -> str | None:
        return self.api_missing("CLOUDFLARE_D1_DATABASE_IDS", self.d1_database_ids)

    # --- clients --------------------------------------------------------------------------------
    def r2_endpoint(self) -> str:
        return self.r2_endpoint_url or f"https://{self.account_id}.r2.cloudflarestorage.com"

    def r2(self) -> R2Client:
        return R2Client(
            endpoint_url=self.r2_endpoint(),
            access_key_id=config.secret_value(self.r2_access_key_id) or "",
            secret_access_key=config.secret_value(self.r2_secret_access_key) or "",
            max_pool=max(self.r2_concurrency * 2, 10),
            page_size=self.r2_list_page_size,
            timeout_s=self.r2_timeout_s,
            attempts=self.r2_attempts,
            max_wait=self.r2_max_wait_s,
        )

    def api(self) -> CloudflareApi:
        return CloudflareApi(
            account_id=self.account_id or "",
            token=config.secret_value(self.api_token) or "",
            base_url=self.api_base_url,
            rate_per_s=self.api_rate_per_s,
            attempts=self.api_attempts,
            max_wait=self.api_max_wait_s,
            timeout_s=self.api_timeout_s,
            pace_dir=config.load_settings().chitty_home / "state",
        )

    # --- health -----------------------------------------------------------------------------------
    def r2_health(self) -> dict[str, Any]:
        reason = self.r2_missing()
        if reason:
            return {"ok": None, "configured": False, "reason": reason}
        client = self.r2()
        try:
            for bucket in self.r2_buckets:
                client.head_bucket(bucket)
        except R2Error as exc:
            return {"ok": False, "configured": True, "reason": str(exc)}
        return {"ok": True, "configured": True, "reason": f"{len(self.r2_buckets)} bucket(s) reachable"}

    def api_health(self, *, verify_ids: bool = False) -> dict[str, Any]:
        """The token is active; with ``verify_ids`` (status and check) also that every namespace of
        CLOUDFLARE_KV_NAMESPACE_IDS and database of CLOUDFLARE_D1_DATABASE_IDS answers in the
        account (one small call each), which a token verify cannot see: a wrong account or id
        fails the sync, so status must say so too. The step's own check leaves that to the sync."""
        missing = [n for n, v in ((ACCOUNT_VAR, self.account_id), (TOKEN_VAR, self.api_token)) if not v]
        reason = f"{', '.join(missing)} not set" if missing else None
        if reason:
            return {"ok": None, "configured": False, "reason": reason}
        try:
            api = self.api()
            result = api.verify_token()
            status = str(result.get("status", "unknown"))
            if verify_ids and status == "active":
                for namespace in self.kv_namespace_ids:
                    api.list_keys_page(namespace, None, limit=10)
                for database in self.d1_database_ids:
                    api.d1_raw(database, "SELECT 1", [])
        except CloudflareError as exc:
            return {"ok": False, "configured": True, "reason": str(exc)}
        return {"ok": status == "active", "configured": True, "reason": f"token {status}"}
