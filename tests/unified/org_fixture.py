"""A synthetic organisation with known truth, seeded into the raw_* tables through the platform
assets' own TableSpecs (so a column renamed upstream breaks this fixture, not silently the test).

TRUTH maps every project source record (alias_id) to the project it really belongs to; None marks
records that belong to no project. Names vary on purpose across platforms; decoys with similar
names (chitty-id vs chittyid-client, chittychat vs chittychat-mcp, chittyregistry vs
chittyregister) must stay apart.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chitty_pipelines.platforms.chatgpt.streams import CONVERSATIONS
from chitty_pipelines.platforms.chatgpt.streams import MESSAGES as GPT_MESSAGES
from chitty_pipelines.platforms.claude_code.tables import MESSAGES, SESSIONS, SUBAGENTS
from chitty_pipelines.platforms.drive.streams import FILES
from chitty_pipelines.platforms.gemini import assets as local_gemini
from chitty_pipelines.platforms.github.data import PROJECT_STATES
from chitty_pipelines.platforms.github.data import PROJECTS as DATA_PROJECTS
from chitty_pipelines.platforms.github.tables import REPOSITORIES
from chitty_pipelines.platforms.notion.streams import DATABASES, PAGES
from chitty_pipelines.warehouse import Warehouse
from chitty_pipelines.warehouse.opstore import OpStore

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)

# (owner/name, truth)
REPOS = [
    ("chittyapps/ChittyChat", "chittychat"),
    ("chittyapps/chittychat-mcp", "chittychat-mcp"),
    ("chittyfoundation/chitty-id", "chitty-id"),
    ("chittyos/chittyid-client", "chittyid-client"),
    ("chittyos/chittyos-services", "chittyos-services"),
    ("chittyos/chittyrouter", "chittyrouter"),
    ("chittyos/chittyschema", "chittyschema"),
    ("chittyapps/chittycheck", "chittycheck"),
    ("chittyos/chittyregistry", "chittyregistry"),
    ("chittyos/chittyregister", "chittyregister"),
    ("chittyos/chittyauth", "chittyauth"),
    ("chittyfoundation/chittycanon", "chittycanon"),
]
# (cwd, sessions, truth)
CWDS = [
    ("/Users/x/code/chittychat", 3, "chittychat"),
    ("/Users/x/code/chittychat/worker", 1, "chittychat"),
    ("/Users/x/code/chitty_id", 2, "chitty-id"),
    ("/Users/x/code/chittyid-client", 1, "chittyid-client"),
    ("/Users/x/code/services", 2, "chittyos-services"),
    ("/Users/x/work2/chittyrouter", 1, "chittyrouter"),
    ("/Users/x/code/chittyregistry", 1, "chittyregistry"),
    ("/home/x/src/chittyauth", 1, "chittyauth"),
    ("/Users/x/music-player", 1, "music-player"),
    ("/Users/x/code/chittygateway", 1, "chittygateway"),
    ("/Users/x", 2, None),  # the home folder: no project
    ("/tmp", 1, None),
]
# (page title, properties, truth)
NOTION_PROJECTS = [
    ("chittychat", {}, "chittychat"),
    ("ChittyID", {}, "chitty-id"),
    ("ChittyOS Services", {}, "chittyos-services"),
    ("Chitty Schema", {}, "chittyschema"),
    ("ChittyLedger", {}, "chittyledger"),
    ("ChittyRegister", {}, "chittyregister"),
    ("Music Player", {}, "music-player"),
    ("Canon Service", {"Repository": "https://github.com/chittyfoundation/chittycanon"}, "chittycanon"),
    ("Legal Evidence", {}, "legal-evidence"),
    ("ChittyFinance", {}, "chittyfinance"),
]
# (path below the synced folder, is_folder, truth or "skip" for records that are not project folders)
DRIVE = [
    ("ChittyChat Data", True, "chittychat"),
    ("ChittyChat Data/exports", True, "skip"),
    ("ChittyChat Data/notes.md", False, "skip"),
    ("projects", True, "skip"),
    ("projects/ChittyID", True, "chitty-id"),
    ("ChittySchema Docs", True, "chittyschema"),
    ("chitty-ledger", True, "chittyledger"),
    ("music_player", True, "music-player"),
    ("Legal Evidence", True, "legal-evidence"),
]
# chittychat-data states: (folder, projectName, projectPath, truth)
STATES = [
    ("chittychat", "ChittyChat", "/Users/x/code/chittychat", "chittychat"),
    ("chittyrouter", "ChittyRouter", "/Users/x/work2/chittyrouter", "chittyrouter"),
    ("gateway", "Gateway", "/Users/x/code/chittygateway", "chittygateway"),
    ("chittyregistry", "chittyregistry", None, "chittyregistry"),
]
DATA_PROJECT_FILES = [("chittycheck", "ChittyCheck", "chittycheck")]
REGISTERED = [
    (
        "chittyos-services",
        "ChittyOS Services",
        "/Users/x/code/services",
        "git@github.com:chittyos/chittyos-services.git",
        "chittyos-services",
    ),
]

TRUE_PROJECTS = {
    t
    for t in [r[1] for r in REPOS]
    + [c[2] for c in CWDS]
    + [n[2] for n in NOTION_PROJECTS]
    + [d[2] for d in DRIVE]
    + [s[3] for s in STATES]
    + [p[2] for p in DATA_PROJECT_FILES]
    if t not in (None, "skip")
}


def truth() -> dict[str, str | None]:
    """alias_id -> true project (None: belongs to no project)."""
    t: dict[str, str | None] = {}
    for full, p in REPOS:
        t[f"github:raw_github.repositories:{full}"] = p
    for cwd, _n, p in CWDS:
        t[f"claude_code:raw_local.claude_sessions:{cwd}"] = p
    for i, (_title, _props, p) in enumerate(NOTION_PROJECTS):
        t[f"notion:raw_notion.pages:page-{i}"] = p
    for i, (_path, _folder, p) in enumerate(DRIVE):
        if p != "skip":
            t[f"drive:raw_drive.files:drive-{i}"] = p
    for folder, _name, _path, p in STATES:
        t[f"chittychat_data:raw_github.project_states:{folder}"] = p
    for pid, _name, p in DATA_PROJECT_FILES:
        t[f"chittychat_data:raw_github.projects:{pid}"] = p
    for key, *_rest, p in REGISTERED:
        t[f"registered:opstore.projects:{key}"] = p
    return t


def claude_session_ids() -> list[tuple[str, str]]:
    """(session_id, cwd) of the seeded Claude Code sessions, in seeding order."""
    return [(f"c{i:02d}-{j}", cwd) for i, (cwd, n, _p) in enumerate(CWDS) for j in range(n)]


def seed_platforms(wh: Warehouse) -> None:
    repos = [
        {
            "repo_id": 1000 + i,
            "full_name": full,
            "owner": full.split("/")[0],
            "name": full.split("/")[1],
            "html_url": f"https://github.com/{full}",
            "pushed_at": T0 - timedelta(days=i),
            "fork": False,
        }
        for i, (full, _p) in enumerate(REPOS)
    ]
    notion_dbs = [
        {"table_id": "db-projects", "database_id": "db-projects", "title": "Projects"},
        {"table_id": "db-meetings", "database_id": "db-meetings", "title": "Meeting Notes"},
    ]
    pages = [
        {
            "page_id": f"page-{i}",
            "table_id": "db-projects",
            "title": title,
            "is_deleted": False,
            "properties": __import__("json").dumps(props),
            "last_edited_time": T0 - timedelta(hours=i),
        }
        for i, (title, props, _p) in enumerate(NOTION_PROJECTS)
    ] + [
        # Not project pages: a meeting note named like a project, and a trashed project page.
        {
            "page_id": "meeting-1",
            "table_id": "db-meetings",
            "title": "ChittyChat standup",
            "is_deleted": False,
        },
        {"page_id": "trashed-1", "table_id": "db-projects", "title": "Old Thing", "is_deleted": True},
    ]
    files = [
        {
            "id": f"drive-{i}",
            "name": path.split("/")[-1],
            "path": path,
            "is_folder": folder,
            "trashed": False,
            "modified_time": T0 - timedelta(days=1),
        }
        for i, (path, folder, _p) in enumerate(DRIVE)
    ] + [{"id": "drive-trash", "name": "Abandoned", "path": "Abandoned", "is_folder": True, "trashed": True}]
    states = [
        {"project": f, "project_name": n, "project_path": p, "last_activity": T0 - timedelta(days=2)}
        for f, n, p, _t in STATES
    ]
    data_projects = [{"project_id": pid, "name": n} for pid, n, _t in DATA_PROJECT_FILES]
    with wh.transaction("seed") as tx:
        tx.upsert(REPOSITORIES, repos)
        tx.upsert(DATABASES, notion_dbs)
        tx.upsert(PAGES, pages)
        tx.upsert(FILES, files)
        tx.upsert(PROJECT_STATES, states)
        tx.upsert(DATA_PROJECTS, data_projects)
    seed_sessions(wh)


def seed_sessions(wh: Warehouse) -> None:
    """Claude sessions (one per CWDS entry x count), one subagent, two ChatGPT conversations and a
    Gemini session. Session c00-0 was last active at T0; every other one a day earlier per index."""
    sessions, messages = [], []
    for n, (sid, cwd) in enumerate(claude_session_ids()):
        last = T0 - timedelta(days=n)
        sessions.append(
            {
                "session_id": sid,
                "project_path": cwd,
                "first_at": last - timedelta(hours=1),
                "last_at": last,
                "models": ["claude-opus-4-5"],
                "title": f"work on {cwd.rsplit('/', 1)[-1]}",
                "prompt_count": 2,
                "message_count": 10 + n,
                "tool_call_count": n,
                "input_tokens": 100 * n,
                "output_tokens": 10 * n,
                "cache_creation_tokens": 5,
                "cache_read_tokens": 7,
                "total_tokens": 110 * n + 12,
            }
        )
        messages.append(
            {
                "source_file": f"/c/{sid}.jsonl",
                "line_no": 1,
                "session_id": sid,
                "is_prompt": True,
                "file_kind": "main",
                "type": "user",
                "role": "user",
                "text": f"first prompt of {sid}",
                "is_sidechain": False,
                "usage_eligible": False,
            }
        )
    # A subagent of c00-0: two usage lines of one response (dedup keeps the larger) and one other.
    agent_file = "/c/c00-0/subagents/agent-a1.jsonl"
    base = {
        "source_file": agent_file,
        "session_id": "c00-0",
        "agent_id": "a1",
        "file_kind": "subagent",
        "is_sidechain": True,
        "cache_creation_tokens": 0,
        "cache_read_tokens": 0,
    }
    messages += [
        {
            **base,
            "line_no": 1,
            "type": "user",
            "role": "user",
            "text": "Search the repo for mint calls",
            "is_prompt": True,
            "usage_eligible": False,
            "timestamp": T0 - timedelta(minutes=30),
        },
        {
            **base,
            "line_no": 2,
            "type": "assistant",
            "role": "assistant",
            "message_id": "m1",
            "request_id": "r1",
            "usage_eligible": True,
            "input_tokens": 50,
            "output_tokens": 1,
            "total_tokens": 51,
            "tool_use_count": 1,
            "model": "claude-haiku-4-5",
            "is_prompt": False,
        },
        {
            **base,
            "line_no": 3,
            "type": "assistant",
            "role": "assistant",
            "message_id": "m1",
            "request_id": "r1",
            "usage_eligible": True,
            "input_tokens": 50,
            "output_tokens": 20,
            "total_tokens": 70,
            "tool_use_count": 0,
            "model": "claude-haiku-4-5",
            "is_prompt": False,
        },
        {
            **base,
            "line_no": 4,
            "type": "assistant",
            "role": "assistant",
            "message_id": "m2",
            "request_id": "r2",
            "usage_eligible": True,
            "input_tokens": 30,
            "output_tokens": 5,
            "total_tokens": 35,
            "tool_use_count": 0,
            "model": "claude-haiku-4-5",
            "is_prompt": False,
            "timestamp": T0 - timedelta(minutes=20),
        },
    ]
    subagents = [
        {
            "part_id": "c00-0#agent-a1",
            "session_id": "c00-0",
            "agent_id": "a1",
            "agent_type": "Explore",
            "description": "find mint calls",
            "source_file": agent_file,
            "line_count": 4,
            "first_at": T0 - timedelta(minutes=30),
            "last_at": T0 - timedelta(minutes=20),
        }
    ]
    convs = [
        {
            "conversation_id": "g1",
            "title": "Deploy the worker",
            "create_time": T0 - timedelta(days=3),
            "update_time": T0 - timedelta(days=3, hours=-1),
            "model_slugs": ["gpt-4o"],
            "visible_messages": 4,
        },
        {
            "conversation_id": "g2",
            "title": None,
            "create_time": T0,
            "update_time": None,
            "model_slugs": None,
            "default_model_slug": "gpt-4o-mini",
            "visible_messages": 0,
        },
    ]
    gpt_messages = [
        {
            "conversation_id": "g1",
            "node_id": "n0",
            "role": "system",
            "position": 0,
            "on_active_thread": True,
            "hidden": True,
            "text": "",
        },
        {
            "conversation_id": "g1",
            "node_id": "n1",
            "role": "user",
            "position": 1,
            "on_active_thread": True,
            "hidden": False,
            "text": "How do I deploy with wrangler?",
        },
        {
            "conversation_id": "g1",
            "node_id": "n2",
            "role": "assistant",
            "position": 2,
            "on_active_thread": True,
            "hidden": False,
            "text": "Run wrangler deploy.",
        },
        {
            "conversation_id": "g1",
            "node_id": "n3",
            "role": "user",
            "position": None,
            "on_active_thread": False,
            "hidden": False,
            "text": "an edited branch",
        },
    ]
    gemini_sessions = [
        {
            "session_id": "gemini-p1",
            "started_at": T0 - timedelta(days=5),
            "ended_at": T0 - timedelta(days=5, minutes=-10),
            "prompt_count": 2,
            "gem_names": [],
            "first_prompt": "plan a playlist",
            "gap_minutes": 30.0,
        }
    ]
    gemini_prompts = [
        {
            "prompt_id": "p1",
            "session_id": "gemini-p1",
            "prompt_time": T0 - timedelta(days=5),
            "prompt_text": "plan a playlist",
            "response_text": "Sure",
        },
        {
            "prompt_id": "p2",
            "session_id": "gemini-p1",
            "prompt_time": T0 - timedelta(days=5, minutes=-10),
            "prompt_text": "add jazz tracks",
            "response_text": None,
        },
    ]
    with wh.transaction("seed") as tx:
        tx.upsert(SESSIONS, sessions)
        tx.upsert(MESSAGES, messages)
        tx.upsert(SUBAGENTS, subagents)
        tx.upsert(CONVERSATIONS, convs)
        tx.upsert(GPT_MESSAGES, gpt_messages)
        tx.upsert(local_gemini.SESSIONS, gemini_sessions)
        tx.upsert(local_gemini.PROMPTS, gemini_prompts)


def register_projects(store: OpStore) -> None:
    for key, name, path, remote, _truth in REGISTERED:
        store.register_project(key, name, path, remote, now=T0)
