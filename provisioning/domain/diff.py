"""What a change changed, as data: the journal stores this, not two whole documents (issue 27: adding one person
to a 5,000-person partner wrote 1.1 MB of audit; now it writes that person).

`changes(before, after)` → [{"path": …, "before": …, "after": …}], a side absent when the value was added or
removed. Lists of records are matched by their natural key (users by identifiant, conventions by number,
bulletins by service, equipments by code), so a path names the record: `users[paul.bernard].email`. A list that
only grew (a convention's history) records the new items; lists of plain values (delegates, groups) record the
values added and removed. Pure: no store, no framework."""

from __future__ import annotations

from typing import Any

KEYS = ("identifiant", "number", "service", "code", "siret")
_ABSENT = object()


def changes(before: Any, after: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    _walk(before if before is not None else _ABSENT, after if after is not None else _ABSENT, "", out)
    return out


def _entry(path: str, before: Any, after: Any) -> dict[str, Any]:
    e: dict[str, Any] = {"path": path}
    if before is not _ABSENT:
        e["before"] = before
    if after is not _ABSENT:
        e["after"] = after
    return e


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _walk(before: Any, after: Any, path: str, out: list[dict[str, Any]]) -> None:
    if before == after:
        return
    if isinstance(before, dict) and isinstance(after, dict):
        for k in list(before) + [k for k in after if k not in before]:
            _walk(before.get(k, _ABSENT), after.get(k, _ABSENT), _join(path, str(k)), out)
    elif isinstance(before, list) and isinstance(after, list):
        _walk_list(before, after, path, out)
    else:
        out.append(_entry(path, before, after))


def _unique(items: list[Any], k: str) -> bool:
    values = [x.get(k) for x in items]
    return all(isinstance(v, str) for v in values) and len(set(values)) == len(values)


def _key_of(before: list[Any], after: list[Any]) -> str | None:
    """The natural key every record of both lists carries, unique within each; None if there is none."""
    if not (before or after) or not all(isinstance(x, dict) for x in before + after):
        return None
    return next((k for k in KEYS if _unique(before, k) and _unique(after, k)), None)


def _walk_list(before: list[Any], after: list[Any], path: str, out: list[dict[str, Any]]) -> None:
    key = _key_of(before, after)
    if key:
        b = {x[key]: x for x in before}
        a = {x[key]: x for x in after}
        for k in list(b) + [k for k in a if k not in b]:
            _walk(b.get(k, _ABSENT), a.get(k, _ABSENT), f"{path}[{k}]", out)
        return
    if all(not isinstance(x, (dict, list)) for x in before + after):
        gone = [x for x in before if x not in after]
        new = [x for x in after if x not in before]
        if gone or new:
            for x in gone:
                out.append(_entry(f"{path}[]", x, _ABSENT))
            for x in new:
                out.append(_entry(f"{path}[]", _ABSENT, x))
            return
        out.append(_entry(path, before, after))  # same values, another order
        return
    if after[:len(before)] == before:  # only grew: an append-only history
        for i, x in enumerate(after[len(before):], start=len(before)):
            out.append(_entry(f"{path}[{i}]", _ABSENT, x))
        return
    out.append(_entry(path, before, after))
