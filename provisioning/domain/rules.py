"""Habilitation rules. Each rule is a named function returning every violation it finds (stable code,
French message, path in the registry); `validate` runs them all so a request is refused whole."""

from __future__ import annotations

import functools
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime

from provisioning.domain import catalogue
from provisioning.domain.catalogue import ProfileDef
from provisioning.domain.model import (
    TRANSITIONS,
    Bulletin,
    Caf,
    Convention,
    ConventionStatus,
    Equipment,
    Member,
    Partner,
    Profile,
    Registry,
    Service,
    StatusChange,
    User,
)
from provisioning.errors import Violation


def profile_label(prof: str) -> str:
    spec = catalogue.current().profile(prof)
    return spec.label if spec else prof


# --- formats (issue 10: every pattern a full match on ASCII classes; bounds everywhere) -------------

IDENTIFIANT_RE = re.compile(r"[a-z0-9][a-z0-9._-]{2,63}", re.ASCII)
SIRET_RE = re.compile(r"[0-9]{14}", re.ASCII)
CONVENTION_RE = re.compile(r"[A-Z0-9][A-Z0-9-]{2,39}", re.ASCII)   # e.g. CONV-751-2026-0001
CAF_CODE_RE = re.compile(r"[0-9A-Z]{2,8}", re.ASCII)               # e.g. 751, 2A
EQUIPMENT_RE = re.compile(r"[A-Z0-9][A-Z0-9-]{0,31}", re.ASCII)    # e.g. ALSH-0001
EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
SITES_MAX = 20
CONTRACT_FIELD_LABELS = {
    "partner_administrator": "l'administrateur du partenaire",
    "partner_security_officer": "le responsable sécurité du partenaire",
    "partner_cnil_referent": "le référent Cnil du partenaire",
    "caf_administrator": "l'administrateur de la Caf",
    "caf_portal_manager": "le responsable « Mon compte partenaire » de la Caf",
    "caf_security_officer": "le responsable sécurité de la Caf",
    "caf_cnil_referent": "le référent Cnil de la Caf",
    "incident_procedure": "la procédure d'incident",
}
PHONE_RE = re.compile(r"[0-9 +().-]{1,30}", re.ASCII)
LA_POSTE_SIREN = "356000000"  # its establishments' SIRET: sum of the 14 digits a multiple of 5 (INSEE)

NAME_MAX, LABEL_MAX, TEXT_MAX, PHONE_MAX = 100, 200, 4000, 30
EMAIL_MAX, EMAIL_LOCAL_MAX, EMAIL_DOMAIN_MAX = 254, 64, 253  # RFC 5321 (path 256 less the brackets)
# Keycloak's person-name validator (person-name-prohibited-characters, 26.x): these and control characters.
PERSON_NAME_FORBIDDEN = set('<>&"$%!#?§;*~/\\|^=[]{}()')
VERTICAL_SPACE = set("\n\x0b\x0c\r\x85\u2028\u2029")


def _control(text: str) -> bool:
    return any(unicodedata.category(c) == "Cc" or c in VERTICAL_SPACE for c in text)


def _invisible(text: str) -> list[str]:
    """Format characters (Unicode category Cf): zero-width spaces and joiners, bidirectional overrides, soft
    hyphens… They make two names that look alike differ, or a name read backwards (issue 25)."""
    return sorted({f"U+{ord(c):04X}" for c in text if unicodedata.category(c) == "Cf"})


def siret_is_valid(siret: str) -> bool:
    """14 ASCII digits with a valid key: Luhn, or for La Poste (SIREN 356000000) a digit sum multiple of 5."""
    if not SIRET_RE.fullmatch(siret or ""):
        return False
    digits = [int(c) for c in siret]
    if siret.startswith(LA_POSTE_SIREN):
        return sum(digits) % 5 == 0
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def siret_with_key(first13: str) -> str:
    """The SIRET whose first 13 digits are these (synthetic data, tests and benchmarks)."""
    return next(first13 + k for k in "0123456789" if siret_is_valid(first13 + k))


def person_name_faults(value: str, label: str, path: str) -> list[Violation]:
    """What Keycloak's user profile would refuse, refused first, so a stored name is always accepted."""
    if not value or not value.strip():
        return [Violation("NOM_VIDE", f"Le {label} est obligatoire.", path)]
    if len(value) > NAME_MAX:
        return [Violation("NOM_TROP_LONG", f"Le {label} dépasse {NAME_MAX} caractères.", path)]
    if hidden := _invisible(value):
        return [Violation("NOM_CARACTERE_INVISIBLE", f"Le {label} contient un caractère invisible ou de mise en "
                          f"forme ({', '.join(hidden)}) : retapez-le sans copier-coller.", path)]
    bad = sorted({c for c in value if c in PERSON_NAME_FORBIDDEN})
    if bad or _control(value):
        shown = " ".join(bad) if bad else "caractère de contrôle"
        return [Violation("NOM_CARACTERE_INTERDIT", f"Le {label} contient un caractère interdit ({shown}) : "
                          "lettres, espaces, apostrophes, points et tirets seulement.", path)]
    return []


def text_faults(value: str, label: str, path: str, limit: int = LABEL_MAX, required: bool = True) -> list[Violation]:
    if not value or not value.strip():
        return [Violation("TEXTE_VIDE", f"« {label} » est obligatoire.", path)] if required else []
    if len(value) > limit:
        return [Violation("TEXTE_TROP_LONG", f"« {label} » dépasse {limit} caractères.", path)]
    if hidden := _invisible(value):
        return [Violation("TEXTE_CARACTERE_INVISIBLE", f"« {label} » contient un caractère invisible ou de mise en "
                          f"forme ({', '.join(hidden)}) : retapez-le sans copier-coller.", path)]
    allowed_breaks = {"\n", "\r"} if limit >= TEXT_MAX else set()
    if any((unicodedata.category(c) == "Cc" or c in VERTICAL_SPACE) and c not in allowed_breaks for c in value):
        return [Violation("TEXTE_CARACTERE_INTERDIT", f"« {label} » contient un caractère de contrôle.", path)]
    return []


def email_faults(email: str, path: str, what: str = "L'adresse de courriel") -> list[Violation]:
    local, _, domain = (email or "").rpartition("@")
    if (not EMAIL_RE.fullmatch(email or "") or _control(email) or len(email) > EMAIL_MAX
            or len(local) > EMAIL_LOCAL_MAX or len(domain) > EMAIL_DOMAIN_MAX):
        return [Violation("COURRIEL_INVALIDE", f"{what} « {(email or '')[:EMAIL_MAX]} » n'est pas valide "
                          f"(au plus {EMAIL_MAX} caractères, {EMAIL_LOCAL_MAX} avant @).", path)]
    return []


Rule = Callable[[Registry, date], Iterator[Violation]]


def _p(i: int, *rest: str) -> str:
    return ".".join([f"partners[{i}]", *rest])


def people(reg: Registry, fine: Callable[[User], bool] | None = None) -> Iterator[tuple[str, str, str]]:
    """(identifiant, email, path) of every partner user and Caf administrator; `fine`: partner users it says
    yes to are left out."""
    for ident, email, where in _people(reg, fine):
        yield ident, email, _path(where)


def _people(reg: Registry, fine: Callable[[User], bool] | None = None) -> Iterator[tuple[str, str, tuple[int, int, bool]]]:
    """The same with where each one stands as numbers: a path is text built only for the faults (issue 27:
    building 5,000 paths for every change of one person was a tenth of it)."""
    for ci, caf in enumerate(reg.cafs):
        for ai, a in enumerate(caf.administrators):
            yield a.identifiant, a.email, (ci, ai, True)
    for pi, p in enumerate(reg.partners):
        for ui, u in enumerate(p.users):
            if fine is None or not fine(u):
                yield u.identifiant, u.email, (pi, ui, False)


def _path(where: tuple[int, int, bool]) -> str:
    i, j, caf = where
    return f"cafs[{i}].administrators[{j}]" if caf else _p(i, f"users[{j}]")


@functools.lru_cache(maxsize=1 << 16)
def _person_fine(identifiant: str, email: str, first_name: str, last_name: str) -> bool:
    """Whether a person's four fields pass every format check: a pure function of the values, remembered, so
    that a change to one person of a 5,000-person partner checks that person, not the 4,999 others again
    (issue 27: checking every name was 60 % of such a change). The faults themselves, with their paths, are
    built only for a person who is not fine."""
    return (bool(IDENTIFIANT_RE.fullmatch(identifiant or "")) and not email_faults(email, "")
            and not person_name_faults(first_name, "", "") and not person_name_faults(last_name, "", ""))


def formats_are_valid(reg: Registry, today: date) -> Iterator[Violation]:
    """Identifiers are full matches on ASCII classes; names pass Keycloak's user profile; every text is
    bounded. Stored data is therefore always accepted by Keycloak (nothing refused later)."""
    for ident, email, path in people(reg, fine=lambda u: _person_fine(u.identifiant, u.email, u.first_name,
                                                                     u.last_name)):
        if not IDENTIFIANT_RE.fullmatch(ident or ""):
            yield Violation("IDENTIFIANT_INVALIDE", f"L'identifiant « {(ident or '')[:64]} » doit faire 3 à 64 "
                            "caractères parmi minuscules, chiffres, point, tiret et souligné.", path + ".identifiant")
        yield from email_faults(email, path + ".email")
    for ci, caf in enumerate(reg.cafs):
        yield from _caf_formats(caf, f"cafs[{ci}]")
    for pi, p in enumerate(reg.partners):
        yield from _partner_formats(p, pi)


def _caf_formats(caf: Caf, cp: str) -> Iterator[Violation]:
    if not CAF_CODE_RE.fullmatch(caf.code or ""):
        yield Violation("CODE_CAF_INVALIDE", f"Le code de Caf « {(caf.code or '')[:8]} » compte 2 à 8 chiffres "
                        "ou majuscules.", cp + ".code")
    yield from text_faults(caf.name, "nom de la Caf", cp + ".name")
    yield from email_faults(caf.habilitation_mailbox, cp + ".habilitation_mailbox",
                            f"La boîte des habilitations de la Caf {caf.code}")
    for ai, a in enumerate(caf.administrators):
        yield from person_name_faults(a.first_name, "prénom", f"{cp}.administrators[{ai}].first_name")
        yield from person_name_faults(a.last_name, "nom", f"{cp}.administrators[{ai}].last_name")


def _partner_formats(p: Partner, pi: int) -> Iterator[Violation]:
    if not siret_is_valid(p.siret):
        yield Violation("SIRET_INVALIDE", f"Le SIRET « {(p.siret or '')[:14]} » doit compter 14 chiffres et "
                        "une clé de contrôle valide.", _p(pi, "siret"))
    yield from text_faults(p.name, "nom du partenaire", _p(pi, "name"))
    for ui, u in enumerate(p.users):
        if not _person_fine(u.identifiant, u.email, u.first_name, u.last_name):
            yield from person_name_faults(u.first_name, "prénom", _p(pi, f"users[{ui}]", "first_name"))
            yield from person_name_faults(u.last_name, "nom", _p(pi, f"users[{ui}]", "last_name"))
    for ei, e in enumerate(p.equipments):
        yield from _equipment_formats(e, _p(pi, f"equipments[{ei}]"))
    for code, n in Counter(e.code for e in p.equipments).items():
        if n > 1:
            yield Violation("EQUIPEMENT_EN_DOUBLE", f"L'équipement {code} figure {n} fois.", _p(pi, "equipments"))
    for ci, c in enumerate(p.conventions):
        yield from _convention_formats(c, _p(pi, f"conventions[{ci}]"))


def _equipment_formats(e: Equipment, ep: str) -> Iterator[Violation]:
    if not EQUIPMENT_RE.fullmatch(e.code or ""):
        yield Violation("CODE_EQUIPEMENT_INVALIDE", f"Le code d'équipement « {(e.code or '')[:32]} » compte 1 "
                        "à 32 majuscules, chiffres ou tirets.", ep + ".code")
    yield from text_faults(e.name, "nom de l'équipement", ep + ".name")
    if len(e.sites) > SITES_MAX:
        yield Violation("TROP_DE_SITES", f"Un équipement compte au plus {SITES_MAX} sites.", ep + ".sites")
    for si, site in enumerate(e.sites[:SITES_MAX]):
        yield from text_faults(site, "site", f"{ep}.sites[{si}]")
    if len(set(e.sites)) != len(e.sites):
        yield Violation("VALEUR_EN_DOUBLE", f"Le même site figure deux fois pour l'équipement {e.code}.", ep + ".sites")


def _convention_formats(c: Convention, cp: str) -> Iterator[Violation]:
    if not CONVENTION_RE.fullmatch(c.number or ""):
        yield Violation("NUMERO_CONVENTION_INVALIDE", f"Le numéro de convention « {(c.number or '')[:40]} » "
                        "est obligatoire : 3 à 40 majuscules, chiffres ou tirets (ex. CONV-751-2026-0001).",
                        cp + ".number")
    for role, contact in vars(c.contract).items():
        if role == "incident_procedure":
            yield from text_faults(contact, "procédure d'incident", cp + ".contract.incident_procedure",
                                   TEXT_MAX, required=False)
        elif contact is not None:
            where = f"{cp}.contract.{role}"
            yield from text_faults(contact.name, "nom du contact", where + ".name", NAME_MAX)
            if contact.email:
                yield from email_faults(contact.email, where + ".email")
            if contact.phone and not PHONE_RE.fullmatch(contact.phone):
                yield Violation("TELEPHONE_INVALIDE", f"Le téléphone compte au plus {PHONE_MAX} chiffres, "
                                "espaces, points, tirets, parenthèses ou +.", where + ".phone")


def identifiants_and_emails_are_unique(reg: Registry, today: date) -> Iterator[Violation]:
    """A user belongs to exactly one partner: an identifiant may appear only once in the whole registry."""
    seen_id: set[str] = set()
    seen_mail: set[str] = set()
    for ident, email, where in _people(reg):
        if ident in seen_id:
            # a sentence for people: where the first one is stays out of it (the path says where this one is)
            yield Violation("IDENTIFIANT_EN_DOUBLE", f"L'identifiant « {ident} » est déjà utilisé : "
                            "un utilisateur appartient à un seul partenaire.", _path(where) + ".identifiant")
        else:
            seen_id.add(ident)
        key = (email or "").lower()
        if key in seen_mail:
            yield Violation("COURRIEL_EN_DOUBLE", f"L'adresse « {email} » est déjà utilisée par un autre utilisateur.",
                            _path(where) + ".email")
        elif key:
            seen_mail.add(key)
    for what, keys in (("SIRET", [p.siret for p in reg.partners]), ("code Caf", [c.code for c in reg.cafs])):
        for k, n in Counter(keys).items():
            if n > 1:
                yield Violation("DOUBLON", f"Le {what} « {k} » figure {n} fois.", "")
    for pi, p in enumerate(reg.partners):
        for number, n in Counter(c.number for c in p.conventions).items():
            if n > 1:
                yield Violation("CONVENTION_EN_DOUBLE", f"La convention {number} figure {n} fois.", _p(pi, "conventions"))


def references_exist(reg: Registry, today: date) -> Iterator[Violation]:
    """Caf, administrator, delegates, bulletin members and equipment assignees must exist in the partner."""
    for pi, p in enumerate(reg.partners):
        if reg.caf(p.caf) is None:
            yield Violation("CAF_INCONNUE", f"La Caf « {p.caf} » n'existe pas.", _p(pi, "caf"))
        if p.administrator and p.user(p.administrator) is None:
            yield Violation("ADMINISTRATEUR_INCONNU", f"L'administrateur « {p.administrator} » n'est pas un utilisateur "
                            f"de {p.name}.", _p(pi, "administrator"))
        if p.representative and p.user(p.representative) is None:
            yield Violation("REPRESENTANT_INCONNU", f"Le représentant légal « {p.representative} » n'est pas un "
                            f"utilisateur de {p.name}.", _p(pi, "representative"))
        for di, d in enumerate(p.delegates):
            if p.user(d) is None:
                yield Violation("DELEGUE_HORS_PARTENAIRE", f"Le responsable des habilitations « {d} » n'est pas un "
                                f"utilisateur de {p.name} : une délégation reste dans le partenaire qui l'accorde.",
                                _p(pi, f"delegates[{di}]"))
        for ci, c in enumerate(p.conventions):
            for bi, b in enumerate(c.bulletins):
                for mi, m in enumerate(b.members):
                    if p.user(m.identifiant) is None:
                        owner = reg.partner_of(m.identifiant)
                        detail = f" (il appartient à {owner.name})" if owner else ""
                        yield Violation("MEMBRE_HORS_PARTENAIRE", f"« {m.identifiant} » n'est pas un utilisateur de "
                                        f"{p.name}{detail}.",
                                        _p(pi, f"conventions[{ci}]", f"bulletins[{bi}]", f"members[{mi}]", "identifiant"))
        for ei, e in enumerate(p.equipments):
            for prof, idents in e.assignments.items():
                for ident in idents:
                    if p.user(ident) is None:
                        yield Violation("MEMBRE_HORS_PARTENAIRE", f"« {ident} » n'est pas un utilisateur de {p.name}.",
                                        _p(pi, f"equipments[{ei}]", "assignments", prof.value))


def one_bulletin_per_service(reg: Registry, today: date) -> Iterator[Violation]:
    for pi, p in enumerate(reg.partners):
        for ci, c in enumerate(p.conventions):
            for service, n in Counter(b.service for b in c.bulletins).items():
                if n > 1:
                    yield Violation("BULLETIN_EN_DOUBLE", f"La convention {c.number} porte {n} bulletins "
                                    f"d'adhésion {service.value} : un seul par service.", _p(pi, f"conventions[{ci}]", "bulletins"))


def known_to_the_catalogue(reg: Registry, today: date) -> Iterator[Violation]:
    """Services, groups and profiles are the catalogue's (realm-config/services.yaml)."""
    cat = catalogue.current()
    known = ", ".join(cat.codes())
    for pi, p in enumerate(reg.partners):
        for ci, c in enumerate(p.conventions):
            for service in sorted(set(c.suspended_services)):
                if cat.service(service) is None:
                    yield Violation("SERVICE_INCONNU", f"Service « {service} » inconnu (services : {known}).",
                                    _p(pi, f"conventions[{ci}]", "suspended_services"))
            for bi, b in enumerate(c.bulletins):
                if cat.service(b.service) is None:
                    yield Violation("SERVICE_INCONNU", f"Bulletin d'un service inconnu « {b.service} » (services : "
                                    f"{known}).", _p(pi, f"conventions[{ci}]", f"bulletins[{bi}]", "service"))
                for mi, m in enumerate(b.members):
                    yield from _member_known(m, _p(pi, f"conventions[{ci}]", f"bulletins[{bi}]", f"members[{mi}]"),
                                             cat)
        for ei, e in enumerate(p.equipments):
            for prof in sorted(e.assignments):
                if cat.profile(prof) is None:
                    yield Violation("PROFIL_INCONNU", f"Profil « {prof} » inconnu du catalogue des services.",
                                    _p(pi, f"equipments[{ei}]", "assignments", prof))


def groups_and_profiles_fit_the_bulletin(reg: Registry, today: date) -> Iterator[Violation]:
    """R6/R7: groups and profiles belong to the bulletin's service; a profile comes with the group it requires;
    a member of a group some profile requires holds as many profiles as the service says (AFAS: 1 to 3)."""
    cat = catalogue.current()
    for pi, p in enumerate(reg.partners):
        for ci, c in enumerate(p.conventions):
            for bi, b in enumerate(c.bulletins):
                spec = cat.service(b.service)
                if spec is None:
                    continue  # said by known_to_the_catalogue
                for mi, m in enumerate(b.members):
                    yield from _member_fits(m, b, spec, _p(pi, f"conventions[{ci}]", f"bulletins[{bi}]",
                                                           f"members[{mi}]"), cat)


def _member_known(m: Member, path: str, cat: catalogue.Catalogue) -> Iterator[Violation]:
    for g in sorted(m.groups):
        if cat.group(g) is None:
            yield Violation("GROUPE_INCONNU", f"Groupe « {g} » inconnu du catalogue des services.", path + ".groups")
    for prof in sorted(m.profiles):
        if cat.profile(prof) is None:
            yield Violation("PROFIL_INCONNU", f"Profil « {prof} » inconnu du catalogue des services.",
                            path + ".profiles")


def _member_fits(m: Member, b: Bulletin, spec: catalogue.ServiceDef, path: str,
                 cat: catalogue.Catalogue) -> Iterator[Violation]:
    requiring = {prof.requires for prof in spec.profiles}
    for g in sorted(m.groups):
        if (owner := cat.service_of_group(g)) is not None and owner.code != spec.code:
            yield Violation("GROUPE_HORS_SERVICE", f"Le groupe « {g.value} » n'appartient pas au "
                            f"service {b.service.value}.", path + ".groups")
    if not m.groups:
        yield Violation("MEMBRE_SANS_GROUPE", f"« {m.identifiant} » figure au bulletin {b.service.value} "
                        "sans groupe.", path + ".groups")
    foreign = sorted(x for x in m.profiles if spec.profile(x) is None and cat.profile(x) is not None)
    if foreign:
        yield Violation("PROFIL_HORS_SERVICE", f"Le(s) profil(s) {', '.join(foreign)} ne s'attribuent "
                        f"pas sur le bulletin {spec.code}.", path + ".profiles")
    own = [x for x in m.profiles if spec.profile(x) is not None]
    for x in sorted(own):
        needed = spec.profile(x).requires  # type: ignore[union-attr]
        if needed not in m.groups:
            yield Violation(spec.profile_without_group_code, f"« {m.identifiant} » a le profil "
                            f"{profile_label(x)} sans appartenir au groupe « {needed} ».",
                            path + ".profiles")
            break
    if requiring & m.groups and not spec.profiles_min <= len(own) <= spec.profiles_max:
        yield Violation(spec.profile_count_code, f"« {m.identifiant} » détient {len(own)} profil(s) "
                        f"{spec.code} : une personne en détient de {spec.profiles_min} à "
                        f"{spec.profiles_max}.", path + ".profiles")


def _cap_violations(counts: dict[Profile, list[str]], where: str, path: str,
                    profiles: Iterable[ProfileDef]) -> Iterator[Violation]:
    for prof in profiles:
        holders = counts.get(Profile(prof.code), [])
        if prof.cap is not None and len(holders) > prof.cap:
            people = "personne" if prof.cap == 1 else "personnes"
            yield Violation(prof.cap_code, f"{where} : le profil {prof.label} est attribué à "
                            f"{len(holders)} personnes ({', '.join(holders)}) ; il ne peut l'être qu'à {prof.cap} "
                            f"{people} au plus.", path)


def holds_a_slot(m: Member) -> bool:
    """R8's count: a grant a review suspended holds no slot (a successor may take it). Every entry point (API,
    file, CSV import, consoles) counts through this and `profile_holders`."""
    return not m.suspended


def profile_holders(b: Bulletin) -> dict[Profile, list[str]]:
    counts: dict[Profile, list[str]] = defaultdict(list)
    for m in b.members:
        if holds_a_slot(m):
            for prof in m.profiles:
                counts[prof].append(m.identifiant)
    return counts


def cap_of(prof: str) -> int | None:
    spec = catalogue.current().profile(prof)
    return spec.cap if spec else None


def profile_caps(reg: Registry, today: date) -> Iterator[Violation]:
    """R8: at most `cap` holders of a profile per bulletin of its service and per equipment (AFAS: 2 activity
    providers, 2 financial providers and 1 approver)."""
    cat = catalogue.current()
    for pi, p in enumerate(reg.partners):
        for ci, c in enumerate(p.conventions):
            for bi, b in enumerate(c.bulletins):
                spec = cat.service(b.service)
                if spec is None or not spec.profiles:
                    continue
                yield from _cap_violations(profile_holders(b), f"Bulletin {spec.code} de la convention {c.number}",
                                           _p(pi, f"conventions[{ci}]", f"bulletins[{bi}]", "members"), spec.profiles)
        for ei, e in enumerate(p.equipments):
            yield from _cap_violations(dict(e.assignments), f"Équipement {e.code}",
                                       _p(pi, f"equipments[{ei}]", "assignments"),
                                       [prof for _, prof in cat.profiles()])


def equipment_assignments_follow_profiles(reg: Registry, today: date) -> Iterator[Violation]:
    """An equipment's type is one its service declares (AFAS: only ALSH, R2); an assignee must hold that profile
    on a bulletin of the profile's service."""
    cat = catalogue.current()
    for pi, p in enumerate(reg.partners):
        held: dict[str, set[Profile]] = defaultdict(set)
        for c in p.conventions:
            for b in c.bulletins:
                for m in b.members:
                    held[m.identifiant] |= {x for x in m.profiles if (o := cat.service_of_profile(x)) and o.code == b.service}
        for ei, e in enumerate(p.equipments):
            path = _p(pi, f"equipments[{ei}]", "assignments")
            for code in sorted({o.code for x in e.assignments if (o := cat.service_of_profile(x))}):
                spec = cat.service(code)
                if spec is not None and e.type.value not in spec.equipment_types:
                    kinds = ", ".join(sorted(spec.equipment_types)) or "aucun"
                    yield Violation(spec.equipment_type_code, f"L'équipement {e.code} est de type {e.type.value} : "
                                    f"seuls les équipements de type {kinds} déclarent dans {spec.code}.", path)
            for prof, idents in e.assignments.items():
                owner = cat.service_of_profile(prof)
                for ident in idents:
                    if p.user(ident) and owner and prof not in held[ident]:
                        yield Violation("ASSOCIATION_SANS_PROFIL", f"« {ident} » est associé à {e.code} comme "
                                        f"{profile_label(prof)} sans détenir ce profil au bulletin {owner.code}.", path)


def equipment_sites_are_its_own(reg: Registry, today: date) -> Iterator[Violation]:
    """Issue 29 §3: a person associated for some sites only is associated to the equipment, and those sites are
    the equipment's (a site renamed or removed by the Caf while someone works there is refused, saying who)."""
    for pi, p in enumerate(reg.partners):
        for ei, e in enumerate(p.equipments):
            if not e.sites_of:
                continue
            associated, known = e.associated, set(e.sites)
            for ident in sorted(e.sites_of):
                path = _p(pi, f"equipments[{ei}]", "sites_of", ident)
                if ident not in associated:
                    yield Violation("LIEU_SANS_ASSOCIATION", f"« {ident} » n'est pas associé à l'équipement "
                                    f"{e.code} : associez-le avant de choisir ses lieux.", path)
                for site in e.sites_of[ident]:
                    if site not in known:
                        yield Violation("LIEU_INCONNU", f"L'équipement {e.code} n'a pas de lieu « {site} » "
                                        f"(lieu de {ident}) : ses lieux sont " + (", ".join(f"« {s} »" for s in e.sites)
                                                                                   or "à déclarer par la Caf") + ".",
                                        path)


def _closed_groups(reg: Registry, today: date) -> dict[str, tuple[catalogue.GroupDef, date]]:
    closed = {}
    for _, g in catalogue.current().groups():
        day = getattr(reg.settings, g.opening_setting) if g.opening_setting else g.opens_on
        if day is not None and today < day:
            closed[g.name] = (g, day)
    return closed


def groups_only_from_their_opening(reg: Registry, today: date) -> Iterator[Violation]:
    """R10: a group with an opening day (AFAS Habiliter: the registry's setting) is granted only from that day."""
    closed = _closed_groups(reg, today)
    if not closed:
        return
    for pi, p in enumerate(reg.partners):
        for ci, c in enumerate(p.conventions):
            for bi, b in enumerate(c.bulletins):
                for mi, m in enumerate(b.members):
                    for name in sorted(m.groups & closed.keys()):
                        g, day = closed[name]
                        yield Violation(g.not_open_code, f"Le groupe « {name} » ne pourra être "
                                        f"créé qu'à partir du {day:%d/%m/%Y}.",
                                        _p(pi, f"conventions[{ci}]", f"bulletins[{bi}]", f"members[{mi}]", "groups"))


RULES: tuple[Rule, ...] = (
    formats_are_valid,
    identifiants_and_emails_are_unique,
    references_exist,
    one_bulletin_per_service,
    known_to_the_catalogue,
    groups_and_profiles_fit_the_bulletin,
    profile_caps,
    equipment_assignments_follow_profiles,
    equipment_sites_are_its_own,
    groups_only_from_their_opening,
)


def validate(reg: Registry, today: date, focus: Focus | None = None) -> list[Violation]:
    """Every violation of every rule, in a stable order; with `focus`, those of what a change to the one
    partner of `reg` touched (the same rules, checked for those people and grants only)."""
    if focus is not None:
        return list(_focused(reg, reg.partners[0], today, focus))
    return [v for rule in RULES for v in rule(reg, today)]


@dataclass(frozen=True)
class Focus:
    """A change to one partner's people and grants, its header unchanged (domain/delta.py), and what the store
    answered about the rest (issue 27: the rules checked 5,000 people for a change to one). The stored partner
    passed every rule; a change can break one only through what it touched:
    - `users`: people changed or added, identifiant → their index; `removed`: people gone;
    - `members`: grants changed or added, (convention, service, identifiant) → their index in the bulletin;
    - `people`: everyone whose grants changed (added, changed or removed);
    - `taken_ids`, `taken_emails` (lower case): which of the `users`' someone else holds — another of the
      partner's people, another partner's, a Caf administrator;
    - `known`: which of the `people` are the partner's people after the change."""
    users: dict[str, int]
    removed: frozenset[str]
    members: dict[tuple[str, str, str], int]
    people: frozenset[str]
    taken_ids: frozenset[str]
    taken_emails: frozenset[str]
    known: frozenset[str]


def _focused(reg: Registry, p: Partner, today: date, f: Focus) -> Iterator[Violation]:
    bulletins = {(c.number, b.service.value): (ci, bi, c, b) for ci, c in enumerate(p.conventions)
                 for bi, b in enumerate(c.bulletins)}
    yield from _focused_people(p, f)
    yield from _focused_removed(p, f, bulletins)
    yield from _focused_grants(reg, p, today, f, bulletins)
    yield from _focused_associations(p, f)


_Bulletins = dict[tuple[str, str], tuple[int, int, Convention, Bulletin]]


def _focused_people(p: Partner, f: Focus) -> Iterator[Violation]:
    pi = 0
    seen_ids: set[str] = set()
    seen_mails: set[str] = set()
    for ident, ui in sorted(f.users.items(), key=lambda x: x[1]):
        u, path = p.users[ui], _p(pi, f"users[{ui}]")
        if not _person_fine(u.identifiant, u.email, u.first_name, u.last_name):
            if not IDENTIFIANT_RE.fullmatch(ident or ""):
                yield Violation("IDENTIFIANT_INVALIDE", f"L'identifiant « {(ident or '')[:64]} » doit faire 3 à 64 "
                                "caractères parmi minuscules, chiffres, point, tiret et souligné.", path + ".identifiant")
            yield from email_faults(u.email, path + ".email")
            yield from person_name_faults(u.first_name, "prénom", path + ".first_name")
            yield from person_name_faults(u.last_name, "nom", path + ".last_name")
        if ident in f.taken_ids or ident in seen_ids:
            yield Violation("IDENTIFIANT_EN_DOUBLE", f"L'identifiant « {ident} » est déjà utilisé : "
                            "un utilisateur appartient à un seul partenaire.", path + ".identifiant")
        seen_ids.add(ident)
        key = (u.email or "").lower()
        if key and (key in f.taken_emails or key in seen_mails):
            yield Violation("COURRIEL_EN_DOUBLE", f"L'adresse « {u.email} » est déjà utilisée par un autre "
                            "utilisateur.", path + ".email")
        seen_mails.add(key)


def _focused_removed(p: Partner, f: Focus, bulletins: _Bulletins) -> Iterator[Violation]:
    pi = 0
    for ident in sorted(f.removed):  # someone gone, still named somewhere
        if p.administrator == ident:
            yield Violation("ADMINISTRATEUR_INCONNU", f"L'administrateur « {ident} » n'est pas un utilisateur "
                            f"de {p.name}.", _p(pi, "administrator"))
        if p.representative == ident:
            yield Violation("REPRESENTANT_INCONNU", f"Le représentant légal « {ident} » n'est pas un "
                            f"utilisateur de {p.name}.", _p(pi, "representative"))
        for di, d in enumerate(p.delegates):
            if d == ident:
                yield Violation("DELEGUE_HORS_PARTENAIRE", f"Le responsable des habilitations « {d} » n'est pas un "
                                f"utilisateur de {p.name} : une délégation reste dans le partenaire qui l'accorde.",
                                _p(pi, f"delegates[{di}]"))
        for ci, bi, _c, b in bulletins.values():
            for mi, m in enumerate(b.members):
                if m.identifiant == ident:
                    yield Violation("MEMBRE_HORS_PARTENAIRE", f"« {ident} » n'est pas un utilisateur de {p.name}.",
                                    _p(pi, f"conventions[{ci}]", f"bulletins[{bi}]", f"members[{mi}]", "identifiant"))
        for ei, e in enumerate(p.equipments):
            for prof, idents in e.assignments.items():
                if ident in idents:
                    yield Violation("MEMBRE_HORS_PARTENAIRE", f"« {ident} » n'est pas un utilisateur de {p.name}.",
                                    _p(pi, f"equipments[{ei}]", "assignments", prof.value))


def _focused_grants(reg: Registry, p: Partner, today: date, f: Focus, bulletins: _Bulletins) -> Iterator[Violation]:
    pi, cat = 0, catalogue.current()
    capped: set[tuple[str, str]] = set()
    opening = _closed_groups(reg, today)
    for (number, service, ident), mi in sorted(f.members.items(), key=lambda x: (x[0][:2], x[1])):
        ci, bi, c, b = bulletins[(number, service)]
        m, path = b.members[mi], _p(pi, f"conventions[{ci}]", f"bulletins[{bi}]", f"members[{mi}]")
        if ident not in f.known:
            owner = reg.partner_of(ident)
            detail = f" (il appartient à {owner.name})" if owner and owner is not p else ""
            yield Violation("MEMBRE_HORS_PARTENAIRE", f"« {ident} » n'est pas un utilisateur de {p.name}{detail}.",
                            path + ".identifiant")
        yield from _member_known(m, path, cat)
        spec = cat.service(b.service)
        if spec is not None:
            yield from _member_fits(m, b, spec, path, cat)
            if m.profiles and any(x.cap is not None for x in spec.profiles):
                capped.add((number, service))
        for name in sorted(m.groups & opening.keys()):
            g, day = opening[name]
            yield Violation(g.not_open_code, f"Le groupe « {name} » ne pourra être créé qu'à partir du "
                            f"{day:%d/%m/%Y}.", path + ".groups")
    for number, service in sorted(capped):
        ci, bi, c, b = bulletins[(number, service)]
        spec = cat.service(b.service)
        assert spec is not None
        yield from _cap_violations(profile_holders(b), f"Bulletin {spec.code} de la convention {c.number}",
                                   _p(pi, f"conventions[{ci}]", f"bulletins[{bi}]", "members"), spec.profiles)


def _focused_associations(p: Partner, f: Focus) -> Iterator[Violation]:
    """An association follows its holder's profiles."""
    pi, cat = 0, catalogue.current()
    if p.equipments:
        for ident in sorted(f.people - f.removed):
            if ident not in f.known:
                continue
            held = {x for c in p.conventions for b in c.bulletins if (m := b.member(ident))
                    for x in m.profiles if (o := cat.service_of_profile(x)) and o.code == b.service}
            for ei, e in enumerate(p.equipments):
                for prof, idents in e.assignments.items():
                    owner = cat.service_of_profile(prof)
                    if ident in idents and owner and prof not in held:
                        yield Violation("ASSOCIATION_SANS_PROFIL", f"« {ident} » est associé à {e.code} comme "
                                        f"{profile_label(prof)} sans détenir ce profil au bulletin {owner.code}.",
                                        _p(pi, f"equipments[{ei}]", "assignments"))


# --- rules applied to a single request ------------------------------------------------------------

def service_is_convened(partner: Partner, service: Service, convention: Convention | None = None) -> list[Violation]:
    """A service is granted only under an active convention holding a bulletin for that service."""
    convs = [convention] if convention else partner.conventions
    if any(c.grants(service) for c in convs):
        return []
    return [Violation("SERVICE_NON_CONVENTIONNE", f"{partner.name} n'a pas de convention active comportant un bulletin "
                      f"d'adhésion {service.value} : ce service ne peut pas être attribué.")]


def transition(conv: Convention, to: ConventionStatus, actor: str, at: datetime) -> list[Violation]:
    """Move a convention along its lifecycle, dated with its actor; an illegal move changes nothing."""
    if to not in TRANSITIONS[conv.status]:
        allowed = ", ".join(sorted(s.value for s in TRANSITIONS[conv.status])) or "aucune"
        return [Violation("TRANSITION_INTERDITE", f"La convention {conv.number} est « {conv.status.value} » : "
                          f"elle ne peut pas passer à « {to.value} » (possibles : {allowed}).")]
    if to is ConventionStatus.SIGNED_BY_PARTNER and (missing := conv.contract.missing()):
        # R4: the contrat de service is signed with both sides' contacts and the incident procedure
        return [Violation("CONTRAT_INCOMPLET", f"Le contrat de service de la convention {conv.number} ne peut pas "
                          f"être signé : il manque {', '.join(CONTRACT_FIELD_LABELS[m] for m in missing)}.",
                          "contract")]
    conv.status = to
    conv.history.append(StatusChange(to, at, actor))
    return []
