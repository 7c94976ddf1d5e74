"""The desired-state YAML file a Caf keeps in git (format documented in docs/provisioning.md and in
examples/desired-state.yaml). Parsing keeps each node's line so every fault points at its line."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date
from typing import Any

import yaml

from provisioning import file_format
from provisioning.domain.model import (
    Caf,
    Contact,
    Partner,
    Registry,
    ServiceContract,
    Settings,
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


def _scope(raw: Any) -> tuple[FileScope | None, list[Violation]]:
    if raw is None:
        return None, [Violation("PERIMETRE_MANQUANT", "Le fichier doit déclarer son périmètre : « scope: {cafs: "
                                "[\"751\"]} », « scope: {partners: [\"SIRET\"]} » ou, pour un opérateur national, "
                                "« scope: all ».", "scope")]
    if raw == "all":
        return FileScope(everything=True), []
    if not isinstance(raw, dict) or len(raw) != 1 or next(iter(raw)) not in ("cafs", "partners"):
        return None, [Violation("PERIMETRE_INVALIDE", "« scope » vaut « all », ou un objet avec une seule clé : "
                                "« cafs » ou « partners » (une liste non vide).", "scope")]
    key, values = next(iter(raw.items()))
    if not isinstance(values, list) or not values:
        return None, [Violation("PERIMETRE_INVALIDE", f"« scope.{key} » doit être une liste non vide.",
                                f"scope.{key}")]
    items = frozenset(str(v) for v in values)
    return (FileScope(cafs=items) if key == "cafs" else FileScope(partners=items)), []


def _outside(scope: FileScope, data: dict[str, Any], raw_cafs: list[Any], cafs: list[tuple[int, Caf]],
             partners: list[tuple[int, Partner]]) -> list[Violation]:
    """Everything the file describes lies inside its scope; a Caf scope describes each of its Cafs."""
    out = []
    if not scope.everything and "settings" in data:
        out.append(Violation("HORS_PERIMETRE", "Les réglages nationaux (« settings ») ne figurent que dans un fichier "
                             "« scope: all ».", "settings"))
    for i, c in cafs:
        if not scope.covers_caf(c.code):
            out.append(Violation("HORS_PERIMETRE", f"La Caf « {c.code} » est hors du périmètre du fichier "
                                 f"({scope.describe()}).", f"cafs[{i}].code"))
    described = {str(c.get("code")) for c in raw_cafs if isinstance(c, dict)}
    for code in sorted(scope.cafs - described):
        out.append(Violation("PERIMETRE_CAF_ABSENTE", f"La Caf « {code} » du périmètre doit être décrite sous "
                             "« cafs ».", "scope.cafs"))
    for i, p in partners:  # those refused by the schema too, from what they say of themselves
        if p.siret and not scope.covers_partner(p):
            out.append(Violation("HORS_PERIMETRE", f"Le partenaire {p.siret} est hors du périmètre du fichier "
                                 f"({scope.describe()}).", f"partners[{i}].siret"))
    return out


def _text(v: Any) -> str:
    return str(v) if isinstance(v, (str, int)) and not isinstance(v, bool) else ""


def _listed(data: dict[str, Any], key: str) -> tuple[list[Any], list[Violation]]:
    v = data.get(key)
    if v is None:
        return [], []
    if not isinstance(v, list):
        return [], [Violation("SCHEMA_TYPE", f"« {key} » doit être une liste.", key)]
    return v, []


def _read(data: Any) -> tuple[Registry, list[Violation], dict[str, str]]:
    """The registry a file describes, the faults of its shape, and where each object read sits in the file
    (`partners[0]` of the registry may be `partners[3]` of a file whose first three partners were refused)."""
    if not isinstance(data, dict):
        return Registry(), [Violation("SCHEMA_TYPE", "Le fichier doit décrire un objet (version, scope, cafs, "
                                      "partners).", "")], {}
    faults = [Violation("SCHEMA_CHAMP_INCONNU", f"Le champ « {k} » est inconnu.", str(k)) for k in data
              if k not in ("version", "scope", "settings", "cafs", "partners")]
    if data.get("version") != FORMAT_VERSION:
        faults.append(Violation("SCHEMA_VERSION", f"« version: {FORMAT_VERSION} » est attendu.", "version"))
    scope, refused = _scope(data.get("scope"))
    settings = Settings()
    found, more = file_format.read(file_format.SettingsIn, data.get("settings") or {}, "settings")
    faults += refused + more
    if found is not None and found.afas_habiliter_opening is not None:
        settings.afas_habiliter_opening = found.afas_habiliter_opening
    raw_cafs, more = _listed(data, "cafs")
    faults += more
    raw_partners, more = _listed(data, "partners")
    faults += more
    cafs: list[tuple[int, Caf]] = []
    for i, raw in enumerate(raw_cafs):
        caf, more = file_format.read(file_format.CafIn, raw, f"cafs[{i}]")
        faults += more
        if caf is not None:
            cafs.append((i, caf.domain()))

    partners: list[tuple[int, Partner]] = []
    half_read: list[tuple[int, Partner]] = []  # refused by the schema: only where it belongs is checked
    for i, raw in enumerate(raw_partners):
        partner, more = file_format.read(file_format.PartnerIn, raw, f"partners[{i}]")
        faults += more
        if partner is not None:
            partners.append((i, partner.domain()))
        elif isinstance(raw, dict):
            half_read.append((i, Partner(_text(raw.get("siret")), "", _text(raw.get("caf")))))
    reg = Registry([c for _, c in cafs], [p for _, p in partners], settings, scope)
    if scope is not None:
        faults += _outside(scope, data, raw_cafs, cafs, sorted(partners + half_read, key=lambda x: x[0]))
    where = {f"cafs[{n}]": f"cafs[{i}]" for n, (i, _) in enumerate(cafs)}
    where |= {f"partners[{n}]": f"partners[{i}]" for n, (i, _) in enumerate(partners)}
    return reg, faults, where


def _caf_unread(v: Violation, reg: Registry, data: Any) -> bool:
    """A partner's Caf that the file describes, but in a shape refused: not « unknown » (its fault is listed)."""
    m = re.match(r"^partners\[(\d+)\]", v.path)
    cafs = data.get("cafs") if isinstance(data, dict) else None
    if m is None or not isinstance(cafs, list):
        return False
    code = reg.partners[int(m.group(1))].caf
    return any(isinstance(c, dict) and str(c.get("code")) == code for c in cafs)


_PLACE = re.compile(r"^(cafs|partners)\[\d+\]")


def _in_file(v: Violation, where: dict[str, str]) -> Violation:
    """A rule's fault about the registry's n-th partner, at that partner's place in the file."""
    m = _PLACE.match(v.path)
    return replace(v, path=where[m.group(0)] + v.path[m.end():]) if m and m.group(0) in where else v


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
    reg, faults, where = _read(data)
    # schema faults first; rule faults too, except under a place the schema already refused
    broken = [v.path for v in faults]
    # a file limited to named partners does not describe their Caf: the store holds it (checked at plan time)
    own_cafs = reg.scope is None or not reg.scope.partners
    violations = faults + [v for v in (_in_file(r, where) for r in validate(reg, today)
                                       if r.code != "CAF_INCONNUE" or own_cafs and not _caf_unread(r, reg, data))
                           if not any(v.path.startswith(b) for b in broken if b)]
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
        **({"representative": p.representative} if p.representative else {}),
        "delegates": list(p.delegates),
        "users": [{"identifiant": u.identifiant, "first_name": u.first_name, "last_name": u.last_name,
                   "email": u.email, **({"suspended": True} if u.suspended else {}),
                   **({"suspended_by": u.suspended_by} if u.suspended and u.suspended_by else {}),
                   **({"locked": True} if u.locked else {})} for u in p.users],
        "equipments": [{"code": e.code, "name": e.name, "type": e.type.value, "sites": list(e.sites),
                        "assignments": {k.value: list(v) for k, v in e.assignments.items()},
                        **({"sites_of": {i: list(s) for i, s in e.sites_of.items()}} if e.sites_of else {})}
                       for e in p.equipments],
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


def partner_from_dict(d: dict) -> Partner:
    """A partner in the file's format that must be right (any fault is a bug, not a person's mistake)."""
    found, faults = file_format.read(file_format.PartnerIn, d, "")
    if found is None or faults:
        raise ValueError(f"malformed partner document: {faults}")
    return found.domain()


def caf_from_dict(d: dict) -> Caf:
    found, faults = file_format.read(file_format.CafIn, d, "")
    if found is None or faults:
        raise ValueError(f"malformed Caf document: {faults}")
    return found.domain()


def load_file(path: str, today: date) -> Registry:
    with open(path, "rb") as f:
        return load(f.read(MAX_BYTES + 1), today)
