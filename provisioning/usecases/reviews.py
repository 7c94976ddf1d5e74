"""Access reviews (issue 16): a Caf opens a campaign, its partners' managers confirm or withdraw each grant,
reminders go before the deadline, and at the deadline every grant nobody confirmed is suspended (kept, giving
nothing), its holder told, the Caf told (R9), the sessions ended by the reconcile that follows. The rules are in
domain/reviews.py; here they meet the store, the mails and Keycloak's last logins."""

from __future__ import annotations

import csv
import io
import logging
import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from provisioning.domain import reviews as rv
from provisioning.domain.model import Partner, User
from provisioning.domain.states import ReviewState
from provisioning.errors import Forbidden, NotFound, ProvisioningError, ValidationFailed, Violation
from provisioning.notify import messages
from provisioning.store.uow import ReviewCampaignRow
from provisioning.usecases.base import (
    CAF_ADMIN,
    DELEGATE,
    PARTNER_ADMIN,
    Actor,
    _check_hierarchy,
    _unknown_or_forbidden,
)
from provisioning.usecases.commands import DecideReview, OnPartner, OpenReview

if TYPE_CHECKING:
    from provisioning.services import Provisioning as App

log = logging.getLogger(__name__)
REVIEW_JOB = Actor("job:revue-habilitations", system=True)
LAST_LOGIN_WINDOW = timedelta(days=400)
PARIS = ZoneInfo("Europe/Paris")  # last connections shown beside each person: the year under review


def _what(it: rv.Item) -> str:
    held = ", ".join(sorted(g.value for g in it.groups))
    profiles = f" ; profils {', '.join(sorted(x.value for x in it.profiles))}" if it.profiles else ""
    return f"{it.service.value} ({held}{profiles}) au titre de la convention {it.convention}"


def _state(s: ReviewState) -> dict[str, str]:
    return {"state": s.value, "state_label": s.label}


def _summary(row: ReviewCampaignRow, decisions: list[rv.Decision], now: datetime) -> dict[str, Any]:
    c = row.campaign
    per = rv.progress(row.items, decisions)
    return {"id": c.id, "caf": c.caf, "opened_by": c.opened_by, "opened_at": c.opened_at, "deadline": c.deadline,
            "partners": sorted(c.partners) if c.partners is not None else None,
            **_state(ReviewState.CLOSED if row.closed_at else ReviewState.OPEN if c.open_at(now) else ReviewState.DUE),
            "closed_at": row.closed_at, "total": len(row.items),
            "progress": {siret: {"total": p.total, "confirmed": p.confirmed, "revoked": p.revoked,
                                 "pending": len(p.pending)} for siret, p in sorted(per.items())}}


# --- what the Caf and the partners read ---------------------------------------------------------
def reviews(app: App, actor: Actor) -> list[dict[str, Any]]:
    """The campaigns a reader may see: its Caf's (a Caf administrator), those covering its partner (a
    partner's administrator or responsable des habilitations: the counts of its own partner only)."""
    now = app.now()
    with app.uow() as uow:
        if actor.system or (CAF_ADMIN in actor.roles and actor.caf):
            rows = uow.reviews.list(None if actor.system else actor.caf)
            return [_summary(r, uow.reviews.decisions(r.campaign.id), now) for r in rows]
        p = uow.registry.partner(actor.partner) if actor.partner else None
        if p is None or not rv.may_decide(actor, p):
            return []
        out = []
        for mine in uow.reviews.list(p.caf, partner=p.siret):  # each campaign with this partner's items only
            if mine.campaign.covers(p):
                s = _summary(mine, uow.reviews.decisions(mine.campaign.id, p.siret), now)
                out.append(s | {"partners": [p.siret]})
        return out

def review(app: App, actor: Actor, campaign_id: str) -> dict[str, Any]:
    row = _row(app, campaign_id)
    if not actor.is_caf_admin_of(row.campaign.caf):
        raise NotFound("Campagne de revue inconnue.")
    with app.uow() as uow:
        return _summary(row, uow.reviews.decisions(campaign_id), app.now())

def review_items(app: App, actor: Actor, campaign_id: str, siret: str) -> dict[str, Any]:
    """A partner's items with the decision that counts, who took it, and each person's last connection
    (one read of Keycloak's LOGIN events for the whole page, never one a person)."""
    row = _row(app, campaign_id, partner=siret)  # that partner's items only
    p = _reviewed_partner(app, actor, row, siret)
    with app.uow() as uow:
        decisions = uow.reviews.decisions(campaign_id, siret)
    last = rv.latest(decisions)
    logins = app.gateway().last_logins(app.now() - LAST_LOGIN_WINDOW)
    out = []
    for it in row.items:
        u, d = p.user(it.identifiant), last.get(it.key)
        out.append({"key": it.key, "identifiant": it.identifiant, "convention": it.convention,
                    "service": it.service.value, "groups": sorted(g.value for g in it.groups),
                    "profiles": sorted(x.value for x in it.profiles),
                    "first_name": u.first_name if u else "", "last_name": u.last_name if u else "",
                    "last_login": logins.get(it.identifiant),
                    "decision": d.verdict.value if d else None,
                    "decision_label": d.verdict.label if d else None, "decided_by": d.by if d else None,
                    "decided_at": d.at if d else None,
                    "may_decide": _may_decide_on(actor, p, it.identifiant)})
    return _summary(row, decisions, app.now()) | {"partner": {"siret": p.siret, "name": p.name}, "items": out}

def _paris(at: datetime) -> str:
    """A moment as people read it in an export (issue 29): Paris time, to the second, the column saying so."""
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(PARIS).strftime("%d/%m/%Y %H:%M:%S")


def review_csv(app: App, actor: Actor, campaign_id: str) -> str:
    """The campaign's result, one line a grant: who decided what and when; what the deadline did."""
    row = _row(app, campaign_id)
    if not actor.is_caf_admin_of(row.campaign.caf):
        raise NotFound("Campagne de revue inconnue.")
    with app.uow() as uow:
        last = rv.latest(uow.reviews.decisions(campaign_id))
        names = {p.siret: p for p in uow.registry.partners_of_caf(row.campaign.caf)}
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=";", lineterminator="\r\n")
    w.writerow(["siret", "partenaire", "convention", "service", "identifiant", "nom", "prenom", "groupes",
                "profils", "decision", "par", "le (heure de Paris)", "resultat"])
    for it in row.items:
        p, d = names.get(it.partner), last.get(it.key)
        u = p.user(it.identifiant) if p else None
        result = (d.verdict.label if d else "suspendu (non confirmé)" if row.closed_at else "en attente")
        w.writerow([_cell(x) for x in (
            it.partner, p.name if p else "", it.convention, it.service.value, it.identifiant,
            u.last_name if u else "", u.first_name if u else "", " + ".join(sorted(g.value for g in it.groups)),
            " + ".join(sorted(x.value for x in it.profiles)), d.verdict.label if d else "", d.by if d else "",
            _paris(d.at) if d else "", result)])
    return "\ufeff" + buf.getvalue()

# --- the partner's reviewers ----------------------------------------------------------------------
# --- the job: reminders and the deadline ------------------------------------------------------------
def tick_reviews(app: App) -> dict[str, Any]:
    """Run by the daily job (and `mcp-provisioning reviews`): the reminder due for each open campaign, and
    each campaign whose deadline passed closed: what nobody confirmed suspended. Safe to run twice."""
    now = app.now()
    done: dict[str, Any] = {"reminders": 0, "closed": [], "suspended": 0, "opened": []}
    with app.uow() as uow:
        rows = uow.reviews.list(open_only=True)
    for row in rows:
        if now >= row.campaign.deadline:
            done["suspended"] += _close(app, row, now)
            done["closed"].append(row.campaign.id)
        else:
            done["reminders"] += _remind(app, row, now)
    done["opened"] = _open_yearly(app, now)
    if done["reminders"] or done["closed"] or done["opened"]:
        app.deliver_notifications()
    return done

def _open_yearly(app: App, now: datetime) -> list[str]:
    """« Defaults: yearly »: a year after a Caf's last review opened, once it is closed, the next one opens
    by itself over all its partners (30 days, to the end of a Paris day). The first review of a Caf is opened
    by a person: the recurrence follows what the Caf started."""
    with app.uow() as uow:
        latest: dict[str, ReviewCampaignRow] = {}
        for r in uow.reviews.list():  # newest first
            latest.setdefault(r.campaign.caf, r)
    opened = []
    for caf, last in sorted(latest.items()):
        if last.closed_at is None or not rv.next_campaign_due(last.campaign.opened_at, now):
            continue
        day = (now + rv.DEFAULT_DURATION).astimezone(PARIS).date()
        try:
            opened.append(open_review(app, REVIEW_JOB, OpenReview(caf=caf, deadline=datetime.combine(day, time(23, 59), PARIS)))["id"])
        except ProvisioningError as e:  # e.g. the Caf has no partner left: tried again tomorrow
            log.error("yearly access review of Caf %s not opened: %s", caf, e)
    return opened

def _remind(app: App, row: ReviewCampaignRow, now: datetime) -> int:
    days = rv.reminder_due(row.campaign, now, row.reminders_sent)
    if days is None:
        return 0
    sent = 0
    with app.uow() as uow:
        per = rv.progress(row.items, uow.reviews.decisions(row.campaign.id))
        for siret, pr in sorted(per.items()):
            p = uow.registry.partner(siret)
            if pr.done or p is None:
                continue
            people = {key: key.rsplit("/", 1)[-1] for key in pr.pending}
            for u in _reviewers(p):
                # what this reviewer may decide (R12: a delegate is not reminded of his own grants)
                mine = [k for k, ident in people.items() if _may_decide_on(_as_reviewer(p, u), p, ident)]
                if not mine:
                    continue
                subject, body = messages.review_reminder_mail(u.first_name, u.last_name, p.name, len(mine),
                                                              days, row.campaign.deadline,
                                                              _review_url(app, row.campaign.id, siret))
                uow.outbox.put(u.email, subject, body, caf=p.caf)
                sent += 1
        uow.reviews.reminder_sent(row.campaign.id, days)
        uow.audit.record(REVIEW_JOB.username, "review-reminder", f"review:{row.campaign.id}", caf=row.campaign.caf,
                         summary=f"revue : rappel J-{days} envoyé ({sent} courriel(s))")
        uow.commit()
    return sent

def _close(app: App, row: ReviewCampaignRow, now: datetime) -> int:
    """Suspend, partner by partner, every item without a decision whose grant is still the one reviewed
    (a grant given again since the opening is a newer decision: left alone), then close the campaign."""
    with app.uow() as uow:
        decisions = uow.reviews.decisions(row.campaign.id)
    doomed: dict[str, list[rv.Item]] = defaultdict(list)
    for it in rv.to_suspend(row.campaign, row.items, decisions, now):
        doomed[it.partner].append(it)
    suspended, lines, failed = 0, [], []
    for siret, its in sorted(doomed.items()):
        hit: list[rv.Item] = []

        try:
            _suspend_unconfirmed(app, siret, its, hit)
        except NotFound:
            continue  # the partner left the registry since: nothing of it to suspend
        except ProvisioningError as e:  # the next run tries again: the campaign stays open until it is done
            log.error("access review %s: suspensions of %s failed: %s", row.campaign.id, siret, e)
            failed.append(siret)
            continue
        suspended += len(hit)
        lines += [f"{siret} — {it.identifiant} : {_what(it)}" for it in hit]
    if failed:
        return suspended
    with app.uow() as uow:
        if uow.reviews.close(row.campaign.id, now):
            caf = uow.registry.load_caf(row.campaign.caf)
            if caf:
                subject, body = messages.review_closed_report(caf.name, lines)
                uow.outbox.put(caf.habilitation_mailbox, subject, body, caf=caf.code)
            uow.audit.record(REVIEW_JOB.username, "close-review", f"review:{row.campaign.id}", None,
                             {"suspended": len(lines)}, caf=row.campaign.caf,
                             summary=f"revue close : {len(lines)} habilitation(s) suspendue(s)")
        uow.commit()
    return suspended

def _suspend_unconfirmed(app: App, siret: str, its: list[rv.Item], hit: list[rv.Item]) -> None:
    """One partner's items nobody confirmed, suspended if still held as reviewed (`hit`), their holders told."""
    with app.changing(REVIEW_JOB, OnPartner(siret=siret), "review-suspend",
                       "revue close : habilitations non confirmées suspendues — "
                       + ", ".join(_identifiants(its))) as ch:
        for it in its:
            conv = ch.partner.convention(it.convention)
            b = conv.bulletin(it.service) if conv else None
            m = b.member(it.identifiant) if b else None
            if m and not m.suspended and m.groups == set(it.groups) and m.profiles == set(it.profiles):
                b.update(it.identifiant, suspended=True)  # type: ignore[union-attr]
                hit.append(it)
        ch.about(_identifiants(its))
        per_person: dict[str, list[str]] = defaultdict(list)
        for it in hit:
            per_person[it.identifiant].append(_what(it))
        for ident, whats in per_person.items():
            if u := ch.partner.user(ident):
                ch.mail(u.email, *messages.review_suspended_mail(u.first_name, u.last_name, whats))

# --- helpers --------------------------------------------------------------------------------------
def _row(app: App, campaign_id: str, *, partner: str | None = None, key: str | None = None) -> ReviewCampaignRow:
    """The campaign with all its items, or only one partner's, or only one (issue 27 §2)."""
    with app.uow() as uow:
        row = uow.reviews.get(campaign_id, partner=partner, key=key)
    if row is None:
        raise NotFound("Campagne de revue inconnue.")
    return row

def _reviewed_partner(app: App, actor: Actor, row: ReviewCampaignRow, siret: str) -> Partner:
    """The partner, if the campaign covers it and the actor may review it; else « inconnu » (a partner's
    staff cannot tell another partner's campaign from none)."""
    p = app._load_partner(siret)
    if p is None or not row.campaign.covers(p) or not rv.may_decide(actor, p):
        raise _unknown_or_forbidden(actor, siret, p is None or not row.campaign.covers(p))
    return p

def _may_decide_on(actor: Actor, p: Partner, identifiant: str) -> bool:
    try:
        if not actor.is_caf_admin_of(p.caf):
            _check_hierarchy(actor, p, identifiant, self_ok=False)
    except Forbidden:
        return False
    return True

def _reviewers(p: Partner) -> list[User]:
    """Who receives the campaign's mails: the partner's administrator and responsables des habilitations."""
    idents = ([p.administrator] if p.administrator else []) + list(p.delegates)
    return [u for i in dict.fromkeys(idents) if (u := p.user(i)) and u.active]

def _review_url(app: App, campaign_id: str, siret: str) -> str:
    return f"{app.portal_url}/console/{siret}/revues/{campaign_id}"


def _as_reviewer(p: Partner, u: User) -> Actor:
    """A reviewer as the rules see them: the partner's administrator, or one of its delegates."""
    role = PARTNER_ADMIN if u.identifiant == p.administrator else DELEGATE
    return Actor(u.identifiant, frozenset({role}), partner=p.siret)


def _cell(v: str) -> str:
    """No spreadsheet formula from a name (CSV injection)."""
    return "'" + v if v[:1] in ("=", "+", "-", "@", "\t", "\r") else v


def _drop_unheld_assignments(p: Partner, identifiant: str) -> None:
    """A withdrawn profile takes the person's equipment associations for that profile with it (R8: an
    association needs the profile)."""
    held = set()
    for conv in p.conventions:
        for b in conv.bulletins:
            m = b.member(identifiant)
            held |= m.profiles if m else set()
    for e in p.equipments:
        for prof, idents in list(e.assignments.items()):
            if prof not in held and identifiant in idents:
                e.assignments[prof] = [i for i in idents if i != identifiant]
        e.forget_sites_of_the_unassociated()  # found by attack: her sites stayed, and the withdrawal was refused


def _identifiants(items: Iterable[rv.Item]) -> list[str]:
    return sorted({it.identifiant for it in items})


# --- the handlers: a Caf opens a campaign, a partner's reviewers decide ------------------------------------
def open_review(app: App, actor: Actor, cmd: OpenReview) -> dict[str, Any]:
    """Open a campaign over the Caf's partners (all, or those listed); the grants in force now are its items.
    Refused, with every fault listed, when another campaign of the Caf is still open."""
    caf, deadline, partners = cmd.caf, cmd.deadline, cmd.partners
    if not actor.is_caf_admin_of(caf):
        raise Forbidden("Seul un administrateur de la Caf ouvre une revue de ses partenaires.")
    now = app.now()
    with app.uow() as uow:
        caf_obj = uow.registry.load_caf(caf)
        if caf_obj is None:
            raise NotFound(f"Caf {caf} inconnue.")
        known = {p.siret: p for p in uow.registry.partners_of_caf(caf)}
        faults = rv.validate_campaign(caf, now, deadline, partners, known)
        if uow.reviews.list(caf, open_only=True):
            faults.append(Violation("CAMPAGNE_EN_COURS", "Une revue de cette Caf est déjà en cours : attendez sa "
                                    "clôture avant d'en ouvrir une autre."))
        if faults:
            raise ValidationFailed(faults)
        campaign = rv.Campaign(str(uuid.uuid4()), caf, actor.username, now, deadline,
                               frozenset(partners) if partners is not None else None)
        items = rv.items(campaign, known.values())
        uow.reviews.add(campaign, items)
        count: defaultdict[str, int] = defaultdict(int)
        for it in items:
            count[it.partner] += 1
        uow.audit.record(actor.username, "open-review", f"review:{campaign.id}", None,
                         {"deadline": deadline, "partners": sorted(campaign.partners or []) or "tous",
                          "items": len(items)}, caf=caf,
                         summary=f"revue des habilitations ouverte jusqu'au {deadline:%d/%m/%Y} : "
                                 f"{len(items)} habilitation(s), {len(count)} partenaire(s)")
        if actor.system:  # opened by the yearly recurrence: the Caf is told (R9), it did not do it itself
            subject, body = messages.review_auto_opened_report(caf_obj.name, len(items), len(count), deadline)
            uow.outbox.put(caf_obj.habilitation_mailbox, subject, body, caf=caf)
        for siret, n in sorted(count.items()):
            p = known[siret]
            for u in _reviewers(p):
                subject, body = messages.review_opened_mail(u.first_name, u.last_name, p.name, caf_obj.name, n,
                                                            deadline, _review_url(app, campaign.id, siret))
                uow.outbox.put(u.email, subject, body, caf=caf)
        uow.commit()
    app.deliver_notifications()
    return _summary(_row(app, campaign.id), [], now)


def decide(app: App, actor: Actor, cmd: DecideReview) -> dict[str, Any]:
    """Confirm or withdraw one grant. A withdrawal takes the grant away at once (stored with the decision, one
    transaction; Keycloak follows, the person's sessions end); a confirmation may be changed into a withdrawal
    until the deadline, a withdrawal is final."""
    campaign_id, key, verdict = cmd.campaign_id, cmd.key, cmd.verdict
    row = _row(app, campaign_id, key=key)  # that item only (`key` is bounded by the request model)
    it = next((i for i in row.items if i.key == key), None)
    if it is None:
        raise NotFound("Cette habilitation ne fait pas partie de la campagne.")
    p = _reviewed_partner(app, actor, row, it.partner)
    if not actor.is_caf_admin_of(p.caf):
        _check_hierarchy(actor, p, it.identifiant, self_ok=False)
    now = app.now()
    with app.uow() as uow:
        previous = rv.latest(uow.reviews.decisions(campaign_id, it.partner)).get(key)
    faults = rv.check_decision(row.campaign, {i.key for i in row.items}, key, now)
    if previous and previous.verdict is rv.Verdict.REVOKE:
        faults.append(Violation("HABILITATION_DEJA_RETIREE", "Cette habilitation a déjà été retirée : pour la "
                                "rendre, accordez-la de nouveau depuis la fiche de la personne."))
    if faults:
        raise ValidationFailed(faults)
    decision = rv.Decision(key, verdict, actor.username, now)
    what = _what(it)
    if verdict is rv.Verdict.CONFIRM:
        with app.uow() as uow:
            uow.reviews.decide(campaign_id, decision, it.partner)
            uow.audit.record(actor.username, "review-confirm", f"review:{campaign_id}", None,
                             {"item": key}, partner=it.partner, caf=p.caf, subject=it.identifiant,
                             summary=f"revue : habilitation {what} de {it.identifiant} confirmée")
            uow.commit()
        return {"item": key, "decision": verdict.value, "by": actor.username, "at": now}
    with app.changing(actor, OnPartner(siret=it.partner), "review-revoke",
                      f"revue : habilitation {what} de {it.identifiant} retirée",
                      acts_outside=True, on_person=it.identifiant, self_ok=False) as ch:
        conv = ch.partner.convention(it.convention)
        b = conv.bulletin(it.service) if conv else None
        if b is not None:
            b.members = [m for m in b.members if m.identifiant != it.identifiant]
        _drop_unheld_assignments(ch.partner, it.identifiant)
        ch.also(lambda uow: uow.reviews.decide(campaign_id, decision, it.partner))
        if u := ch.partner.user(it.identifiant):
            ch.mail(u.email, *messages.review_withdrawn_mail(u.first_name, u.last_name, what, actor.username))
    return {"item": key, "decision": verdict.value, "by": actor.username, "at": now,
            "reconcile": ch.result.reconcile_state}
