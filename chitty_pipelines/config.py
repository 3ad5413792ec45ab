"""Every environment variable chitty-pipelines reads, declared and read in this one module.

Other modules never touch ``os.environ``: they ask for a ``Settings`` (plain values such as
paths and URLs) or for ``secret(NAME)`` (a Dagster ``EnvVar`` so that the secret's value is
resolved by Dagster at run time and never lands in a run config, a log or the UI).

The README's configuration table is generated from ``ENV_VARS`` (``chitty-sync env``), so the
table and the code cannot drift apart.
"""

from __future__ import annotations

import functools
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlsplit

if TYPE_CHECKING:
    import dagster as dg


@dataclass(frozen=True)
class EnvVarSpec:
    name: str
    description: str
    default: str | None = None
    secret: bool = False
    platform: str | None = None  # the platform this variable configures, if any
    required_for_platform: bool = False  # the platform counts as configured only when set
    # variables sharing a one_of group are alternatives: the platform needs at least one of them
    one_of: str | None = None


ENV_VARS: tuple[EnvVarSpec, ...] = (
    EnvVarSpec("CHITTY_HOME", "Folder for the embedded warehouse and operational state.", "~/.chitty"),
    EnvVarSpec(
        "CHITTY_WAREHOUSE_PATH",
        "DuckDB warehouse file.",
        "$CHITTY_HOME/warehouse.duckdb",
    ),
    EnvVarSpec(
        "CHITTY_WAREHOUSE_URL",
        "PostgreSQL warehouse instead of DuckDB (`postgresql://user:pass@host/db?sslmode=require`, "
        "Neon's direct or -pooler host); ops state (op store, API hub and tokens, pacing) then "
        "lives in its `ops` schema.",
        secret=True,
    ),
    EnvVarSpec(
        "CHITTY_LOCK_TIMEOUT",
        "Seconds a writer waits for the warehouse lock held by another process before failing.",
        "600",
    ),
    EnvVarSpec(
        "CHITTY_DUCKDB_MEMORY_LIMIT",
        "DuckDB memory_limit for warehouse writes (e.g. `512MB`, `2GB`); beyond it DuckDB spills to "
        "`<warehouse>.tmp/`. Unset: DuckDB's default (80% of RAM).",
    ),
    EnvVarSpec(
        "CHITTY_TEST_POSTGRES_DSN",
        "Tests, benchmarks and `chitty-sync demo`: a PostgreSQL superuser DSN to use instead of "
        "starting a throwaway server.",
    ),
    EnvVarSpec(
        "DAGSTER_HOME",
        "Dagster instance folder where CLI runs are recorded (and `chitty-sync ui` shows them). A "
        "folder the CLI creates gets a dagster.yaml with telemetry off and the project's loggers "
        "stored in the run logs.",
        "$CHITTY_HOME/dagster",
    ),
    EnvVarSpec(
        "CHITTY_OFFLINE",
        "1: no probe, registration or id mint reaches a real host (only 127.0.0.1/localhost, i.e. "
        "fakes); such checks say offline. `chitty-sync demo` sets it.",
    ),
    EnvVarSpec("CHITTY_DEBUG", "1: like `--debug`, errors show their (scrubbed) traceback."),
    EnvVarSpec(
        "CHITTY_MAX_CONCURRENT_PLATFORMS",
        "How many platforms `chitty-sync syncall` syncs at once (each in its own process when more "
        "than one is configured); 1 syncs them one after the other in the CLI's process.",
        "4",
    ),
    EnvVarSpec(
        "CHITTY_EXECUTOR",
        "`celery`: every job (syncall, the UI's and the schedules' runs) runs each step as a Celery "
        'task on the workers of CHITTY_CELERY_BROKER_URL (README "Distributed runs on Celery"); '
        "unset: steps run in the launching process or its subprocesses.",
    ),
    EnvVarSpec(
        "CHITTY_CELERY_BROKER_URL",
        "With CHITTY_EXECUTOR=celery: the Redis broker and result backend "
        "(`redis://:password@host:6379/0`); the launcher and every worker need the same.",
        secret=True,
    ),
    EnvVarSpec(
        "CHITTY_CELERY_VISIBILITY_TIMEOUT",
        "Seconds after which a step whose Celery worker died mid-step goes to another worker; keep "
        "it above the longest step (a live step older than this would run twice).",
        "3600",
    ),
    EnvVarSpec(
        "CLAUDE_HOME",
        "Claude Code data folder (holds projects/, todos/, tasks/). A comma-separated list is allowed.",
        "$CLAUDE_CONFIG_DIR, else ~/.claude",
        platform="claude_code",
    ),
    EnvVarSpec(
        "CLAUDE_CONFIG_DIR",
        "Claude Code's own variable; used when CLAUDE_HOME is not set.",
        platform="claude_code",
    ),
    EnvVarSpec(
        "CLAUDE_CODE_TASK_LIST_ID",
        "Claude Code's own variable (a task list shared by sessions), seen by the hooks in Claude "
        "Code's environment: TaskCreate/TaskUpdate sync `tasks/<it>/` instead of `tasks/<session id>/`.",
        platform="claude_code",
    ),
    EnvVarSpec(
        "CHITTY_EXPORTS_DIR",
        "Folder searched recursively for ChatGPT exports (conversations.json, or the export ZIP as "
        "downloaded) and Google Takeout activity (My Activity.json in any language, or the Takeout ZIP).",
        "$CHITTY_HOME/exports",
        platform="chatgpt",
    ),
    # --- unified: projects, sessions, ChittyIDs, the operational store ------------------------
    EnvVarSpec("CHITTY_ID_URL", "id.chitty.cc base URL (mint, validate).", "https://id.chitty.cc"),
    EnvVarSpec(
        "CHITTY_ID_TOKEN",
        "Bearer token for id.chitty.cc; without it entities get stable local ids (id_source=local).",
        secret=True,
    ),
    EnvVarSpec(
        "CHITTY_ID_ENTITY_CODES",
        'JSON entity type -> ChittyID entity code, e.g. {"session": "CONTEXT", "project": "PROP"}.',
        '{"project": "PROP", "session": "CONTEXT", "topic": "INFO"}',
    ),
    EnvVarSpec(
        "CHITTY_ID_MAX_MINTS", "Most ids minted per asset run; the rest stay local until later.", "500"
    ),
    EnvVarSpec(
        "CHITTY_OPSTORE_PATH",
        "SQLite (WAL) hub store: projects and sessions registered by projectsync/sessionsync and "
        "the sync API, its todo lists, topics, tokens (hashed) and runs.",
        "$CHITTY_HOME/opstore.sqlite",
    ),
    EnvVarSpec(
        "CHITTY_API_MAX_BODY_BYTES",
        "`chitty-sync serve`: largest request body accepted; larger bodies get 413.",
        "1048576",
    ),
    EnvVarSpec(
        "CHITTY_API_THREADS",
        "`chitty-sync serve`: threads that run request handlers (more only helps handlers that wait "
        "on I/O; each extra one competes for the GIL).",
        "4",
    ),
    EnvVarSpec(
        "CHITTY_SYNC_URL",
        "A `chitty-sync serve` hub (e.g. `https://sync.example.com`): projectsync, sessionsync, "
        "topicsync, todos, status, the hooks and check then talk to it instead of the local "
        "warehouse; ChittyCheck test 12 probes its /health.",
    ),
    EnvVarSpec(
        "CHITTY_SYNC_TOKEN",
        "Bearer token for CHITTY_SYNC_URL (`chitty-sync token create` on the hub; scope write, "
        "or read for status/todos).",
        secret=True,
    ),
    EnvVarSpec("CHITTY_SYNC_TIMEOUT_S", "Seconds per request to CHITTY_SYNC_URL (3 attempts in all).", "10"),
    EnvVarSpec(
        "CHITTY_SYNC_PUBLIC_URL",
        "The URL the sync service is registered with (Register, Registry); default "
        "CHITTY_SYNC_URL, else https://sync.chitty.cc.",
    ),
    EnvVarSpec(
        "CHITTY_HOOK_HEARTBEAT_S",
        "Claude Code hooks: least seconds between two heartbeats of one session.",
        "60",
    ),
    EnvVarSpec(
        "SESSION_TTL",
        "Seconds without a heartbeat (or file activity) after which a session is no longer active.",
        "1800",
    ),
    EnvVarSpec(
        "CLAUDECODE", "Set by Claude Code in its shells; sessionsync then guesses platform claude_code."
    ),
    EnvVarSpec(
        "OPENAI_API_KEY",
        "Only its presence is read: sessionsync guesses platform openai (the original's heuristic).",
        secret=True,
    ),
    # --- notion: pages of databases / data sources (notion-client) ---------------------------
    EnvVarSpec(
        "NOTION_TOKEN",
        "Notion internal integration secret; the integration sees only what is shared with it.",
        secret=True,
        platform="notion",
        required_for_platform=True,
    ),
    EnvVarSpec(
        "NOTION_BASE_URL",
        "Notion API root (the client adds /v1).",
        "https://api.notion.com",
        platform="notion",
    ),
    EnvVarSpec(
        "NOTION_API_VERSION",
        "Notion-Version: 2025-09-03 (databases hold data sources) or 2022-06-28 (classic database query).",
        "2025-09-03",
        platform="notion",
    ),
    EnvVarSpec(
        "NOTION_DATABASES",
        "Comma-separated database ids to sync; unset: every database shared with the integration.",
        platform="notion",
    ),
    EnvVarSpec(
        "NOTION_EVIDENCE_DATABASE",
        "ChittyLedger evidence database id (stream raw_notion.evidence).",
        platform="notion",
    ),
    EnvVarSpec(
        "NOTION_CASES_DATABASE",
        "ChittyLedger cases database id (stream raw_notion.cases).",
        platform="notion",
    ),
    EnvVarSpec(
        "NOTION_TIMEOUT_S", "Seconds per Notion request before it is retried.", "60", platform="notion"
    ),
    EnvVarSpec(
        "NOTION_RATE",
        "Client-side pace for Notion calls, requests/s (API average: 3).",
        "3",
        platform="notion",
    ),
    # --- cloudflare: R2 (S3 API), Workers KV and D1 (v4 REST API) ---------------------------
    EnvVarSpec(
        "CLOUDFLARE_ACCOUNT_ID",
        "Cloudflare account id (R2 endpoint and v4 API paths).",
        platform="cloudflare",
        required_for_platform=True,
    ),
    EnvVarSpec(
        "CLOUDFLARE_API_TOKEN",
        "API token for Workers KV and D1 (read scopes).",
        secret=True,
        platform="cloudflare",
    ),
    EnvVarSpec(
        "CLOUDFLARE_API_BASE_URL",
        "Cloudflare v4 REST base URL.",
        "https://api.cloudflare.com/client/v4",
        platform="cloudflare",
    ),
    EnvVarSpec("CLOUDFLARE_R2_ACCESS_KEY_ID", "R2 access key id.", secret=True, platform="cloudflare"),
    EnvVarSpec("CLOUDFLARE_R2_SECRET_ACCESS_KEY", "R2 API token secret.", secret=True, platform="cloudflare"),
    EnvVarSpec(
        "CLOUDFLARE_R2_ENDPOINT",
        "R2 S3 endpoint.",
        "https://$CLOUDFLARE_ACCOUNT_ID.r2.cloudflarestorage.com",
        platform="cloudflare",
    ),
    EnvVarSpec("CLOUDFLARE_R2_BUCKETS", "Comma-separated R2 buckets to inventory.", platform="cloudflare"),
    EnvVarSpec(
        "CLOUDFLARE_R2_JSON_PREFIXES",
        "Comma-separated key prefixes whose *.json objects are loaded (e.g. entities/).",
        platform="cloudflare",
    ),
    EnvVarSpec(
        "CLOUDFLARE_R2_JSON_MAX_BYTES",
        "Largest JSON object loaded; bigger ones are rejected.",
        "1048576",
        platform="cloudflare",
    ),
    EnvVarSpec("CLOUDFLARE_KV_NAMESPACE_IDS", "Comma-separated KV namespace ids.", platform="cloudflare"),
    EnvVarSpec("CLOUDFLARE_D1_DATABASE_IDS", "Comma-separated D1 database ids.", platform="cloudflare"),
    EnvVarSpec(
        "CLOUDFLARE_D1_CURSOR_COLUMNS",
        "Column names that make a D1 table incremental, first match wins.",
        "updated_at",
        platform="cloudflare",
    ),
    EnvVarSpec(
        "CLOUDFLARE_API_TIMEOUT_S",
        "Seconds per v4 API request (KV, D1) before it is retried.",
        "30",
        platform="cloudflare",
    ),
    EnvVarSpec(
        "CLOUDFLARE_R2_TIMEOUT_S",
        "R2 read timeout in seconds (connect: at most 10).",
        "60",
        platform="cloudflare",
    ),
    EnvVarSpec(
        "CLOUDFLARE_API_RATE",
        "Client-side pace for v4 calls, requests/s (API: 1,200 per 5 min).",
        "3.5",
        platform="cloudflare",
    ),
    # --- drive: files and small contents of the chittyos-data folder (google-api-python-client)
    EnvVarSpec(
        "DRIVE_SERVICE_ACCOUNT_JSON",
        "Service-account key: a file path or the JSON itself. Share the folder with its client_email.",
        secret=True,
        platform="drive",
        one_of="drive_credentials",
    ),
    EnvVarSpec(
        "DRIVE_AUTHORIZED_USER_JSON",
        "User credentials instead of a service account: authorized-user JSON (path or inline).",
        secret=True,
        platform="drive",
        one_of="drive_credentials",
    ),
    EnvVarSpec(
        "DRIVE_REFRESH_TOKEN",
        "User credentials as a bare OAuth refresh token (with DRIVE_CLIENT_ID/DRIVE_CLIENT_SECRET).",
        secret=True,
        platform="drive",
        one_of="drive_credentials",
    ),
    EnvVarSpec("DRIVE_CLIENT_ID", "OAuth client id for DRIVE_REFRESH_TOKEN.", platform="drive"),
    EnvVarSpec(
        "DRIVE_CLIENT_SECRET", "OAuth client secret for DRIVE_REFRESH_TOKEN.", secret=True, platform="drive"
    ),
    EnvVarSpec(
        "DRIVE_TOKEN_URI",
        "OAuth token endpoint; overrides the token_uri of the credentials (proxies, the fake).",
        "https://oauth2.googleapis.com/token",
        platform="drive",
    ),
    EnvVarSpec(
        "DRIVE_FOLDER_ID",
        "Id of the chittyos-data folder synced recursively (inside DRIVE_SHARED_DRIVE_ID if both set).",
        platform="drive",
        one_of="drive_root",
    ),
    EnvVarSpec(
        "DRIVE_SHARED_DRIVE_ID",
        "Shared drive id: alone, the whole shared drive is synced (corpora=drive).",
        platform="drive",
        one_of="drive_root",
    ),
    EnvVarSpec(
        "DRIVE_BASE_URL",
        "Drive API root URL (the client appends drive/v3/).",
        "https://www.googleapis.com/",
        platform="drive",
    ),
    EnvVarSpec("DRIVE_TIMEOUT_S", "Seconds per Drive request before it is retried.", "60", platform="drive"),
    EnvVarSpec(
        "DRIVE_CONTENT_MAX_BYTES",
        "Largest JSON/Markdown/text file or exported Google Doc stored in raw_drive.file_contents; 0 = none.",
        "1048576",
        platform="drive",
    ),
    EnvVarSpec(
        "GITHUB_TOKEN",
        "GitHub token (fine-grained or classic PAT) with read access to the repositories.",
        secret=True,
        platform="github",
        required_for_platform=True,
    ),
    EnvVarSpec(
        "GITHUB_BASE_URL",
        "GitHub REST root; GitHub Enterprise Server: https://<host>/api/v3.",
        "https://api.github.com",
        platform="github",
    ),
    EnvVarSpec(
        "GITHUB_OWNERS",
        "Comma-separated users/organisations whose repositories are synced.",
        platform="github",
        one_of="github_scope",
    ),
    EnvVarSpec(
        "GITHUB_REPOSITORIES",
        "Comma-separated owner/name repositories synced in addition to the owners' ones.",
        platform="github",
        one_of="github_scope",
    ),
    EnvVarSpec(
        "GITHUB_DATA_REPOSITORY",
        "ChittyOS data repository: owner/name, or a name under the first of GITHUB_OWNERS.",
        "chittychat-data",
        platform="github",
    ),
    EnvVarSpec("GITHUB_MAX_WORKERS", "Repositories read in parallel.", "4", platform="github"),
    EnvVarSpec(
        "GITHUB_TIMEOUT_S", "Seconds per GitHub request before it is retried.", "30", platform="github"
    ),
    EnvVarSpec(
        "GITHUB_REQUESTS_PER_SECOND",
        "Client-side pacing of GitHub requests (secondary limits); 0 = unpaced.",
        "10",
        platform="github",
    ),
    # --- neon: PostgreSQL event store and evidence ledger --------------------------------------
    EnvVarSpec(
        "NEON_DATABASE_URL",
        "PostgreSQL DSN (postgresql://user:pass@ep-....neon.tech/db?sslmode=require); use the "
        "direct host, not -pooler, for COPY and long extracts.",
        secret=True,
        platform="neon",
        required_for_platform=True,
    ),
    EnvVarSpec(
        "NEON_STREAMS",
        'JSON list of extra tables: "schema.table" or {"table", "name", "cursor", "primary_key", '
        '"lookback_seconds", "partition": "daily"}; same name overrides a default stream.',
        platform="neon",
    ),
    EnvVarSpec(
        "NEON_LOOKBACK_SECONDS",
        "Overlap re-read below the high-water mark (>= your longest transaction).",
        "600",
        platform="neon",
    ),
    EnvVarSpec(
        "NEON_CONNECT_TIMEOUT_S",
        "Seconds to establish a connection (libpq connect_timeout; Neon cold starts need >= 10).",
        "10",
        platform="neon",
    ),
    EnvVarSpec(
        "NEON_STATEMENT_TIMEOUT_S",
        "Server-side statement_timeout in seconds for every query; 0 = none (whole-history extracts "
        "can be long).",
        "0",
        platform="neon",
    ),
    EnvVarSpec("NEON_CHUNK_ROWS", "Rows per COPY chunk written to the warehouse.", "122880", platform="neon"),
    EnvVarSpec(
        "NEON_BULK_LOAD_ROWS",
        "A first sync into an empty PostgreSQL warehouse table whose keys are not in cursor order loads "
        "up to about this many rows in one transaction, its key index built at the end; 0 = chunk by chunk.",
        "2000000",
        platform="neon",
    ),
    EnvVarSpec(
        "NEON_PARTITION_START",
        "First day of the daily partitions of the event store (YYYY-MM-DD).",
        "2024-01-01",
        platform="neon",
    ),
    # --- ops: core-service registration, health, schedules (chitty_pipelines/ops) -------------
    EnvVarSpec("CHITTY_REGISTER_URL", "register.chitty.cc base URL.", "https://register.chitty.cc"),
    EnvVarSpec(
        "CHITTY_REGISTER_API",
        "Register contract: v1 (POST /api/v1/register) or legacy (the original's POST /api/register).",
        "v1",
    ),
    EnvVarSpec("CHITTY_REGISTER_TOKEN", "Bearer token for register.chitty.cc, if it asks.", secret=True),
    EnvVarSpec("CHITTY_REGISTRY_URL", "registry.chitty.cc base URL.", "https://registry.chitty.cc"),
    EnvVarSpec(
        "CHITTY_REGISTRY_ROUTES",
        "Registry routes: stub (POST /register) or v1 (POST /api/v1/register, GET /api/v1/discover/:name).",
        "stub",
    ),
    EnvVarSpec(
        "CHITTY_REGISTRY_AUTH",
        "How the registry token is sent: none, bearer or chittyid-token (X-ChittyID-Token).",
        "bearer",
    ),
    EnvVarSpec(
        "CHITTY_REGISTRY_TOKEN",
        "Registry write token; without it the registry is only read (services register via Register).",
        secret=True,
    ),
    EnvVarSpec(
        "CHITTY_SERVICE_URLS",
        "Overrides of core-service base URLs: name=url pairs, comma-separated (e.g. canon=http://...).",
    ),
    EnvVarSpec(
        "CHITTY_SERVICES_PROJECT", "Project key whose sync registers the core services.", "chittyos-services"
    ),
    EnvVarSpec(
        "CHITTY_OPS_TIMEOUT",
        "Seconds per ChittyOS request (health, Register, Registry, id.chitty.cc; at most 10).",
        "10",
    ),
    EnvVarSpec("CHITTY_HEALTH_INTERVAL", "Seconds between health-sensor ticks.", "300"),
    EnvVarSpec("CHITTY_SYNCALL_CRON", "Cron of the syncall schedule (off until turned on).", "0 * * * *"),
    EnvVarSpec(
        "CHITTY_ASSET_OWNERS",
        "Owners of every asset in the Dagster UI: comma-separated emails and `team:<name>` "
        "(e.g. `team:data,ada@example.com`); unset: none.",
    ),
    # --- topics: categorising unified.sessions (unified.session_topics, unified.topics) ---------
    EnvVarSpec(
        "CHITTY_TOPIC_TAXONOMY",
        "Topic taxonomy YAML (id, name, description, keywords, parent); unset: the ChittyOS topics.",
        "packaged chitty_pipelines/topics/taxonomy.yaml",
    ),
    EnvVarSpec(
        "CHITTY_TOPIC_CLASSIFIER",
        "Topic classifier: prototype (default: offline, learns from manual labels), tfidf, original "
        "(the first hub's keyword scorer), semantic (zero-shot sentence embeddings) or llm.",
        "prototype",
    ),
    EnvVarSpec(
        "CHITTY_TOPIC_EMBEDDING",
        "Text embedding of the prototype classifier: minilm (all-MiniLM-L6-v2, ~20 ms CPU a session) or "
        "wordllama (static, ~0.1 ms a session, less accurate). Without MiniLM's wheel, wordllama.",
        "minilm",
    ),
    EnvVarSpec("CHITTY_TOPIC_MAX_PER_SESSION", "Most topics kept per session.", "3"),
    EnvVarSpec(
        "CHITTY_TOPIC_MIN_CONFIDENCE",
        "Topics below this confidence are dropped (the best topic is always kept).",
        "0.2",
    ),
    EnvVarSpec(
        "CHITTY_TOPIC_LLM_BASE_URL",
        "OpenAI-compatible API root for the llm classifier (POST <root>/chat/completions).",
        "https://api.openai.com/v1",
    ),
    EnvVarSpec("CHITTY_TOPIC_LLM_API_KEY", "API key of the llm classifier's endpoint.", secret=True),
    EnvVarSpec("CHITTY_TOPIC_LLM_TIMEOUT_S", "Seconds per llm classifier request before a retry.", "60"),
    EnvVarSpec("CHITTY_TOPIC_LLM_MODEL", "Model name sent to the llm classifier's endpoint.", "gpt-4o-mini"),
)

_SPECS = {spec.name: spec for spec in ENV_VARS}


def env(name: str) -> str | None:
    """The raw value of a declared variable (empty strings count as unset)."""
    if name not in _SPECS:
        raise KeyError(f"{name} is not declared in chitty_pipelines.config.ENV_VARS")
    value = os.environ.get(name)
    return value if value else None


def referenced(name: str) -> str | None:
    """A variable another tool's file names, e.g. ``{env: DAGSTER_PG_PASSWORD}`` in dagster.yaml:
    read as that tool reads it (any name, not only ours; an empty string is a value)."""
    return os.environ.get(name)


class ConfigError(ValueError):
    """A variable set to a value that cannot be used; the message names it and what to set."""


def number(
    name: str,
    default: float,
    cast: type = float,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    positive: bool = False,
) -> Any:
    """A numeric variable (``cast`` int or float), its default when unset; a value that is not a
    number, or outside ``minimum``..``maximum`` (inclusive; ``positive``: above 0), raises
    ConfigError naming the variable, not a bare ValueError nor a silent misbehaviour later."""
    raw = env(name)
    if raw is None:
        return cast(default)
    kind = "a whole number" if cast is int else "a number"
    try:
        value = cast(raw.strip())
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not {kind}: set {name} to {kind} (default {default})") from None
    if value != value or value in (float("inf"), float("-inf")):  # nan, inf: no usable setting
        raise ConfigError(f"{name}={raw!r} is not a finite number: set {name} to {kind} (default {default})")
    if positive and value <= 0:
        wanted = "above 0"
    elif minimum is not None and value < minimum:
        wanted = f"at least {minimum:g}" + (f" and at most {maximum:g}" if maximum is not None else "")
    elif maximum is not None and value > maximum:
        wanted = (f"at least {minimum:g} and " if minimum is not None else "") + f"at most {maximum:g}"
    else:
        return value
    raise ConfigError(f"{name}={raw!r} is out of range: set {name} to {kind} {wanted} (default {default})")


def is_set(name: str) -> bool:
    return env(name) is not None


def secret(name: str) -> dg.EnvVar | None:
    """An ``EnvVar`` for a secret that is set, else None (the platform is then not configured).

    Returning None rather than an unset EnvVar keeps the definitions loadable on a machine that
    has no credentials at all.
    """
    if not _SPECS[name].secret:
        raise ValueError(f"{name} is not declared as a secret")
    import dagster as dg

    return dg.EnvVar(name) if is_set(name) else None


def secret_value(value: Any) -> str | None:
    """The value of a resource's secret field, or None when it has none.

    Inside a run Dagster has resolved the ``EnvVar`` that ``secret()`` put there; outside one
    (``chitty-sync status`` probing health, a sensor, the CLI) the field still holds the
    ``EnvVar`` itself, so every resource resolves it here rather than with its own copy.
    """
    dagster = dagster_if_imported()
    if dagster is not None and isinstance(value, dagster.EnvVar):
        value = value.get_value()
    return value or None


def dagster_if_imported() -> Any:
    """The dagster module when this process has imported it, else None. An ``EnvVar`` or a
    ``Failure`` exists only once Dagster is imported, so a type check against one needs no import:
    commands that never import Dagster (--help, the hooks, sql) do not pay ~0.5-1 s for it."""
    return sys.modules.get("dagster")


def _path(value: str) -> Path:
    return Path(os.path.expanduser(os.path.expandvars(value)))


@dataclass(frozen=True)
class Settings:
    chitty_home: Path
    warehouse_path: Path
    lock_timeout_s: float
    claude_homes: tuple[Path, ...]
    exports_dir: Path
    dagster_home: Path
    max_concurrent_platforms: int
    extra: dict[str, str] = field(default_factory=dict)


def load_settings() -> Settings:
    chitty_home = _path(env("CHITTY_HOME") or "~/.chitty")
    claude = env("CLAUDE_HOME") or env("CLAUDE_CONFIG_DIR") or "~/.claude"
    dagster_home = env("DAGSTER_HOME")
    return Settings(
        chitty_home=chitty_home,
        warehouse_path=_path(env("CHITTY_WAREHOUSE_PATH") or str(chitty_home / "warehouse.duckdb")),
        lock_timeout_s=number("CHITTY_LOCK_TIMEOUT", 600, minimum=0),
        claude_homes=tuple(_path(p.strip()) for p in claude.split(",") if p.strip()),
        exports_dir=_path(env("CHITTY_EXPORTS_DIR") or str(chitty_home / "exports")),
        dagster_home=_path(dagster_home) if dagster_home else chitty_home / "dagster",
        max_concurrent_platforms=max(1, number("CHITTY_MAX_CONCURRENT_PLATFORMS", 4, int)),
    )


_TRUE = {"1", "true", "yes", "on"}


def offline() -> bool:
    """CHITTY_OFFLINE=1: nothing reaches a real host (the demo, CI, a laptop on a plane)."""
    return (env("CHITTY_OFFLINE") or "").strip().lower() in _TRUE


def debug() -> bool:
    """CHITTY_DEBUG=1 (or ``chitty-sync --debug``): errors keep their traceback."""
    return (env("CHITTY_DEBUG") or "").strip().lower() in _TRUE


EXECUTORS = ("celery",)


def executor() -> str | None:
    """CHITTY_EXECUTOR: ``"celery"`` or None (Dagster's default in-process/multiprocess executor)."""
    raw = (env("CHITTY_EXECUTOR") or "").strip().lower()
    if raw in ("", "default", "multiprocess", "in_process"):
        return None
    if raw not in EXECUTORS:
        raise ConfigError(f"CHITTY_EXECUTOR={raw!r} is not known: set it to celery, or leave it unset")
    if raw == "celery" and not is_set("CHITTY_CELERY_BROKER_URL"):
        raise ConfigError("CHITTY_EXECUTOR=celery needs CHITTY_CELERY_BROKER_URL (redis://host:6379/0)")
    return raw


_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]"}


def is_local_url(url: str) -> bool:
    """A loopback URL (or a libpq DSN with a loopback/socket host): a fake, never a real service."""
    if "://" not in url:  # libpq key=value DSN
        hosts = re.findall(r"(?:^|\s)host\s*=\s*'?([^'\s]*)", url)
        return all(h.startswith("/") or h in _LOCAL_HOSTS or h.startswith("127.") for h in hosts or [""])
    host = (urlsplit(url).hostname or "").lower()
    return host in _LOCAL_HOSTS or host.startswith("127.") or host == ""


def may_reach(url: str) -> bool:
    """Whether a probe or call may go to ``url`` now: always, unless offline and not loopback."""
    return not offline() or is_local_url(url)


_URL_USED_ONLY_WITH = {"CLOUDFLARE_R2_ENDPOINT": "CLOUDFLARE_R2_ACCESS_KEY_ID"}


def platform_urls(platform: str) -> list[str]:
    """Every host a platform talks to: its declared *_URL / *_ENDPOINT variables (default when
    unset). Local platforms (files) have none."""
    urls = []
    for s in ENV_VARS:
        if s.name in _URL_USED_ONLY_WITH and not is_set(_URL_USED_ONLY_WITH[s.name]):
            continue  # that part of the platform is not set up: its host is never contacted
        if s.platform == platform and s.name.endswith(("_URL", "_URI", "_ENDPOINT")):
            value = env(s.name) or s.default
            if value:
                urls.append(os.path.expandvars(value))
    return urls


def platform_configured(platform: str) -> bool:
    """A platform is configured when every variable it requires is set.

    The local platform needs nothing: it reads whatever session files exist.
    """
    required = [s.name for s in ENV_VARS if s.platform == platform and s.required_for_platform]
    groups: dict[str, list[str]] = {}
    for s in ENV_VARS:
        if s.platform == platform and s.one_of:
            groups.setdefault(s.one_of, []).append(s.name)
    alternatives_met = all(any(is_set(n) for n in names) for names in groups.values())
    return all(is_set(name) for name in required) and alternatives_met


def platform_missing(platform: str) -> list[str]:
    """What the platform still needs: each unset required variable, and each ``one_of`` group of
    which none is set (as "A or B")."""
    missing = [
        s.name for s in ENV_VARS if s.platform == platform and s.required_for_platform and not is_set(s.name)
    ]
    groups: dict[str, list[str]] = {}
    for s in ENV_VARS:
        if s.platform == platform and s.one_of:
            groups.setdefault(s.one_of, []).append(s.name)
    missing += [" or ".join(names) for names in groups.values() if not any(is_set(n) for n in names)]
    return missing


def platform_half_set(platform: str) -> str | None:
    """Why a platform is *half configured*, or None: some of its variables that have no default
    (credentials, ids, lists: what someone sets to use it) are set, yet not all it requires.

    Counted as not configured, such a platform used to be skipped with "set GITHUB_TOKEN" while
    GITHUB_TOKEN was set and GITHUB_OWNERS was what was missing; now every command names it."""
    if platform_configured(platform) or platform_lone_credential(platform):
        return None
    chosen = _chosen(platform)
    if not chosen:
        return None
    missing = platform_missing(platform)
    verb = "is" if len(chosen) == 1 else "are"
    return f"{', '.join(chosen)} {verb} set but not {' nor '.join(missing)}: set {' and '.join(missing)}"


def platform_lone_credential(platform: str) -> str | None:
    """Why a platform whose only variable set is one credential is not synced, or None.

    GITHUB_TOKEN and CLOUDFLARE_API_TOKEN are exported for other tools too (gh, wrangler, CI), so
    a credential alone says nothing of an intent to sync that platform: it stays *not configured*
    (no failure; syncall, status and check name what would complete it). Anything more (an id, a
    list, a second variable) is an intent, and a missing piece then is *half configured*."""
    if platform_configured(platform):
        return None
    chosen = _chosen(platform)
    if len(chosen) != 1 or not _SPECS[chosen[0]].secret:
        return None
    missing = platform_missing(platform)
    return f"{chosen[0]} is set, but not {' nor '.join(missing)}: set {' and '.join(missing)} to sync it"


def _chosen(platform: str) -> list[str]:
    """The platform's variables without a default that are set (what someone set to use it)."""
    return [s.name for s in ENV_VARS if s.platform == platform and s.default is None and is_set(s.name)]


# --- masking secrets --------------------------------------------------------------------------
# The scrubber lives here, next to the declarations, because config is the one layer every other
# one may import: the warehouse (rejects, sync log, stored messages) needs it as much as the
# kernel, the platforms and the CLI (``chitty_pipelines.kernel.secrets`` builds on it).

MASK = "***"
# Shorter values are too likely to be ordinary words or numbers found everywhere in a text.
MIN_SECRET_LENGTH = 6
_TOKEN_CHARS = r"[A-Za-z0-9._~+/=\-]"
# (regex, group to keep before the masked part). Each pattern masks only the credential itself,
# so the text around it still says what failed.
_SECRET_PATTERNS: tuple[re.Pattern[str], ...] = (
    # Authorization: Bearer x / 'authorization': 'token x' / Proxy-Authorization=...
    re.compile(r"""(?i)((?:proxy-)?authorization['"]?\s*[:=]\s*['"]?)[^'"\r\n,;}\]]+"""),
    # other credential headers and fields: X-ChittyID-Token, X-Api-Key, "access_token": "..."
    re.compile(
        r"""(?i)((?:x-chittyid-token|x-api-key|x-auth-token|api[_-]?key|access[_-]?token|refresh[_-]?token|"""
        r"""client[_-]?secret|private[_-]?key|password|secret[_-]?access[_-]?key)['"]?\s*[:=]\s*['"]?)"""
        r"""[^'"\s,;}\]&]+"""
    ),
    re.compile(rf"(?i)(\bbearer\s+){_TOKEN_CHARS}{{6,}}"),
    # "token <x>" (GitHub's scheme) and Basic credentials: only token-like words (one digit at
    # least), so "token expired" stays readable.
    re.compile(rf"(?i)(\b(?:token|basic)\s+)(?={_TOKEN_CHARS}*\d){_TOKEN_CHARS}{{8,}}"),
    # token shapes, wherever they appear: GitHub, Notion
    re.compile(r"()\b(?:gh[pousr]_[A-Za-z0-9]{16,}|github_pat_[A-Za-z0-9_]{20,})"),
    re.compile(r"()\b(?:secret_[A-Za-z0-9]{20,}|ntn_[A-Za-z0-9]{20,})"),
    # URL credentials: scheme://user:PASSWORD@host
    re.compile(r"(\b[A-Za-z][A-Za-z0-9+.\-]*://[^/\s:@]+:)[^@\s/]+(?=@)"),
    # credentials in a query string
    re.compile(
        r"(?i)([?&](?:token|access_token|api_key|apikey|key|sig|signature|password|secret|"
        r"x-amz-signature|x-amz-credential)=)[^&\s'\"#]+"
    ),
)


def secret_values() -> list[str]:
    """The values of the declared secrets that are set (and long enough to mask safely), plus
    what they contain that is itself a credential: a URL's password, a JSON key file's keys.

    Read from the environment on every call (a test or a long-running server may change it), but
    derived once per distinct environment: every log record is scrubbed, and parsing URLs and
    JSON per record was a few percent of an API request's CPU."""
    current = tuple(os.environ.get(spec.name) or None for spec in ENV_VARS)
    return list(_secret_values_of(current))


@functools.lru_cache(maxsize=8)
def _secret_values_of(current: tuple[str | None, ...]) -> tuple[str, ...]:
    values: set[str] = set()
    for spec, value in zip(ENV_VARS, current, strict=True):
        if not value:
            continue
        if spec.secret:
            values.add(value)
            if value.lstrip().startswith("{"):
                values.update(_json_secrets(value))
        password = urlsplit(value).password if "://" in value and "@" in value else None
        if password:  # NEON_DATABASE_URL is not secret as a whole, its password is
            values.add(password)
            values.add(unquote(password))
    variants = set(values)
    for v in values:  # the same value as it appears in a URL or a JSON string
        variants.update((quote(v, safe=""), json.dumps(v)[1:-1]))
    return tuple(v for v in variants if len(v) >= MIN_SECRET_LENGTH)


def _json_secrets(text: str) -> list[str]:
    try:
        data = json.loads(text)
    except ValueError:
        return []
    if not isinstance(data, dict):
        return []
    return [v for k, v in data.items() if isinstance(v, str) and re.search(r"(?i)secret|key|token", k)]


@functools.lru_cache(maxsize=8)
def _values_regex(values: tuple[str, ...]) -> re.Pattern[str] | None:
    if not values:
        return None
    # Longest first: a value containing another is masked whole.
    return re.compile("|".join(re.escape(v) for v in sorted(values, key=len, reverse=True)))


def scrub(text: object) -> str:
    """``text`` with every configured secret's value and every credential-shaped part masked.

    Used on everything that leaves the process or is stored: log records, raised errors,
    materialization metadata, rejects, the sync log, stored service messages, CLI output.
    """
    s = text if isinstance(text, str) else str(text)
    if not s:
        return s
    values = _values_regex(tuple(sorted(secret_values())))
    if values is not None:
        s = values.sub(MASK, s)
    for pattern in _SECRET_PATTERNS:
        s = pattern.sub(lambda m: f"{m.group(1)}{MASK}", s)
    return s


def env_table_markdown() -> str:
    rows = ["| Variable | Platform | Default | Secret | Meaning |", "|---|---|---|---|---|"]
    for s in ENV_VARS:
        rows.append(
            f"| `{s.name}` | {s.platform or '-'} | {f'`{s.default}`' if s.default else '-'} "
            f"| {'yes' if s.secret else 'no'} | {s.description} |"
        )
    return "\n".join(rows)


README_START, README_END = "<!-- env-table:start -->", "<!-- env-table:end -->"


def render_readme_table(readme_text: str) -> str:
    """The README with its configuration table regenerated from ENV_VARS
    (``python -m chitty_pipelines.config README.md`` rewrites the file)."""
    head, rest = readme_text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    return f"{head}{README_START}\n{env_table_markdown()}\n{README_END}{tail}"


def asset_owners() -> list[str]:
    """CHITTY_ASSET_OWNERS as Dagster owners; an entry Dagster would refuse (neither an email nor
    ``team:<name>``) raises ConfigError naming the variable, not Dagster's bare owner error."""
    raw = env("CHITTY_ASSET_OWNERS") or ""
    owners = [o.strip() for o in raw.split(",") if o.strip()]
    for owner in owners:
        name = owner.removeprefix("team:")
        if not (owner.startswith("team:") and name) and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", owner):
            raise ConfigError(
                f"CHITTY_ASSET_OWNERS: {owner!r} is neither an email nor team:<name>; "
                "set it to e.g. team:data,ada@example.com"
            )
    return owners


def syncall_cron() -> str:
    """CHITTY_SYNCALL_CRON (default hourly); a cron Dagster would refuse raises ConfigError naming
    the variable, not Dagster's "invalid cron schedule ... for schedule 'syncall_schedule'"."""
    raw = (env("CHITTY_SYNCALL_CRON") or "0 * * * *").strip()
    import dagster as dg

    try:  # the check the real schedule runs, on a throwaway one
        dg.ScheduleDefinition(name="cron_check", cron_schedule=raw, job_name="cron_check")
        valid = True
    except dg.DagsterInvalidDefinitionError:
        valid = False
    if not valid:
        raise ConfigError(
            f"CHITTY_SYNCALL_CRON={raw!r} is not a cron schedule: set it to five fields, "
            "e.g. '0 * * * *' (hourly, the default) or '*/15 * * * *'"
        )
    return raw


if __name__ == "__main__":
    import sys

    target = Path(sys.argv[1] if len(sys.argv) > 1 else "README.md")
    target.write_text(render_readme_table(target.read_text()))
