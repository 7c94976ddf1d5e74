"""Importing a partner's users from a CSV file (issue 12 §5): read it, then plan it line by line — who is
created, what is granted on which bulletin, what is refused and why — under the same rules and caps (R6–R8,
R10, R12) as one user at a time. Pure: the use case gives what needs the store or Keycloak (identifiants
and addresses taken elsewhere, accounts we do not manage, the R12 hierarchy) as data and a function.

The columns are those of the bulletin export (R13) plus the convention:
    identifiant;nom;prenom;courriel;convention;groupes;profils
`groupes` and `profils` list values separated by « + » (« AFAS Déclarer + AFAS Habiliter »); `convention`
may stay empty when one active convention carries the services named.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, TypeVar

from provisioning.domain import catalogue, rules
from provisioning.domain.model import (
    Bulletin,
    Caf,
    Convention,
    Group,
    Member,
    Partner,
    Profile,
    Registry,
    Service,
    Settings,
    User,
)
from provisioning.domain.states import ImportAction
from provisioning.errors import Violation

COLUMNS = ("identifiant", "nom", "prenom", "courriel", "convention", "groupes", "profils")
REQUIRED = ("identifiant", "nom", "prenom", "courriel")
MAX_LINES = 2000
MAX_BYTES = 1_000_000


@dataclass
class Line:
    number: int                      # line number in the file (the header is line 1)
    identifiant: str
    last_name: str
    first_name: str
    email: str
    convention: str
    groups: set[Group] = field(default_factory=set)
    profiles: set[Profile] = field(default_factory=set)
    faults: list[Violation] = field(default_factory=list)


@dataclass
class Outcome:
    line: int
    identifiant: str
    action: ImportAction | None = None  # create, update or refused (French labels at the edge)
    grants: list[str] = field(default_factory=list)   # « CDAP Consulter (CONV-…) » …
    refusals: list[Violation] = field(default_factory=list)

    @property
    def refused(self) -> bool:
        return bool(self.refusals)

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "identifiant": self.identifiant,
                "action": self.action.value if self.action else None,
                "action_label": self.action.label if self.action else None, "grants": self.grants,
                "refusals": [{"code": v.code, "message": v.message} for v in self.refusals]}


V = TypeVar("V", Group, Profile)


def _values(cls: type[V], raw: str, number: int, column: str) -> tuple[set[V], list[Violation]]:
    """The column's values, each one the catalogue knows (groups by name, profiles by code)."""
    cat = catalogue.current()
    known = [g.name for _, g in cat.groups()] if cls is Group else [x.code for _, x in cat.profiles()]
    out: set[V] = set()
    faults: list[Violation] = []
    for part in (x.strip() for x in raw.replace(",", "+").split("+")):
        if not part:
            continue
        if part not in known:
            faults.append(Violation("VALEUR_INCONNUE", f"« {part[:50]} » n'est pas une valeur permise de la colonne "
                                    f"{column} (possibles : {', '.join(known)}).", f"ligne {number}"))
            continue
        v = cls(part)
        if v in out:
            faults.append(Violation("VALEUR_EN_DOUBLE", f"« {v.value} » figure deux fois dans la colonne {column}.",
                                    f"ligne {number}"))
        out.add(v)
    return out, faults


def read(data: bytes) -> tuple[list[Line], list[Violation]]:
    """The file's lines, each with its own faults; or the faults that make the whole file unreadable."""
    if len(data) > MAX_BYTES:
        return [], [Violation("FICHIER_TROP_GROS", f"Le fichier dépasse {MAX_BYTES // 1000} ko.", "fichier")]
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return [], [Violation("FICHIER_ENCODAGE", "Le fichier doit être encodé en UTF-8 (enregistrez-le en « CSV UTF-8 »).",
                              "fichier")]
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") >= first.count(",") else ","
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as e:  # a NUL byte, a field over the csv module's limit…
        return [], [Violation("FICHIER_ILLISIBLE", f"Le fichier n'est pas un CSV lisible ({str(e)[:80]}).", "fichier")]
    while rows and not any(c.strip() for c in rows[-1]):
        rows.pop()
    if not rows:
        return [], [Violation("FICHIER_VIDE", "Le fichier est vide.", "fichier")]
    header = [h.strip().lower() for h in rows[0]]
    missing = [c for c in REQUIRED if c not in header]
    unknown = [h for h in header if h and h not in COLUMNS]
    faults = []
    if missing:
        faults.append(Violation("COLONNE_MANQUANTE", f"Colonne(s) obligatoire(s) absente(s) de la ligne d'en-tête : "
                                f"{', '.join(missing)} (attendu : {';'.join(COLUMNS)}).", "ligne 1"))
    if unknown:
        faults.append(Violation("COLONNE_INCONNUE", f"Colonne(s) inconnue(s) : {', '.join(x[:30] for x in unknown)}.",
                                "ligne 1"))
    if len(rows) - 1 > MAX_LINES:
        faults.append(Violation("TROP_DE_LIGNES", f"Le fichier compte {len(rows) - 1} lignes : {MAX_LINES} au plus "
                                "par import.", "fichier"))
    if len(rows) == 1:
        faults.append(Violation("FICHIER_VIDE", "Le fichier ne compte aucune ligne après l'en-tête.", "fichier"))
    if faults:
        return [], faults
    lines = []
    for i, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        cell = {h: (row[k].strip() if k < len(row) else "") for k, h in enumerate(header)}
        line = Line(i, cell["identifiant"].lower(), cell["nom"], cell["prenom"], cell["courriel"],
                    cell.get("convention", "").upper())
        if len(row) > len(header):
            line.faults.append(Violation("LIGNE_TROP_LONGUE", f"La ligne compte {len(row)} cellules pour "
                                         f"{len(header)} colonnes.", f"ligne {i}"))
        line.groups, f1 = _values(Group, cell.get("groupes", ""), i, "groupes")
        line.profiles, f2 = _values(Profile, cell.get("profils", ""), i, "profils")
        line.faults += f1 + f2
        lines.append(line)
    return lines, []


def _convention(p: Partner, line: Line, services: set[Service]) -> tuple[Convention | None, list[Violation]]:
    where = f"ligne {line.number}"
    if line.convention:
        conv = p.convention(line.convention)
        if conv is None:
            return None, [Violation("CONVENTION_INCONNUE", f"La convention {line.convention[:40]} n'existe pas pour "
                                    f"{p.name}.", where)]
        return conv, []
    fits = [c for c in p.conventions if all(c.grants(s) for s in services)]
    if len(fits) == 1:
        return fits[0], []
    if not fits:
        return None, [Violation("SERVICE_NON_CONVENTIONNE", f"{p.name} n'a pas de convention active portant "
                                f"{' et '.join(sorted(s.value for s in services))} : rien ne peut être attribué.", where)]
    return None, [Violation("CONVENTION_A_PRECISER", "Plusieurs conventions actives portent ces services : indiquez "
                            "laquelle dans la colonne convention.", where)]


def plan(p: Partner, lines: list[Line], *, caf: Caf | None, settings: Settings, today: date,
         taken: tuple[set[str], set[str]], unmanaged: set[str],
         hierarchy: Callable[[str], str | None],
         grantable: Callable[[Service], str | None] = lambda service: None) -> list[Outcome]:
    """Apply the lines to `p` (the caller's copy, changed in place), each line whole or not at all, and say
    per line what happened. `taken`: identifiants and addresses used outside this partner; `unmanaged`: new
    identifiants Keycloak already holds without our marker; `hierarchy(identifiant)`: the R12 refusal, if any,
    for changing an existing person's habilitations."""
    batch = _Batch(p, caf, settings, today, taken, unmanaged, hierarchy)
    batch.grantable = grantable  # the catalogue's `granted_by`: the refusal for a service this actor may not grant
    return [batch.line(line) for line in lines]


class _Batch:
    """The lines so far: who was seen on which line, the addresses in use, the R8 counts (rules.py's)."""

    def __init__(self, p: Partner, caf: Caf | None, settings: Settings, today: date,
                 taken: tuple[set[str], set[str]], unmanaged: set[str], hierarchy: Callable[[str], str | None]):
        self.p, self.caf, self.settings, self.today = p, caf, settings, today
        self.ids_elsewhere, self.mails_elsewhere = taken
        self.unmanaged, self.hierarchy = unmanaged, hierarchy
        self.grantable: Callable[[Service], str | None] = lambda service: None
        self.first_line: dict[str, int] = {}
        self.mails = Counter(u.email.lower() for u in p.users)
        self.caps: dict[tuple[str, Profile], int] = Counter()  # R8, counted as the API and the file count
        for c in p.conventions:
            for b in c.bulletins:
                for prof, holders in rules.profile_holders(b).items():
                    self.caps[(c.number, prof)] += len(holders)

    def _mini(self, user: User, conventions: list[Convention] | None = None) -> Registry:
        p = self.p
        return Registry([self.caf] if self.caf else [], [Partner(p.siret, p.name, p.caf, users=[user],
                                                                 conventions=conventions or [])], self.settings)

    def line(self, line: Line) -> Outcome:
        out = Outcome(line.number, line.identifiant)
        where = f"ligne {line.number}"
        out.refusals.extend(line.faults)
        if line.identifiant in self.first_line:
            out.refusals.append(Violation("LIGNE_EN_DOUBLE", f"« {line.identifiant} » figure déjà ligne "
                                          f"{self.first_line[line.identifiant]} : une ligne par personne.", where))
        self.first_line.setdefault(line.identifiant, line.number)
        existing = self.p.user(line.identifiant)
        user = existing or User(line.identifiant, line.first_name, line.last_name, line.email)
        out.refusals += self._identity(line, existing, user, where)
        by_service: dict[Service, set[Group]] = {}
        for g in line.groups:
            if (svc := g.service) is not None:
                by_service.setdefault(svc, set()).add(g)
        for svc in sorted(by_service):
            if reserved := self.grantable(svc):
                out.refusals.append(Violation("ATTRIBUTION_RESERVEE", reserved, where))
        cat = catalogue.current()
        for prof in sorted(line.profiles):
            owner, spec = cat.service_of_profile(prof), cat.profile(prof)
            if owner is not None and spec is not None and owner.code not in by_service:
                out.refusals.append(Violation(owner.profile_without_group_code, f"Le profil {spec.label} sans le "
                                              f"groupe « {spec.requires} ».", where))
        conv = None
        if by_service and not out.refusals:
            conv, why = self._grants(line, user, by_service, where)
            out.refusals += why
        if out.refusals:
            out.action = ImportAction.REFUSED
            return out
        self._apply(line, existing, user, conv, by_service, out)
        return out

    def _identity(self, line: Line, existing: User | None, user: User, where: str) -> list[Violation]:
        """An existing person keeps her identity; a new one passes the formats and is nobody else."""
        if existing:
            if (existing.first_name, existing.last_name, existing.email.lower()) != \
                    (line.first_name, line.last_name, line.email.lower()):
                return [Violation("IDENTITE_DIFFERENTE", f"« {line.identifiant} » existe déjà sous le nom "
                                  f"{existing.first_name} {existing.last_name} ({existing.email}) : l'import ne "
                                  "modifie pas une identité.", where)]
            if line.groups and (reason := self.hierarchy(line.identifiant)):
                return [Violation("HIERARCHIE", reason, where)]
            return []
        out = [Violation(v.code, v.message, where) for v in rules.formats_are_valid(self._mini(user), self.today)]
        if line.identifiant in self.ids_elsewhere:
            out.append(Violation("IDENTIFIANT_EN_DOUBLE", f"L'identifiant « {line.identifiant} » est déjà utilisé : "
                                 "un utilisateur appartient à un seul partenaire.", where))
        if line.email.lower() in self.mails_elsewhere or self.mails[line.email.lower()]:
            out.append(Violation("COURRIEL_EN_DOUBLE", f"L'adresse « {line.email[:254]} » est déjà utilisée.", where))
        if line.identifiant in self.unmanaged:
            out.append(Violation("COMPTE_NON_GERE", f"Un compte « {line.identifiant} » existe déjà dans Keycloak sans "
                                 "avoir été créé par Mon Compte Partenaire : il ne sera pas repris.", where))
        return out

    def _grants(self, line: Line, user: User, by_service: dict[Service, set[Group]],
                where: str) -> tuple[Convention | None, list[Violation]]:
        """The convention the line's services fall under, then the memberships alone against the bulletin's
        rules (R6, R7, R10), then the R8 caps counted as the lines go."""
        conv, out = _convention(self.p, line, set(by_service))
        for svc in by_service:
            if conv is not None and not conv.grants(svc):
                out.append(Violation("SERVICE_NON_CONVENTIONNE", f"La convention {conv.number} n'est pas active ou "
                                     f"ne porte pas le service {svc.value} (ou il est suspendu).", where))
        if conv is None or out:
            return conv, out
        members = [Member(line.identifiant, groups, _own(line.profiles, svc)) for svc, groups in by_service.items()]
        mini_conv = Convention(conv.number, conv.status, [], conv.contract,
                               [Bulletin(m_svc, [m]) for m_svc, m in zip(by_service, members, strict=True)])
        mini = self._mini(user, [mini_conv])
        out += [Violation(v.code, v.message, where)
                for rule in (rules.groups_and_profiles_fit_the_bulletin, rules.groups_only_from_their_opening)
                for v in rule(mini, self.today)]
        if not out:
            for svc in by_service:
                out += self._caps(line, conv, svc, where)
        return conv, out

    def _caps(self, line: Line, conv: Convention, svc: Service, where: str) -> list[Violation]:
        b = conv.bulletin(svc)
        held = b.member(line.identifiant) if b else None
        before = held.profiles if held and rules.holds_a_slot(held) else set()
        out = []
        for prof in sorted(_own(line.profiles, svc) - before):
            spec = catalogue.current().profile(prof)
            if spec is not None and spec.cap is not None and self.caps[(conv.number, prof)] + 1 > spec.cap:
                out.append(Violation(spec.cap_code, f"Bulletin {svc} de la convention {conv.number} : le profil "
                                     f"{spec.label} compte déjà {self.caps[(conv.number, prof)]} titulaire(s), "
                                     f"{spec.cap} au plus.", where))
        return out

    def _apply(self, line: Line, existing: User | None, user: User, conv: Convention | None,
               by_service: dict[Service, set[Group]], out: Outcome) -> None:
        if not existing:
            self.p.users.append(user)
            self.mails[user.email.lower()] += 1
        for svc, groups in (by_service.items() if conv else ()):
            assert conv is not None
            b = conv.bulletin(svc)
            assert b is not None  # _convention chose a convention carrying each service's bulletin
            old = b.member(line.identifiant)
            profiles = _own(line.profiles, svc)
            # the line's grant replaces the old one, a review's suspension lifted
            for prof in (old.profiles if old and rules.holds_a_slot(old) else set()):
                self.caps[(conv.number, prof)] -= 1
            for prof in profiles:
                self.caps[(conv.number, prof)] += 1
            if b.update(line.identifiant, groups=set(groups), profiles=set(profiles), suspended=False) is None:
                b.members.append(Member(line.identifiant, set(groups), set(profiles)))
            out.grants.append(f"{' + '.join(sorted(g.value for g in groups))}"
                              + (f" ; profils {' + '.join(sorted(x.value for x in profiles))}" if profiles else "")
                              + f" ({conv.number})")
        out.action = ImportAction.UPDATE if existing else ImportAction.CREATE


def _own(profiles: set[Profile], svc: Service) -> set[Profile]:
    """The profiles of this service among the line's."""
    return {x for x in profiles if x.service == svc}
