"""The convention's documents in the registry (issue 31): every version kept, its PDF as signed so far. A signature
replaces the PDF only if it is still the one the signer read (compare-and-set on its hash): two signers at once,
or a new version issued meanwhile, make the second one start again instead of signing a stale file. And the
organisations' access requests that come before a convention (§1), decided once (compare-and-set on the state)."""

from __future__ import annotations

import hashlib
from dataclasses import asdict
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from provisioning.domain.access_requests import AccessRequest, Establishment, RequestState
from provisioning.domain.access_requests import Contact as AccessContact
from provisioning.domain.paperwork import CAF_SIDE, COLUMN, PARTNER_SIDE, Document
from provisioning.errors import Conflict
from provisioning.store import tables as t

_D = t.convention_documents.c
_COLUMNS = [c for c in t.convention_documents.c if c.name != "pdf"]


def document_of(r: Any) -> Document:
    return Document(r.id, r.partner_siret, r.convention, r.kind, r.version, r.title, r.content_sha256, r.sha256,
                    r.created_at, r.created_by, r.partner_signed_at, r.partner_signed_by, r.caf_signed_at,
                    r.caf_signed_by, r.superseded_at)


def signed_elsewhere() -> Conflict:
    return Conflict("Le document vient d'être signé ou remplacé par une nouvelle version : rechargez la page et "
                    "recommencez.", code="DOCUMENT_MODIFIE")


class DocumentRepository:
    def __init__(self, conn: Connection):
        self.conn = conn

    def versions(self, siret: str, convention: str) -> list[Document]:
        """Every version of the convention's documents, current ones first, then by kind and newest version."""
        rows = self.conn.execute(sa.select(*_COLUMNS).where(_D.partner_siret == siret, _D.convention == convention)
                                 .order_by(_D.superseded_at.is_not(None), _D.kind, _D.version.desc()))
        return [document_of(r) for r in rows]

    def current(self, siret: str, convention: str) -> list[Document]:
        return [d for d in self.versions(siret, convention) if d.current]

    def get(self, doc_id: int) -> Document | None:
        r = self.conn.execute(sa.select(*_COLUMNS).where(_D.id == doc_id)).first()
        return document_of(r) if r else None

    def pdf(self, doc_id: int) -> bytes | None:
        return self.conn.execute(sa.select(_D.pdf).where(_D.id == doc_id)).scalar_one_or_none()

    def issue(self, siret: str, convention: str, kind: str, title: str, content_sha256: str, pdf: bytes,
              at: datetime, by: str) -> Document:
        """A new version of `kind`, the current one superseded."""
        last = self.conn.execute(sa.select(sa.func.max(_D.version)).where(
            _D.partner_siret == siret, _D.convention == convention, _D.kind == kind)).scalar_one_or_none() or 0
        self.conn.execute(sa.update(t.convention_documents).where(
            _D.partner_siret == siret, _D.convention == convention, _D.kind == kind, _D.superseded_at.is_(None))
            .values(superseded_at=at))
        key = self.conn.execute(sa.insert(t.convention_documents).values(
            partner_siret=siret, convention=convention, kind=kind, version=last + 1, title=title,
            content_sha256=content_sha256, sha256=hashlib.sha256(pdf).hexdigest(), pdf=pdf, created_at=at,
            created_by=by)).inserted_primary_key
        assert key is not None
        found = self.get(int(key[0]))
        assert found is not None
        return found

    def sign(self, doc: Document, side: str, pdf: bytes, at: datetime, by: str) -> Document:
        """The document's PDF with one more signature, if it is still the current one the signer read."""
        assert side in (PARTNER_SIDE, CAF_SIDE)
        values = {"pdf": pdf, "sha256": hashlib.sha256(pdf).hexdigest(), f"{COLUMN[side]}_signed_at": at,
                  f"{COLUMN[side]}_signed_by": by}
        done = self.conn.execute(sa.update(t.convention_documents).where(
            _D.id == doc.id, _D.sha256 == doc.sha256, _D.superseded_at.is_(None)).values(**values))
        if done.rowcount != 1:
            raise signed_elsewhere()
        found = self.get(doc.id)
        assert found is not None
        return found


def request_to_stored(r: AccessRequest) -> dict[str, Any]:
    e = r.establishment
    return {"v": 1, "establishment": {"siret": e.siret, "name": e.name, "address": e.address,
                                      "postal_code": e.postal_code, "city": e.city},
            "services": list(r.services), "representative": asdict(r.representative),
            "administrator": asdict(r.administrator),
            "confirmed": {k: v.isoformat() if v else None for k, v in r.confirmed.items()},
            "tokens": dict(r.tokens),
            "decided_at": r.decided_at.isoformat() if r.decided_at else None, "decided_by": r.decided_by,
            "reason": r.reason}


def request_from_stored(rid: str, created_at: datetime, caf: str, state: str, d: dict[str, Any]) -> AccessRequest:
    r = AccessRequest(rid, created_at, Establishment(**d["establishment"]), caf, list(d["services"]),
                      AccessContact(**d["representative"]), AccessContact(**d["administrator"]),
                      RequestState(state),
                      {k: datetime.fromisoformat(v) if v else None for k, v in d["confirmed"].items()},
                      datetime.fromisoformat(d["decided_at"]) if d.get("decided_at") else None, d.get("decided_by"),
                      d.get("reason", ""), dict(d.get("tokens", {})))
    return r


class AccessRequestRepository:
    def __init__(self, conn: Connection):
        self.conn = conn

    def add(self, r: AccessRequest) -> None:
        self.conn.execute(sa.insert(t.access_requests).values(id=r.id, created_at=r.created_at, siret=r.siret,
                                                              caf_code=r.caf, state=r.state.value,
                                                              document=request_to_stored(r)))

    def save(self, r: AccessRequest, was: RequestState) -> None:
        """Written only if its state is still the one read (two Caf administrators deciding at once)."""
        done = self.conn.execute(sa.update(t.access_requests).where(
            t.access_requests.c.id == r.id, t.access_requests.c.state == was.value).values(
            state=r.state.value, document=request_to_stored(r)))
        if done.rowcount != 1:
            raise Conflict("La demande vient d'être traitée par ailleurs : rechargez la page.", code="DEMANDE_TRAITEE")

    def get(self, rid: str) -> AccessRequest | None:
        row = self.conn.execute(sa.select(t.access_requests).where(t.access_requests.c.id == rid)).first()
        return request_from_stored(row.id, row.created_at, row.caf_code, row.state, row.document) if row else None

    def of_caf(self, caf: str, states: tuple[RequestState, ...]) -> list[AccessRequest]:
        a = t.access_requests.c
        rows = self.conn.execute(sa.select(t.access_requests).where(
            a.caf_code == caf, a.state.in_([s.value for s in states])).order_by(a.created_at.desc()).limit(500))
        return [request_from_stored(r.id, r.created_at, r.caf_code, r.state, r.document) for r in rows]

    def open_for(self, siret: str) -> AccessRequest | None:
        """A request of this SIRET still waiting (its addresses, or the Caf)."""
        a = t.access_requests.c
        row = self.conn.execute(sa.select(t.access_requests).where(
            a.siret == siret, a.state.in_([RequestState.UNCONFIRMED.value, RequestState.REQUESTED.value]))).first()
        return request_from_stored(row.id, row.created_at, row.caf_code, row.state, row.document) if row else None

    def by_token(self, token_sha256: str) -> AccessRequest | None:
        """The waiting request one of whose confirmation links carries this token (few wait at once)."""
        a = t.access_requests.c
        for row in self.conn.execute(sa.select(t.access_requests).where(a.state == RequestState.UNCONFIRMED.value)):
            if token_sha256 in (row.document.get("tokens") or {}).values():
                return request_from_stored(row.id, row.created_at, row.caf_code, row.state, row.document)
        return None
