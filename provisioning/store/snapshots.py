"""Partners as read, kept by each process under the stamp of the write that made them (issue 27).

A change to one person of a 5,000-person partner read its 5,000 people from the database each time. The partner's
row carries a `stamp`, a new random value at each write; a process that has read a partner under a stamp keeps
what it read, and the next read of that partner asks the row alone: same stamp, same partner (a stamp never
repeats, even for a partner deleted and registered again — unlike its version). Another process's write changes
the stamp, so nothing kept is ever served stale; what a transaction wrote and then rolled back was kept under a
stamp no row will carry.

What is kept is never handed out: readers get `delta.working_copy` of it (their own lists; the people and grants,
frozen, are shared). Bounded by the number of people and grants kept, least recently used first out."""

from __future__ import annotations

import threading
from collections import OrderedDict

from provisioning.domain.model import Partner

MAX_ROWS = 60_000  # people and grants kept per process, all partners together (a few MB per thousand)


def size_of(p: Partner) -> int:
    return 1 + len(p.users) + sum(len(b.members) for c in p.conventions for b in c.bulletins)


class Snapshots:
    def __init__(self, max_rows: int = MAX_ROWS):
        self.max_rows = max_rows
        self._lock = threading.Lock()
        self._kept: OrderedDict[str, tuple[str, Partner, int]] = OrderedDict()
        self._rows = 0

    def get(self, siret: str, stamp: str | None) -> Partner | None:
        if stamp is None:
            return None
        with self._lock:
            found = self._kept.get(siret)
            if found is None or found[0] != stamp:
                return None
            self._kept.move_to_end(siret)
            return found[1]

    def put(self, siret: str, stamp: str | None, p: Partner) -> None:
        """Keep `p`, which the caller no longer changes (a working copy made for it)."""
        if stamp is None:
            return
        size = size_of(p)
        with self._lock:
            old = self._kept.pop(siret, None)
            if old is not None:
                self._rows -= old[2]
            if size > self.max_rows:
                return
            self._kept[siret] = (stamp, p, size)
            self._rows += size
            while self._rows > self.max_rows:
                _, (_, _, gone) = self._kept.popitem(last=False)
                self._rows -= gone

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()
            self._rows = 0


KEPT = Snapshots()
