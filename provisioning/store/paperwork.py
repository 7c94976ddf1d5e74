"""The convention's documents in the registry (issue 31): every version kept, its PDF as signed so far. A signature
replaces the PDF only if it is still the one the signer read (compare-and-set on its hash): two signers at once,
or a new version issued meanwhile, make the second one start again instead of signing a stale file."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

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
