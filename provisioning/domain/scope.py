"""What a desired-state file owns, and what changed in the registry when one is applied (pure).

A file declares its scope: the whole registry (`scope: all`, a national operator's file), one or several
Cafs (`scope: {cafs: ["751"]}`: those Cafs and every partner attached to them), or named partners
(`scope: {partners: ["12345678900015"]}`). Validate, plan and apply touch nothing outside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from provisioning.domain.model import ConventionStatus, Partner


@dataclass(frozen=True)
class FileScope:
    everything: bool = False
    cafs: frozenset[str] = frozenset()
    partners: frozenset[str] = frozenset()

    def covers_caf(self, code: str) -> bool:
        return self.everything or code in self.cafs

    def covers_partner(self, p: Partner) -> bool:
        return self.everything or p.caf in self.cafs or p.siret in self.partners

    def describe(self) -> str:
        if self.everything:
            return "tout le registre"
        if self.cafs:
            return "Caf " + ", ".join(sorted(self.cafs))
        return "partenaire(s) " + ", ".join(sorted(self.partners))

    def as_data(self) -> str | dict[str, Any]:
        if self.everything:
            return "all"
        if self.cafs:
            return {"cafs": sorted(self.cafs)}
        return {"partners": sorted(self.partners)}


@dataclass(frozen=True)
class RegistryChange:
    """One line of what applying a file changes in the registry itself (before Keycloak)."""
    action: str        # add | update | remove | terminate
    target: str        # partner SIRET, "SIRET/convention number" or "caf:CODE"
    reason: str        # in French
    destructive: bool = False

    def __str__(self) -> str:
        sign = {"add": "+", "update": "~", "remove": "-", "terminate": "-"}[self.action]
        return f"{sign} registre : {self.action} {self.target}  ({self.reason})"

    def as_dict(self) -> dict[str, Any]:
        return {"action": self.action, "kind": "registry", "target": self.target, "reason": self.reason,
                "destructive": self.destructive}


def registry_diff(before: dict[str, tuple[Partner, dict[str, Any]]], after: dict[str, tuple[Partner, dict[str, Any]]],
                  cafs_before: dict[str, dict[str, Any]], cafs_after: dict[str, dict[str, Any]]) -> list[RegistryChange]:
    """Partners and Cafs (SIRET or code -> (object, stored document)) inside the scope, before and after.
    Removing a partner and terminating or dropping a convention are destructive."""
    out: list[RegistryChange] = []
    for code in sorted(set(cafs_after) - set(cafs_before)):
        out.append(RegistryChange("add", f"caf:{code}", "Caf ajoutée au registre"))
    for code in sorted(set(cafs_after) & set(cafs_before)):
        if cafs_after[code] != cafs_before[code]:
            out.append(RegistryChange("update", f"caf:{code}", "Caf modifiée (nom, boîte ou administrateurs)"))
    for siret in sorted(set(before) - set(after)):
        out.append(RegistryChange("remove", siret, f"partenaire {before[siret][0].name} retiré : ses utilisateurs "
                                  "perdent tout accès", destructive=True))
    for siret in sorted(set(after) - set(before)):
        out.append(RegistryChange("add", siret, f"partenaire {after[siret][0].name} ajouté"))
    for siret in sorted(set(after) & set(before)):
        (old, old_doc), (new, new_doc) = before[siret], after[siret]
        if old_doc == new_doc:
            continue
        out.append(RegistryChange("update", siret, f"partenaire {new.name} modifié"))
        for conv in old.conventions:
            now = new.convention(conv.number)
            if conv.status is ConventionStatus.TERMINATED:
                continue
            if now is None:
                out.append(RegistryChange("remove", f"{siret}/{conv.number}", "convention retirée du fichier",
                                          destructive=True))
            elif now.status is ConventionStatus.TERMINATED:
                out.append(RegistryChange("terminate", f"{siret}/{conv.number}", "convention résiliée",
                                          destructive=True))
    return sorted(out, key=lambda c: not c.destructive)
