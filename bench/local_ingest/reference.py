"""An independent, plain-Python reader of a Claude Code corpus applying the token rules of
session-formats.md §1.8. It checks the generator's manifest (the two must agree exactly) and
is the "Python ceiling" baseline of stack-notes.md: one process, orjson, every line parsed.

Which copy of a replayed uuid counts: the one in the session that started first; resumed files
keep the original timestamps, so ties go to the session that ended first, then to the smaller
session id.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import orjson

KEYS = ("input_tokens", "output_tokens", "cache_creation_tokens", "cache_read_tokens")


def _usage_values(u: dict[str, Any]) -> tuple[int, int, int, int]:
    cc = u.get("cache_creation")
    if isinstance(cc, dict):
        creation = int(cc.get("ephemeral_5m_input_tokens") or 0) + int(
            cc.get("ephemeral_1h_input_tokens") or 0
        )
    else:
        creation = int(u.get("cache_creation_input_tokens") or 0)
    return (
        int(u.get("input_tokens") or 0),
        int(u.get("output_tokens") or 0),
        creation,
        int(u.get("cache_read_input_tokens") or 0),
    )


def _scan(job: tuple[int, list[str]]) -> tuple[dict[str, list[str]], list[tuple], int, int, int]:
    """Parse every line of some files: session time spans and usage-bearing candidates."""
    first_index, paths = job
    span: dict[str, list[str]] = {}  # session id -> [first, last] timestamp of envelope lines
    cands: list[tuple] = []  # (uuid, session, message id, request id, sidechain, values, order)
    lines = bad = nbytes = 0
    for fi, path in enumerate(paths, first_index):
        with open(path, "rb") as fh:
            for n, raw in enumerate(fh):
                lines += 1
                nbytes += len(raw)
                try:
                    d = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    bad += 1
                    continue
                if not isinstance(d, dict):
                    continue
                sid, ts = d.get("sessionId"), d.get("timestamp")
                if sid and ts and "uuid" in d:
                    sp = span.get(sid)
                    if sp is None:
                        span[sid] = [ts, ts]
                    elif ts < sp[0]:
                        sp[0] = ts
                    elif ts > sp[1]:
                        sp[1] = ts
                if d.get("type") != "assistant":  # rule 1: progress copies are not requests
                    continue
                msg = d.get("message")
                if not isinstance(msg, dict) or not isinstance(msg.get("usage"), dict):
                    continue
                if msg.get("model") == "<synthetic>" or d.get("isApiErrorMessage"):  # rule 2
                    continue
                vals = _usage_values(msg["usage"])
                row = (d.get("uuid"), sid, msg.get("id"), d.get("requestId"), bool(d.get("isSidechain")))
                cands.append((*row, vals, (fi, n)))
    return span, cands, lines, bad, nbytes


def exact_totals(root: Path, workers: int = 1) -> dict[str, Any]:
    """Exact totals; ``workers`` > 1 parses contiguous, size-balanced file chunks in processes."""
    if not (root / "projects").is_dir():
        raise FileNotFoundError(f"no projects/ folder under {root}")
    paths = [str(p) for p in sorted((root / "projects").rglob("*.jsonl"))]
    jobs: list[tuple[int, list[str]]] = []
    if workers <= 1:
        jobs = [(0, paths)]
    else:
        sizes = [os.path.getsize(p) for p in paths]
        share, acc, begin = sum(sizes) / workers, 0, 0
        for i, size in enumerate(sizes):
            acc += size
            if acc >= share * (len(jobs) + 1) and len(jobs) < workers - 1:
                jobs.append((begin, paths[begin : i + 1]))
                begin = i + 1
        jobs.append((begin, paths[begin:]))
    if len(jobs) == 1:
        parts = [_scan(jobs[0])]
    else:
        with ProcessPoolExecutor(len(jobs)) as pool:
            parts = list(pool.map(_scan, jobs))
    span: dict[str, list[str]] = {}
    cands: list[tuple] = []
    lines = bad = nbytes = 0
    for sp_part, c_part, n_lines, n_bad, n_bytes in parts:
        for sid, (lo, hi) in sp_part.items():
            sp = span.setdefault(sid, [lo, hi])
            sp[0], sp[1] = min(sp[0], lo), max(sp[1], hi)
        cands.extend(c_part)
        lines, bad, nbytes = lines + n_lines, bad + n_bad, nbytes + n_bytes

    def skey(sid: str) -> tuple[str, str, str]:
        sp = span.get(sid) or ["", ""]
        return (sp[0], sp[1], sid)

    by_uuid: dict[Any, tuple] = {}  # rule 3: one copy per uuid, from the earliest session
    for c in cands:
        if c[0] is None:
            by_uuid[("line", c[6])] = c
            continue
        old = by_uuid.get(c[0])
        if old is None or skey(c[1]) < skey(old[1]):
            by_uuid[c[0]] = c
    groups: dict[Any, tuple] = {}  # rule 4: max total per response, last line wins ties
    for c in sorted(by_uuid.values(), key=lambda c: c[6]):
        key = (c[2], c[3]) if c[2] else ("uuid", c[0])  # rule 8: no message id -> the line
        old = groups.get(key)
        if old is None or sum(c[5]) >= sum(old[5]):
            groups[key] = c
    main_ids = {c[2] for c in groups.values() if not c[4] and c[2]}
    totals = dict.fromkeys(KEYS, 0)
    per_session: dict[str, dict[str, int]] = {}
    responses = 0
    for c in groups.values():
        if c[4] and c[2] in main_ids:  # rule 5: a /btw replay of a main-thread response
            continue
        responses += 1
        sess = per_session.setdefault(c[1], dict.fromkeys(KEYS, 0))
        for k, v in zip(KEYS, c[5], strict=True):
            totals[k] += v
            sess[k] += v
    totals["total_tokens"] = sum(totals[k] for k in KEYS)
    return {
        "true_tokens": totals,
        "per_session": per_session,
        "responses_counted": responses,
        "lines": lines,
        "bytes": nbytes,
        "bad_lines": bad,
        "sessions_seen": len(span),
    }


if __name__ == "__main__":
    import sys
    import time

    t0 = time.perf_counter()
    r = exact_totals(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 1)
    r.pop("per_session")
    r["seconds"] = round(time.perf_counter() - t0, 3)
    print(orjson.dumps(r, option=orjson.OPT_INDENT_2).decode())
