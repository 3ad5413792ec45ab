"""R2 through boto3 (the S3 API): listings and object reads with our retry policy.

botocore's own retries are switched off so that retries follow ``retry.call_with_retry`` like
every other platform (429/503 "SlowDown" and 5xx back off, Retry-After honoured). A counter
hooked on botocore's ``before-send`` event counts every HTTP request, retries included, which is
what the benchmark reports.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from chitty_pipelines.kernel.retry import call_with_retry, parse_retry_after

if TYPE_CHECKING:
    from botocore.exceptions import ClientError

KEY_VARS = "CLOUDFLARE_R2_ACCESS_KEY_ID / CLOUDFLARE_R2_SECRET_ACCESS_KEY"
_AUTH_CODES = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "AccessDenied",
    "InvalidToken",
    "ExpiredToken",
    "Unauthorized",
}
_RETRY_CODES = {"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "TooManyRequests"}


class R2Error(RuntimeError):
    def __init__(
        self, message: str, *, code: str = "", retryable: bool = False, retry_after: float | None = None
    ):
        super().__init__(message)
        self.code = code
        self.retryable = retryable
        self.retry_after = retry_after


class R2AuthError(R2Error):
    """Credentials refused: retrying cannot help."""


class R2Client:
    """One boto3 S3 client aimed at R2 (or any S3 endpoint, such as moto in tests)."""

    def __init__(
        self,
        *,
        endpoint_url: str,
        access_key_id: str,
        secret_access_key: str,
        attempts: int = 6,
        max_wait: float = 30.0,
        max_pool: int = 16,
        page_size: int = 1000,
        timeout_s: float = 60.0,
    ):
        self.page_size = max(1, min(page_size, 1000))
        self.endpoint_url = endpoint_url
        self.timeout_s = timeout_s
        self.attempts = attempts
        self.max_wait = max_wait
        # boto3 is imported when a client is made, not when the code location loads.
        import boto3
        import botocore.config

        self._client = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url,
            region_name="auto",
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            config=botocore.config.Config(
                signature_version="s3v4",
                retries={"total_max_attempts": 1, "mode": "standard"},
                max_pool_connections=max_pool,
                connect_timeout=min(10.0, timeout_s),
                read_timeout=timeout_s,
            ),
        )
        self._lock = threading.Lock()
        self.requests = 0
        self._client.meta.events.register("before-send.s3", self._count)

    def _count(self, **_kwargs: Any) -> None:
        with self._lock:
            self.requests += 1

    def _call(self, describe: str, fn: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        def once() -> Any:
            try:
                return fn()
            except ClientError as exc:
                raise _convert(describe, exc) from None
            except BotoCoreError as exc:  # connection reset, timeout, endpoint unreachable
                # The type alone ("ReadTimeoutError") named neither the endpoint nor a setting.
                raise R2Error(
                    f"R2 {describe}: no answer from {self.endpoint_url} ({type(exc).__name__}) after "
                    f"{self.attempts} attempts (check CLOUDFLARE_R2_ENDPOINT and the network; "
                    f"CLOUDFLARE_R2_TIMEOUT_S is {self.timeout_s:g} s)",
                    retryable=True,
                ) from None

        return call_with_retry(
            once,
            retryable=lambda e: isinstance(e, R2Error) and e.retryable,
            retry_after=lambda e: getattr(e, "retry_after", None),
            attempts=self.attempts,
            max_wait=self.max_wait,
            describe=f"r2 {describe}",
        )

    def list_pages(self, bucket: str, prefix: str = "") -> Iterator[list[dict[str, Any]]]:
        """ListObjectsV2 pages of at most 1,000 objects, each retried on its own."""
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"Bucket": bucket, "MaxKeys": self.page_size}
            if prefix:
                kwargs["Prefix"] = prefix
            if token:
                kwargs["ContinuationToken"] = token
            page = self._call(f"list bucket {bucket}", lambda kw=kwargs: self._client.list_objects_v2(**kw))
            yield page.get("Contents") or []
            if not page.get("IsTruncated"):
                return
            token = page.get("NextContinuationToken")
            if not token:
                return

    def get_object(self, bucket: str, key: str, max_bytes: int) -> tuple[bytes, str | None, str]:
        """Body (at most ``max_bytes`` + 1 bytes are read, so an oversize object is detectable
        without downloading it all), content type and ETag."""

        def fetch() -> tuple[bytes, str | None, str]:
            resp = self._client.get_object(Bucket=bucket, Key=key)
            body = resp["Body"]
            try:
                data = body.read(max_bytes + 1)
            finally:
                body.close()
            return data, resp.get("ContentType"), str(resp.get("ETag", "")).strip('"')

        return self._call(f"get {bucket}/{key}", fetch)

    def head_bucket(self, bucket: str) -> None:
        self._call(f"head bucket {bucket}", lambda: self._client.head_bucket(Bucket=bucket))


def _convert(describe: str, exc: ClientError) -> R2Error:
    err = exc.response.get("Error", {})
    code = str(err.get("Code", ""))
    meta = exc.response.get("ResponseMetadata", {})
    status = int(meta.get("HTTPStatusCode") or 0)
    # The S3 message can echo the access key id (InvalidAccessKeyId); keep only the code.
    if code in _AUTH_CODES or status in (401, 403):
        return R2AuthError(
            f"R2 {describe} was refused ({code or status}). Check {KEY_VARS} (an R2 API token with read "
            "access to the bucket) and CLOUDFLARE_R2_ENDPOINT.",
            code=code,
        )
    if code in ("NoSuchBucket", "404") or status == 404:
        return R2Error(
            f"R2 {describe}: no such bucket or key ({code}). Check CLOUDFLARE_R2_BUCKETS.", code=code
        )
    retryable = status == 429 or status >= 500 or code in _RETRY_CODES
    retry_after = parse_retry_after((meta.get("HTTPHeaders") or {}).get("retry-after"))
    return R2Error(
        f"R2 {describe} failed ({code or status})", code=code, retryable=retryable, retry_after=retry_after
    )
