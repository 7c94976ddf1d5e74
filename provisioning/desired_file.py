"""The desired-state YAML file a Caf keeps in git (format documented in docs/provisioning.md and in
examples/desired-state.yaml). Parsing keeps each node's line so every fault points at its line."""

from __future__ import annotations

import contextlib
from datetime import date, datetime
from typing import Any

import yaml

from provisioning.domain.model import (
    Bulletin,
    Caf,
    CafAdministrator,
    Contact,
    Convention,
    ConventionStatus,
    Equipment,
    EquipmentType,
    Group,
    Member,
    Partner,
    Profile,
    Registry,
    Service,
    ServiceContract,
    Settings,
    StatusChange,
    User,
)
from provisioning.domain.rules import validate
from provisioning.domain.scope import FileScope
from provisioning.errors import ValidationFailed, Violation

FORMAT_VERSION = 1


MAX_BYTES = 5 * 1024 * 1024  # a Caf's registry of thousands of partners fits well below this
MAX_DEPTH = 16               # the format nests 9 levels deep; more is a mistake or an attack
PLAIN_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "timestamp", "map", "seq")}


class _Refused(Exception):
    """A YAML feature the format does not use, refused before it can cost memory or hide a mistake."""

    def __init__(self, code: str, message: str, line: int | None):
        super().__init__(message)
        self.code, self.message, self.line = code, message, line


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses anchors and aliases (no expansion bombs, no shared nodes) and bounds depth
    while composing, before any node is built."""

    def compose_node(self, parent, index):
        event = self.peek_event()
        line = event.start_mark.line + 1
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise _Refused("YAML_ALIAS_INTERDIT", "Les ancres et alias YAML (&, *) ne sont pas acceptés : écrivez "
                           "chaque valeur en entier.", line)
        self._depth = getattr(self, "_depth", 0) + 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Refused("YAML_TROP_PROFOND", f"Le fichier imbrique plus de {MAX_DEPTH} niveaux.", line)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _to_python(node: yaml.Node, path: str, lines: dict[str, int], loader: yaml.SafeLoader) -> Any:
    """Plain data from the YAML node tree, recording the line of every path (keys point at their key).
    A key written twice or a non-standard tag is refused with its line."""
    lines[path] = node.start_mark.line + 1
    if node.tag not in PLAIN_TAGS:
        raise _Refused("YAML_ETIQUETTE_INTERDITE", f"L'étiquette YAML « {node.tag[:60]} » n'est pas acceptée.",
                       node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out = {}
        for k, v in node.value:
            if not isinstance(k, yaml.ScalarNode):
                raise _Refused("YAML_CLE_INVALIDE", "Une clé doit être un simple texte.", k.start_mark.line + 1)
            key = str(k.value)
            if key in out:
                raise _Refused("YAML_CLE_EN_DOUBLE", f"La clé « {key[:60]} » figure deux fois dans le même objet : "
                               "la seconde effacerait la première.", k.start_mark.line + 1)
            child = f"{path}.{key}" if path else key
            out[key] = _to_python(v, child, lines, loader)
            lines[child] = k.start_mark.line + 1  # point at the key, where a reader looks
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_to_python(v, f"{path}[{i}]", lines, loader) for i, v in enumerate(node.value)]
    try:
        return loader.construct_object(node, deep=True)
    except (yaml.YAMLError, ValueError, OverflowError) as e:  # e.g. a date such as 2026-13-45
        raise _Refused("YAML_VALEUR_INVALIDE", f"Valeur illisible « {str(node.value)[:60]} » : {e}"[:300],
                       node.start_mark.line + 1) from e


class _Reader:
    """Builds domain objects from plain data, collecting schema violations instead of stopping."""

    def __init__(self) -> None:
        self.violations: list[Violation] = []

    def fault(self, code: str, message: str, path: str) -> None:
        self.violations.append(Violation(code, message, path))

    def field(self, d: Any, key: str, path: str, *, required: bool = True, default: Any = None, kind: type = str) -> Any:
        if not isinstance(d, dict):
            self.fault("SCHEMA_TYPE", "Un objet (clé: valeur) est attendu ici.", path)
            return default
        if key not in d or d[key] is None:
            if required:
                self.fault("SCHEMA_CHAMP_MANQUANT", f"Le champ « {key} » est obligatoire.", path)
            return default
        v = d[key]
        if kind is str and isinstance(v, (int, float)) and not isinstance(v, bool):
            v = str(v)  # SIRET or Caf codes written without quotes
        if kind is list and not isinstance(v, list):
            self.fault("SCHEMA_TYPE", f"« {key} » doit être une liste.", f"{path}.{key}")
            return default
        if kind is str and not isinstance(v, str):
            self.fault("SCHEMA_TYPE", f"« {key} » doit être un texte.", f"{path}.{key}")
            return default
        return v

    def enum(self, cls, value: Any, path: str):
        try:
            return cls(value)
        except (ValueError, TypeError):
            allowed = ", ".join(e.value for e in cls)
            self.fault("SCHEMA_VALEUR", f"« {str(value)[:60]} » n'est pas une valeur permise (permises : {allowed}).",
                       path)
            return None

    def enum_set(self, cls, values: list, path: str) -> set:
        """A list of enum values as a set; the same value twice is a fault, never silently merged."""
        out: set = set()
        for k, x in enumerate(values):
            v = self.enum(cls, x, f"{path}[{k}]")
            if v is not None and v in out:
                self.fault("VALEUR_EN_DOUBLE", f"« {v.value} » figure deux fois.", f"{path}[{k}]")
            elif v is not None:
                out.add(v)
        return out

    def unique_strings(self, values: list, path: str) -> list[str]:
        out = [str(x) for x in values]
        for k, x in enumerate(out):
            if x in out[:k]:
                self.fault("VALEUR_EN_DOUBLE", f"« {x} » figure deux fois.", f"{path}[{k}]")
        return list(dict.fromkeys(out))

    def known_keys(self, d: Any, keys: set[str], path: str) -> None:
        if isinstance(d, dict):
            for k in d:
                if k not in keys:
                    self.fault("SCHEMA_CHAMP_INCONNU", f"Le champ « {k} » est inconnu.", f"{path}.{k}" if path else k)

    def contact(self, d: Any, path: str) -> Contact | None:
        if d is None:
            return None
        self.known_keys(d, {"name", "email", "phone"}, path)
        return Contact(self.field(d, "name", path, default=""), self.field(d, "email", path, required=False, default=""),
                       self.field(d, "phone", path, required=False, default=""))

    def scope(self, raw: Any) -> FileScope | None:
        if raw is None:
            self.fault("PERIMETRE_MANQUANT", "Le fichier doit déclarer son périmètre : « scope: {cafs: [\"751\"]} », "
                       "« scope: {partners: [\"SIRET\"]} » ou, pour un opérateur national, « scope: all ».", "scope")
            return None
        if raw == "all":
            return FileScope(everything=True)
        if not isinstance(raw, dict) or len(raw) != 1 or next(iter(raw)) not in ("cafs", "partners"):
            self.fault("PERIMETRE_INVALIDE", "« scope » vaut « all », ou un objet avec une seule clé : « cafs » ou "
                       "« partners » (une liste non vide).", "scope")
            return None
        key, values = next(iter(raw.items()))
        if not isinstance(values, list) or not values:
            self.fault("PERIMETRE_INVALIDE", f"« scope.{key} » doit être une liste non vide.", f"scope.{key}")
            return None
        items = frozenset(str(v) for v in values)
        return FileScope(cafs=items) if key == "cafs" else FileScope(partners=items)

    def stays_in_scope(self, scope: FileScope, data: dict, reg: Registry) -> None:
        """Everything the file describes lies inside its scope; a Caf scope describes each of its Cafs."""
        if not scope.everything and "settings" in data:
            self.fault("HORS_PERIMETRE", "Les réglages nationaux (« settings ») ne figurent que dans un fichier "
                       "« scope: all ».", "settings")
        for i, c in enumerate(reg.cafs):
            if not scope.covers_caf(c.code):
                self.fault("HORS_PERIMETRE", f"La Caf « {c.code} » est hors du périmètre du fichier "
                           f"({scope.describe()}).", f"cafs[{i}].code")
        for code in sorted(scope.cafs - {c.code for c in reg.cafs}):
            self.fault("PERIMETRE_CAF_ABSENTE", f"La Caf « {code} » du périmètre doit être décrite sous « cafs ».",
                       "scope.cafs")
        for i, p in enumerate(reg.partners):
            if not scope.covers_partner(p):
                self.fault("HORS_PERIMETRE", f"Le partenaire {p.siret} est hors du périmètre du fichier "
                           f"({scope.describe()}).", f"partners[{i}].siret")

    def registry(self, data: Any) -> Registry:
        self.known_keys(data, {"version", "scope", "settings", "cafs", "partners"}, "")
        if not isinstance(data, dict):
            self.fault("SCHEMA_TYPE", "Le fichier doit décrire un objet (version, scope, cafs, partners).", "")
            return Registry()
        if data.get("version") != FORMAT_VERSION:
            self.fault("SCHEMA_VERSION", f"« version: {FORMAT_VERSION} » est attendu.", "version")
        scope = self.scope(data.get("scope"))
        settings = Settings()
        st = data.get("settings") or {}
        if not isinstance(st, dict):
            self.fault("SCHEMA_TYPE", "« settings » doit être un objet.", "settings")
            st = {}
        self.known_keys(st, {"afas_habiliter_opening"}, "settings")
        if "afas_habiliter_opening" in st:
            v = st["afas_habiliter_opening"]
            if isinstance(v, date):
                settings.afas_habiliter_opening = v
            else:
                self.fault("SCHEMA_DATE", "Une date AAAA-MM-JJ est attendue.", "settings.afas_habiliter_opening")
        cafs = [self.caf(c, f"cafs[{i}]")
                for i, c in enumerate(self.field(data, "cafs", "", required=False, kind=list, default=[]))]
        partners = [self.partner(p, f"partners[{i}]")
                    for i, p in enumerate(self.field(data, "partners", "", required=False, kind=list, default=[]))]
        reg = Registry(cafs, partners, settings, scope)
        if scope is not None:
            self.stays_in_scope(scope, data, reg)
        return reg

    def caf(self, d: Any, path: str) -> Caf:
        self.known_keys(d, {"code", "name", "habilitation_mailbox", "administrators"}, path)
        admins = []
        for i, a in enumerate(self.field(d, "administrators", path, required=False, kind=list, default=[])):
            p = f"{path}.administrators[{i}]"
            self.known_keys(a, {"identifiant", "first_name", "last_name", "email"}, p)
            admins.append(CafAdministrator(self.field(a, "identifiant", p, default=""), self.field(a, "first_name", p, default=""),
                                           self.field(a, "last_name", p, default=""), self.field(a, "email", p, default="")))
        return Caf(self.field(d, "code", path, default=""), self.field(d, "name", path, default=""),
                   self.field(d, "habilitation_mailbox", path, default=""), admins)

    def partner(self, d: Any, path: str) -> Partner:
        self.known_keys(d, {"siret", "name", "caf", "administrator", "delegates", "users", "equipments", "conventions"}, path)
        users = []
        for i, u in enumerate(self.field(d, "users", path, required=False, kind=list, default=[])):
            p = f"{path}.users[{i}]"
            self.known_keys(u, {"identifiant", "first_name", "last_name", "email", "suspended", "locked"}, p)
            users.append(User(self.field(u, "identifiant", p, default=""), self.field(u, "first_name", p, default=""),
                              self.field(u, "last_name", p, default=""), self.field(u, "email", p, default=""),
                              bool(u.get("suspended", False)) if isinstance(u, dict) else False,
                              bool(u.get("locked", False)) if isinstance(u, dict) else False))
        equipments = [self.equipment(e, f"{path}.equipments[{i}]")
                      for i, e in enumerate(self.field(d, "equipments", path, required=False, kind=list, default=[]))]
        conventions = [self.convention(c, f"{path}.conventions[{i}]")
                       for i, c in enumerate(self.field(d, "conventions", path, required=False, kind=list, default=[]))]
        return Partner(self.field(d, "siret", path, default=""), self.field(d, "name", path, default=""),
                       self.field(d, "caf", path, default=""), self.field(d, "administrator", path, required=False),
                       self.unique_strings(self.field(d, "delegates", path, required=False, kind=list, default=[]),
                                           f"{path}.delegates"),
                       users, equipments, conventions)

    def equipment(self, d: Any, path: str) -> Equipment:
        self.known_keys(d, {"code", "name", "type", "sites", "site", "assignments"}, path)
        assignments: dict[Profile, list[str]] = {}
        raw = (d.get("assignments") or {}) if isinstance(d, dict) else {}
        if not isinstance(raw, dict):
            self.fault("SCHEMA_TYPE", "« assignments » doit être un objet {profil: [identifiants]}.",
                       f"{path}.assignments")
            raw = {}
        for k, v in raw.items():
            if not isinstance(v, (list, type(None))):
                self.fault("SCHEMA_TYPE", "Une liste d'identifiants est attendue.", f"{path}.assignments.{k}")
                continue
            prof = self.enum(Profile, k, f"{path}.assignments.{k}")
            if prof:
                assignments[prof] = self.unique_strings(v or [], f"{path}.assignments.{k}")
        etype = self.enum(EquipmentType, self.field(d, "type", path, default="ALSH"), f"{path}.type")
        sites = self.unique_strings(self.field(d, "sites", path, required=False, kind=list, default=[]), f"{path}.sites")
        legacy = self.field(d, "site", path, required=False, default="")  # documents written before `sites`
        if legacy and legacy not in sites:
            sites.insert(0, legacy)
        return Equipment(self.field(d, "code", path, default=""), self.field(d, "name", path, default=""),
                         etype or EquipmentType.ALSH, sites, assignments)

    def convention(self, d: Any, path: str) -> Convention:
        self.known_keys(d, {"number", "status", "history", "contract", "bulletins", "suspended_services"}, path)
        status = self.enum(ConventionStatus, self.field(d, "status", path, default="requested"), f"{path}.status")
        contract = ServiceContract()
        c = d.get("contract") if isinstance(d, dict) else None
        if c is not None and not isinstance(c, dict):
            self.fault("SCHEMA_TYPE", "« contract » doit être un objet.", f"{path}.contract")
            c = None
        if c is not None:
            cp = f"{path}.contract"
            roles = [f for f in ServiceContract.__dataclass_fields__ if f != "incident_procedure"]
            self.known_keys(c, {*roles, "incident_procedure"}, cp)
            contract = ServiceContract(**{r: self.contact(c.get(r), f"{cp}.{r}") for r in roles},
                                       incident_procedure=self.field(c, "incident_procedure", cp, required=False, default=""))
        history = []
        for i, h in enumerate(self.field(d, "history", path, required=False, kind=list, default=[])):
            hp = f"{path}.history[{i}]"
            hs = self.enum(ConventionStatus, self.field(h, "status", hp, default="requested"), f"{hp}.status")
            at = h.get("at") if isinstance(h, dict) else None
            if isinstance(at, str):
                with contextlib.suppress(ValueError):
                    at = datetime.fromisoformat(at)
            if isinstance(at, date) and not isinstance(at, datetime):
                at = datetime(at.year, at.month, at.day)
            if not isinstance(at, datetime):
                self.fault("SCHEMA_DATE", "Une date est attendue.", f"{hp}.at")
                continue
            history.append(StatusChange(hs or ConventionStatus.REQUESTED, at, self.field(h, "actor", hp, default="")))
        bulletins = []
        for i, b in enumerate(self.field(d, "bulletins", path, required=False, kind=list, default=[])):
            bp = f"{path}.bulletins[{i}]"
            self.known_keys(b, {"service", "members"}, bp)
            service = self.enum(Service, self.field(b, "service", bp, default=""), f"{bp}.service")
            members = []
            for j, m in enumerate(self.field(b, "members", bp, required=False, kind=list, default=[])):
                mp = f"{bp}.members[{j}]"
                self.known_keys(m, {"identifiant", "groups", "profiles", "suspended"}, mp)
                groups = self.enum_set(Group, self.field(m, "groups", mp, kind=list, default=[]), f"{mp}.groups")
                profiles = self.enum_set(Profile, self.field(m, "profiles", mp, required=False, kind=list, default=[]),
                                         f"{mp}.profiles")
                members.append(Member(self.field(m, "identifiant", mp, default=""), groups, profiles,
                                      m.get("suspended") is True if isinstance(m, dict) else False))
            if service:
                bulletins.append(Bulletin(service, members))
        suspended = self.enum_set(Service, self.field(d, "suspended_services", path, required=False, kind=list,
                                                      default=[]), f"{path}.suspended_services")
        return Convention(self.field(d, "number", path, default=""), status or ConventionStatus.REQUESTED, history,
                          contract, bulletins, suspended)


def _line_for(path: str, lines: dict[str, int]) -> int | None:
    p = path
    while p:
        if p in lines:
            return lines[p]
        cut = max(p.rfind("."), p.rfind("["))
        p = p[:cut] if cut > 0 else ""
    return None


def _unreadable(code: str, message: str, line: int | None) -> ValidationFailed:
    return ValidationFailed([Violation(code, message, "", line)], "Le fichier d'état désiré est illisible ; rien "
                                                                  "n'a été appliqué.")


def load(text: str | bytes, today: date) -> Registry:
    """Parse, check the schema, then every rule; raise ValidationFailed listing every fault with its line.
    Bytes must be UTF-8; size, depth, anchors, aliases, tags and repeated keys are refused first."""
    if isinstance(text, bytes):
        if len(text) > MAX_BYTES:
            raise _unreadable("FICHIER_TROP_GROS", f"Le fichier dépasse {MAX_BYTES // (1024 * 1024)} Mo.", None)
        raw = text
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            line = raw[:e.start].count(b"\n") + 1
            raise _unreadable("YAML_ENCODAGE", "Le fichier n'est pas en UTF-8 valide.", line) from e
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise _unreadable("FICHIER_TROP_GROS", f"Le fichier dépasse {MAX_BYTES // (1024 * 1024)} Mo.", None)
    lines: dict[str, int] = {}
    loader = None
    try:
        loader = _StrictLoader(text)  # checks the characters first (control characters are refused)
        root = loader.get_single_node()
        data = _to_python(root, "", lines, loader) if root is not None else None
    except _Refused as e:
        raise _unreadable(e.code, e.message, e.line) from e
    except yaml.reader.ReaderError as e:
        raise _unreadable("YAML_CARACTERE_INTERDIT", f"Caractère interdit dans le fichier (code {e.character!r}).",
                          text[:e.position].count("\n") + 1) from e
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise _unreadable("YAML_INVALIDE", f"YAML illisible : {getattr(e, 'problem', None) or e}"[:300],
                          mark.line + 1 if mark else None) from e
    except RecursionError as e:  # unreachable with MAX_DEPTH, kept so no input ever gives a traceback
        raise _unreadable("YAML_TROP_PROFOND", "Le fichier est trop imbriqué.", None) from e
    finally:
        if loader is not None:
            loader.dispose()
    reader = _Reader()
    reg = reader.registry(data)
    # schema faults first; rule faults too, except under a place the schema already refused
    broken = [v.path for v in reader.violations]
    # a file limited to named partners does not describe their Caf: the store holds it (checked at plan time)
    own_cafs = reg.scope is None or not reg.scope.partners
    violations = reader.violations + [v for v in validate(reg, today)
                                      if not any(v.path.startswith(b) for b in broken if b)
                                      and (own_cafs or v.code != "CAF_INCONNUE")]
    if violations:
        raise ValidationFailed([Violation(v.code, v.message, v.path, _line_for(v.path, lines)) for v in violations],
                               "Le fichier d'état désiré enfreint des règles ; rien n'a été appliqué.")
    return reg


class _PlainDumper(yaml.SafeDumper):
    """Never writes anchors or aliases (the reader refuses them), even for a date shared by two entries."""

    def ignore_aliases(self, data) -> bool:
        return True


def dump(reg: Registry) -> str:
    return yaml.dump(registry_to_dict(reg), Dumper=_PlainDumper, allow_unicode=True, sort_keys=False)


def registry_to_dict(reg: Registry) -> dict:
    """The file format; national settings only in a whole-registry file (or one without a scope yet)."""
    out: dict[str, Any] = {"version": FORMAT_VERSION}
    if reg.scope is not None:
        out["scope"] = reg.scope.as_data()
    if reg.scope is None or reg.scope.everything:
        out["settings"] = {"afas_habiliter_opening": reg.settings.afas_habiliter_opening}
    out["cafs"] = [caf_to_dict(c) for c in reg.cafs]
    out["partners"] = [partner_to_dict(p) for p in reg.partners]
    return out


def caf_to_dict(c: Caf) -> dict:
    return {"code": c.code, "name": c.name, "habilitation_mailbox": c.habilitation_mailbox,
            "administrators": [vars(a).copy() for a in c.administrators]}


def _contact(c: Contact | None) -> dict | None:
    return None if c is None else {k: v for k, v in vars(c).items() if v}


def partner_to_dict(p: Partner) -> dict:
    """Plain data in the file's own format (also what the store keeps)."""
    return {
        "siret": p.siret, "name": p.name, "caf": p.caf, "administrator": p.administrator,
        "delegates": list(p.delegates),
        "users": [{"identifiant": u.identifiant, "first_name": u.first_name, "last_name": u.last_name,
                   "email": u.email, **({"suspended": True} if u.suspended else {}),
                   **({"locked": True} if u.locked else {})} for u in p.users],
        "equipments": [{"code": e.code, "name": e.name, "type": e.type.value, "sites": list(e.sites),
                        "assignments": {k.value: list(v) for k, v in e.assignments.items()}} for e in p.equipments],
        "conventions": [{
            "number": c.number, "status": c.status.value,
            "history": [{"status": h.status.value, "at": h.at, "actor": h.actor} for h in c.history],
            "contract": {**{k: _contact(getattr(c.contract, k)) for k in ServiceContract.__dataclass_fields__
                            if k != "incident_procedure" and getattr(c.contract, k)},
                         "incident_procedure": c.contract.incident_procedure},
            "bulletins": [{"service": b.service.value, "members": [
                {"identifiant": m.identifiant, "groups": sorted(g.value for g in m.groups),
                 "profiles": sorted(x.value for x in m.profiles), **({"suspended": True} if m.suspended else {})}
                for m in b.members]} for b in c.bulletins],
            "suspended_services": sorted(s.value for s in c.suspended_services),
        } for c in p.conventions],
    }


def _stored(read: str, d: dict):
    """A document the store wrote: any fault is a bug, not a user's mistake."""
    r = _Reader()
    obj = getattr(r, read)(d, "")
    if r.violations:
        raise ValueError(f"stored {read} document is malformed: {r.violations}")
    return obj


def partner_from_dict(d: dict) -> Partner:
    return _stored("partner", d)


def caf_from_dict(d: dict) -> Caf:
    return _stored("caf", d)


def load_file(path: str, today: date) -> Registry:
    with open(path, "rb") as f:
        return load(f.read(MAX_BYTES + 1), today)
