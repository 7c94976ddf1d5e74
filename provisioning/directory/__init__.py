"""The SIRENE directory as the access request reads it (issue 31 §1): an adapter, so that a real directory (the
INSEE's API Sirene, or the State's « annuaire des entreprises ») can be plugged in behind `lookup`. The demo and
the tests read a local extract shipped here (`sirene-demo.csv`, the directory's columns that the request shows),
or the file `MCP_SIRENE_FILE` names."""

from __future__ import annotations

import csv
import functools
from pathlib import Path
from typing import Protocol

from provisioning.domain.access_requests import Establishment

DEMO_EXTRACT = Path(__file__).with_name("sirene-demo.csv")


class Directory(Protocol):
    def lookup(self, siret: str) -> Establishment | None:
        """The establishment a SIRET names, or None when the directory does not know it."""


class ExtractDirectory:
    """A CSV extract (siret;denomination;adresse;code_postal;commune), read once."""

    def __init__(self, path: Path = DEMO_EXTRACT):
        with open(path, encoding="utf-8", newline="") as f:
            self._rows = {r["siret"].strip(): Establishment(r["siret"].strip(), r["denomination"].strip(),
                                                            r["adresse"].strip(), r["code_postal"].strip(),
                                                            r["commune"].strip())
                          for r in csv.DictReader(f, delimiter=";")}

    def lookup(self, siret: str) -> Establishment | None:
        return self._rows.get(siret.strip())


@functools.cache
def from_settings() -> Directory:
    from provisioning import settings
    path = settings.read(strict=False).sirene_file
    return ExtractDirectory(Path(path) if path else DEMO_EXTRACT)
