"""One error hierarchy: each error has a stable code and a French description, and is printed the
same way by the API (JSON), the CLI and the UI."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Violation:
    """One broken rule: stable code, French message, and where (a path such as partners[0].users[2])."""
    code: str
    message: str
    path: str = ""
    line: int | None = None

    def as_dict(self) -> dict:
        d: dict[str, str | int] = {"code": self.code, "message": self.message}
        if self.path:
            d["path"] = self.path
        if self.line is not None:
            d["line"] = self.line
        return d

    def __str__(self) -> str:
        where = f"ligne {self.line}: " if self.line is not None else (f"{self.path}: " if self.path else "")
        return f"{where}[{self.code}] {self.message}"


@dataclass
class ProvisioningError(Exception):
    """`retryable`: whether doing the same again later may succeed with nothing changed (issue 25 §5). A
    refusal (rights, rules, an account we do not manage, a name Keycloak refuses) is not: the reconcile of a
    partner that meets only such refusals stops retrying and says « à traiter » until something changes."""
    retryable = False
    code: str = "erreur"
    description: str = "Erreur"
    status: int = 500
    violations: list[Violation] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(self.description)

    def as_dict(self) -> dict:
        d: dict[str, object] = {"error": self.code, "error_description": self.description}
        if self.violations:
            d["violations"] = [v.as_dict() for v in self.violations]
        return d

    def __str__(self) -> str:
        lines = [f"[{self.code}] {self.description}"]
        lines += [f"  - {v}" for v in self.violations]
        return "\n".join(lines)


class ValidationFailed(ProvisioningError):
    def __init__(self, violations: list[Violation], description: str = "La demande enfreint des règles d'habilitation ; rien n'a été modifié."):
        super().__init__("validation_failed", description, 422, list(violations))


class NotFound(ProvisioningError):
    def __init__(self, description: str):
        super().__init__("not_found", description, 404)


class Forbidden(ProvisioningError):
    def __init__(self, description: str = "Vous n'êtes pas habilité à cette action.", code: str = "forbidden"):
        super().__init__(code, description, 403)


class Unauthorized(ProvisioningError):
    def __init__(self, description: str = "Jeton d'accès absent ou invalide.", code: str = "unauthorized"):
        super().__init__(code, description, 401)


class Conflict(ProvisioningError):
    """409: the request is sound but the state it met forbids it (a lost race: VERSION_PERIMEE)."""
    def __init__(self, description: str, code: str = "conflict"):
        super().__init__(code, description, 409)


class Transient(ProvisioningError):
    """A dependency (Keycloak, SMTP, database) failed; retrying later may succeed."""
    retryable = True

    def __init__(self, description: str):
        super().__init__("transient", description, 503)


class KeycloakRefused(Transient):
    """Keycloak answered and refused (400, 403, 409, 422: a name or value it will not take, a permission the
    service account lacks, an object of that name we do not own): the same request will be refused again."""
    retryable = False


class Unavailable(Transient):
    """No answer at all (connection refused, timeout): nothing else sent to that dependency can succeed now."""
