"""Every setting, declared once (issue 26 §5): its variable, type, default and meaning. Each process reads the
environment once at start (`read()`): a value of the wrong type or outside its choices, or an `MCP_*` variable
nobody reads (a typo: `MCP_RECONCILE_MODE` for `MCP_RECONCILE`), is refused with every fault listed and the
nearest known name. Secrets may come from a file named by `<VARIABLE>_FILE` (outside git).

The reference table of docs/configuration.md is generated from this module:
    .venv/bin/python -m provisioning.settings --markdown
and a test keeps the two equal."""

from __future__ import annotations

import difflib
import functools
import os
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from provisioning.errors import ProvisioningError, Violation

PREFIX = "MCP_"
SENDER_ADDRESS = "ne-pas-repondre@mon-compte-partenaire.example"
SENDER_NAME = "Mon Compte Partenaire"  # the realm's fromDisplayName too


def _f(default: Any, meaning: str, *, group: str, secret: bool = False, env: str | None = None,
       **constraints: Any) -> Any:
    """A declared setting: `group` says who reads it (the docs' sections), `secret` allows `<VARIABLE>_FILE`."""
    extra: dict[str, Any] = {"group": group, "secret": secret}
    if env:
        return Field(default, description=meaning, validation_alias=AliasChoices(env), json_schema_extra=extra,
                     **constraints)
    return Field(default, description=meaning, json_schema_extra=extra, **constraints)


RUN, PROV, APPS, REALM, TOOLS = ("every process", "provisioning (API, worker, daily job, CLI)", "the three applications",
                                 "Keycloak, at realm import", "set-up, demo stack and tests")


class Settings(BaseSettings):
    # an empty variable is an unset one (compose files write `MCP_X: ""`)
    model_config = SettingsConfigDict(env_prefix=PREFIX, extra="ignore", frozen=True, populate_by_name=True,
                                      env_ignore_empty=True)

    # --- every process ---------------------------------------------------------------------------------------
    env: Literal["", "demo", "production"] = _f(
        "", "`production`: every process refuses demo settings (docs/security.md); a typo is refused, never run as "
        "the demo", group=RUN)
    state_dir: str = _f(".run", "instances, logs, PID files, SQLite files, mails of the demo", group=RUN)
    database_url: str = _f("", "the registry, e.g. `postgresql+psycopg://user@host/db` (empty: SQLite in the state "
                           "directory)", group=RUN)
    realm: str = _f("mon-compte-partenaire", "the Keycloak realm", group=RUN)
    keycloak_url: str = _f("http://localhost:8080", "Keycloak as the servers reach it; for tests: use this server "
                           "instead of starting one", group=RUN, env="KEYCLOAK_URL")
    public_keycloak_url: str = _f("", "Keycloak as browsers reach it (the tokens' issuer; empty: KEYCLOAK_URL)",
                                  group=RUN)
    portail_url: str = _f("http://localhost:8081", "the portal's address (realm import, mails, links)", group=RUN)
    cdap_url: str = _f("http://localhost:8082", "the CDAP application's address", group=RUN)
    afas_url: str = _f("http://localhost:8083", "the AFAS application's address", group=RUN)
    api_url: str = _f("http://localhost:8090", "the provisioning API, as the applications reach it", group=RUN)
    catalogue: str = _f("realm-config/services.yaml", "the service catalogue (docs/services.md): the Caf services "
                        "partners' staff are habilitated to", group=RUN)
    service_urls: str = _f("", "the services' addresses, `CODE=https://…` pairs separated by commas (empty: the "
                           "catalogue's)", group=RUN)
    service_tiers_url: str = _f("http://localhost:8084", "the demonstration relying party's address (Apache with "
                                "mod_auth_openidc, docs/claims.md)", group=RUN)
    metrics_token: str = _f("", "the bearer token Prometheus presents at `/metrics` of the API and the applications "
                            "(empty: no `/metrics`; docs/operations.md)", group=RUN, secret=True)
    metrics_port: int = _f(0, "the worker and the daily job serve their metrics on this port of 127.0.0.1, for a "
                           "local agent (0: not served)", group=RUN, ge=0, le=65535)
    log_format: Literal["json", "text"] = _f("json", "log lines on standard error: one JSON object a line, with the "
                                             "request id (issue 30 §2), or `text` for a person at a terminal",
                                             group=RUN)
    log_level: Literal["", "DEBUG", "INFO", "WARNING", "ERROR"] = _f(
        "", "the lowest level logged (empty: INFO for servers, the worker and the daily job; WARNING for the "
        "commands a person types)", group=RUN)

    # --- provisioning -----------------------------------------------------------------------------------------
    provisioning_client_id: str = _f("provisioning", "the service account's client", group=PROV)
    provisioning_client_secret: str = _f("demo-only-provisioning-secret", "its secret (the demo value is warned "
                                         "about, and refused in production)", group=PROV, secret=True)
    # the mail server: one set of names for provisioning's mails and Keycloak's own (realm import placeholders)
    smtp_host: str = _f("127.0.0.1", "mail server (provisioning's mails and Keycloak's)", group=PROV)
    smtp_port: int = _f(1025, "mail server port", group=PROV, ge=1, le=65535)
    smtp_starttls: bool = _f(False, "STARTTLS towards the mail server (this or SSL is required in production "
                             "towards a remote server)", group=PROV)
    smtp_ssl: bool = _f(False, "SSL/TLS from the first byte (not with STARTTLS)", group=PROV)
    smtp_username: str = _f("", "mail server login", group=PROV)
    smtp_password: str = _f("", "mail server password", group=PROV, secret=True)
    smtp_auth: bool = _f(False, "log in to the mail server with MCP_SMTP_USERNAME and MCP_SMTP_PASSWORD",
                         group=PROV)
    smtp_from: str = _f(SENDER_ADDRESS, "the From address of every mail (shown as « Mon Compte Partenaire »)",
                        group=PROV)
    api_host: str = _f("127.0.0.1", "the API's listening address (development server)", group=PROV)
    api_port: int = _f(8090, "the API's port", group=PROV, ge=1, le=65535)
    api_audience: str = _f("provisioning-api", "the audience the API requires of tokens", group=PROV)
    scim_audience: str = _f("scim", "the audience /scim/v2 requires of tokens", group=PROV)
    onboarding: Literal["password", "action-link"] = _f(
        "password", "`action-link`: Keycloak mails a 24-hour link instead of a provisional password", group=PROV)
    reconcile: Literal["worker", "inline"] = _f(
        "worker", "`worker`: changes answer once stored and the worker reconciles; `inline`: the API reconciles "
        "within the request (no worker needed)", group=PROV)
    inactivity_days: int = _f(90, "automatic suspension after this many days without login (0: off)", group=PROV,
                              ge=0)
    daily_at: str = _f("04:00", "Paris time of the daily job (inactivity, review deadlines, outbox); a missed run "
                       "is caught up once at start", group=PROV)
    destroy_threshold: int = _f(5, "destructive changes `apply` carries out without `--allow-destroy N`",
                                group=PROV, ge=0)
    operator: str = _f("", "the CLI operator's mandate for file commands: `national` or `caf:CODE`", group=PROV)
    debug: bool = _f(False, "`1`: the CLI shows a traceback on an internal error", group=PROV)
    keycloak_realm_admin: str = _f("admin", "realm administrator, only for `usage-rules publish`", group=PROV)
    keycloak_realm_admin_password: str = _f("", "its password", group=PROV, secret=True)
    worker_lease_seconds: float = _f(15, "how long a dead worker's lease lasts before another takes over",
                                     group=PROV, gt=0)
    reconcile_claim_seconds: int = _f(90, "how long a worker's claim on a partner lasts without renewal",
                                      group=PROV, gt=0)
    claim_wait_seconds: float = _f(120, "how long `apply` waits for another writer of the same partner before "
                                   "refusing (`OCCUPE`, nothing written)", group=PROV, ge=0)
    resync_minutes: float = _f(10, "periodic resync: every partner at rest reconciled again, correcting hand "
                               "edits in Keycloak (0: off)", group=PROV, ge=0)
    sirene_file: str = _f("", "the SIRENE extract an access request's SIRET is looked up in (CSV: siret;denomination;"
                          "adresse;code_postal;commune; empty: the demo extract shipped in provisioning/directory/)",
                          group=PROV)
    signature_pki_dir: str = _f("", "the local test PKI that signs the conventions' documents in the demo and the "
                                "tests (a CA and a timestamp authority made at first use; empty: `pki` in the state "
                                "directory); never used in production (docs/paperwork.md)", group=PROV)

    # --- the applications -------------------------------------------------------------------------------------
    idle_timeout: int = _f(1800, "seconds without activity before an application ends its session (R17)",
                           group=APPS, gt=0)
    insecure_cookies: bool = _f(False, "`1`: cookies without Secure (plain http on a host other than localhost)",
                                group=APPS)
    second_factor_services: str = _f("CDAP", "services whose application asks for and checks level 2, comma "
                                     "separated; set the client's minimum ACR in Keycloak too", group=APPS)
    session_url: str = _f("", "the applications' server-side sessions in a database every instance reads, e.g. "
                          "`postgresql+psycopg://…` (empty: process memory)", group=APPS)
    portail_session_url: str = _f("", "the portal's own session database (empty: MCP_SESSION_URL)", group=APPS)
    cdap_session_url: str = _f("", "CDAP's own session database (empty: MCP_SESSION_URL)", group=APPS)
    afas_session_url: str = _f("", "AFAS's own session database (empty: MCP_SESSION_URL)", group=APPS)
    portail_client_secret: str = _f("demo-only-portail-secret", "the portal's OIDC client secret", group=APPS,
                                    secret=True)
    cdap_client_secret: str = _f("demo-only-cdap-secret", "CDAP's OIDC client secret", group=APPS, secret=True)
    afas_client_secret: str = _f("demo-only-afas-secret", "AFAS's OIDC client secret", group=APPS, secret=True)
    portail_client_secret_next: str = _f("", "the portal's client secret after its next rotation, tried when Keycloak "
                                         "refuses the current one (issue 30 §5: a rotation without failed logins)",
                                         group=APPS, secret=True)
    cdap_client_secret_next: str = _f("", "CDAP's client secret after its next rotation", group=APPS, secret=True)
    afas_client_secret_next: str = _f("", "AFAS's client secret after its next rotation", group=APPS, secret=True)
    portail_session_key: str = _f("", "the portal's cookie signing key, the same for every instance (empty: "
                                  "random at start)", group=APPS, secret=True)
    cdap_session_key: str = _f("", "CDAP's cookie signing key", group=APPS, secret=True)
    afas_session_key: str = _f("", "AFAS's cookie signing key", group=APPS, secret=True)
    cdap_database_url: str = _f("", "CDAP's journal (empty: SQLite in the state directory)", group=APPS)
    afas_database_url: str = _f("", "AFAS's journal (empty: SQLite in the state directory)", group=APPS)

    # --- read by Keycloak at realm import (placeholders of realm-config) ---------------------------------------
    ssl_required: Literal["external", "all", "none"] = _f("external", "the realm's `sslRequired`", group=REALM)
    provisioning_api_client_secret: str = _f("", "the API client's secret", group=REALM, secret=True)
    scim_client_secret: str = _f("", "the `scim` client's secret", group=REALM, secret=True)
    service_tiers_client_secret: str = _f("", "the `service-tiers` client's secret (the Apache relying party)",
                                          group=REALM, secret=True)
    service_secrets: str = _f("", "the client secrets of the catalogue's services that the realm file does not "
                              "define, `CODE=secret` pairs separated by commas", group=REALM, secret=True)
    caf_services_client_secret: str = _f("", "the `caf-services` client's secret (the demo Caf's service)",
                                         group=REALM, secret=True)
    # issue 32: the ProConnect broker (docs/proconnect.md); empty: the stand-in realm of this Keycloak on port 8080
    proconnect_issuer: str = _f("", "ProConnect's issuer (`iss` of its tokens)", group=REALM)
    proconnect_authorization_url: str = _f("", "its authorization endpoint, with `?acr_values=eidas1`", group=REALM)
    proconnect_token_url: str = _f("", "its token endpoint", group=REALM)
    proconnect_userinfo_url: str = _f("", "its userinfo endpoint", group=REALM)
    proconnect_jwks_url: str = _f("", "its signing keys (JWKS)", group=REALM)
    proconnect_logout_url: str = _f("", "its end-session endpoint (single logout)", group=REALM)
    proconnect_client_id: str = _f("", "our client id at ProConnect", group=REALM)
    proconnect_client_secret: str = _f("", "our client secret at ProConnect", group=REALM, secret=True)
    proconnect_mfa_acr: str = _f("", "ProConnect `acr` values that count as our level 2, comma-separated (empty: "
                                 "eidas2, eidas3 and consistency-checked-2fa)", group=REALM)
    proconnect_mfa_amr: str = _f("", "ProConnect `amr` values that count as our level 2 (empty: `mfa`)", group=REALM)

    # --- set-up, demo stack and tests ---------------------------------------------------------------------------
    keycloak_port: int = _f(8080, "demo Keycloak's port", group=TOOLS, ge=1, le=65535)
    keycloak_management_port: int = _f(9000, "demo Keycloak's management port", group=TOOLS, ge=1, le=65535)
    test_keycloak_port: int = _f(8180, "the test Keycloak's port", group=TOOLS, ge=1, le=65535)
    test_keycloak_management_port: int = _f(9100, "the test Keycloak's management port", group=TOOLS, ge=1, le=65535)
    keycloak_admin: str = _f("admin", "demo Keycloak's bootstrap administrator", group=TOOLS)
    keycloak_admin_password: str = _f("admin", "its password", group=TOOLS, secret=True)
    keycloak_version: str = _f("26.7.3", "Keycloak distribution fetched with Maven", group=TOOLS)
    java_home: str = _f("", "JDK for Keycloak (empty: newest of JDK 25, 21, 17 found)", group=TOOLS)
    cache_dir: str = _f("~/.cache/mon-compte-partenaire", "downloaded distribution", group=TOOLS)
    cluster_dir: str = _f("", "the production topology's state directory (tests/cluster)", group=TOOLS)
    kc_node: str = _f("", "a Keycloak node's name in the topology (set by devstack)", group=TOOLS)
    mail_web_port: int = _f(8025, "the demo mail sink's web page", group=TOOLS, ge=1, le=65535)
    portail_port: int = _f(8081, "the demo portal's port", group=TOOLS, ge=1, le=65535)
    db_password: str = _f("", "docker compose: the PostgreSQL password", group=TOOLS, secret=True)
    venv: str = _f(".venv", "the virtualenv the scripts use", group=TOOLS)
    python: str = _f("", "the Python the set-up builds the virtualenv with (empty: python3.11 or newer found)",
                     group=TOOLS)
    apt_lock_timeout: int = _f(600, "seconds the set-up waits for another apt-get or dpkg to release the lock",
                               group=TOOLS, ge=0)
    test_parallel: str = _f("", "`0`: the test command runs its two test processes one after the other",
                            group=TOOLS)
    test_postgres_url: str = _f("", "PostgreSQL for the store tests (empty: they start their own)", group=TOOLS)
    keycloak_backend: str = _f("", "`testcontainers`: tests use a Keycloak container (Docker, `.[docker]`)",
                               group=TOOLS)
    keep_test_keycloak: str = _f("", "`1`: the tests leave their Keycloak running (CI runs the benchmarks on it)",
                                 group=TOOLS)
    test_cluster_base: int = _f(18443, "first port of the failover tests' topology", group=TOOLS, ge=1, le=65535)
    test_cluster_keep: str = _f("", "`1`: reuse a topology left up and leave it up", group=TOOLS)
    fuzz_examples: int = _f(300, "fuzzing depth of the file tests", group=TOOLS, ge=1)
    fuzz_api_examples: int = _f(6, "fuzzing depth of the API tests (per operation)", group=TOOLS, ge=1)
    fuzz_random: str = _f("", "`1`: a new fuzzing seed each run", group=TOOLS)
    simulation_examples: int = _f(180, "the controller simulation's budget", group=TOOLS, ge=1)
    simulation_seed: str = _f("", "replay one simulation seed", group=TOOLS)
    update_screenshots: str = _f("", "`1`: the visual tests rewrite their reference images", group=TOOLS)

    @field_validator("daily_at")
    @classmethod
    def _at(cls, v: str) -> str:
        from provisioning.domain.schedule import parse_at
        parse_at(v)  # « HH:MM »; raises ValueError with the French reason
        return v.strip()

    @field_validator("smtp_ssl")
    @classmethod
    def _one_tls(cls, v: bool, info: ValidationInfo) -> bool:
        if v and info.data.get("smtp_starttls"):
            raise ValueError("MCP_SMTP_SSL et MCP_SMTP_STARTTLS s'excluent : choisissez l'un ou l'autre")
        return v

    @field_validator("smtp_auth")
    @classmethod
    def _login_named(cls, v: bool, info: ValidationInfo) -> bool:
        if v and not info.data.get("smtp_username"):
            raise ValueError("MCP_SMTP_AUTH demande MCP_SMTP_USERNAME (et MCP_SMTP_PASSWORD)")
        return v

    @field_validator("smtp_from")
    @classmethod
    def _address(cls, v: str) -> str:
        if v.count("@") != 1 or any(c in v for c in "<>\"\r\n ,;"):
            raise ValueError("une adresse seule est attendue (ne-pas-repondre@exemple.fr), sans nom ni chevrons")
        return v

    @field_validator("env", mode="before")
    @classmethod
    def _lower(cls, v: Any) -> Any:
        return v.strip().lower() if isinstance(v, str) else v

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, _FileSecrets(settings_cls), env_settings

    # --- derived ----------------------------------------------------------------------------------------------
    @property
    def issuer_base(self) -> str:
        return (self.public_keycloak_url or self.keycloak_url).rstrip("/")

    def app(self, client_id: str, what: str) -> str:
        """A per-application setting: `app("cdap", "client_secret")` is MCP_CDAP_CLIENT_SECRET."""
        return str(getattr(self, f"{client_id}_{what}"))


def variable(name: str) -> str:
    field = Settings.model_fields[name]
    alias = field.validation_alias
    return alias.choices[0] if isinstance(alias, AliasChoices) else PREFIX + name.upper()  # type: ignore[return-value]


def _secret(name: str) -> bool:
    extra = Settings.model_fields[name].json_schema_extra
    return bool(isinstance(extra, dict) and extra.get("secret"))


class _FileSecrets(PydanticBaseSettingsSource):
    """`<VARIABLE>_FILE`: the secret is that file's content (Docker and Kubernetes secrets, files outside git).
    It wins over the variable itself."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        path = os.environ.get(variable(field_name) + "_FILE") if _secret(field_name) else None
        try:
            return (Path(path).read_text(encoding="utf-8").strip() if path else None), field_name, False
        except (OSError, UnicodeDecodeError):  # said by `read()`, with the others
            return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        out = {}
        for name in Settings.model_fields:
            value, key, _ = self.get_field_value(None, name)
            if value is not None:
                out[key] = value
        return out


def _unreadable_secret_files() -> list[Violation]:
    out = []
    for name in Settings.model_fields:
        path = os.environ.get(variable(name) + "_FILE") if _secret(name) else None
        if not path:
            continue
        try:
            Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            reason = e.strerror if isinstance(e, OSError) and e.strerror else "pas du texte UTF-8"
            out.append(Violation("FICHIER_SECRET_ILLISIBLE", f"le fichier « {path} » ne peut être lu ({reason})",
                                 variable(name) + "_FILE"))
    return out


class InvalidSettings(ProvisioningError):
    def __init__(self, violations: list[Violation]):
        super().__init__("CONFIGURATION_INVALIDE", "La configuration est refusée ; rien n'a démarré.", 500,
                         list(violations))


def known_variables() -> set[str]:
    names = {variable(n) for n in Settings.model_fields}
    return names | {v + "_FILE" for v in names if _secret(_field_of(v))}


def _field_of(var: str) -> str:
    return next(n for n in Settings.model_fields if variable(n) == var)


def unknown_variables(environ: dict[str, str] | None = None) -> list[Violation]:
    """`MCP_*` variables nobody reads: each a violation naming the closest known variable."""
    environ = dict(os.environ) if environ is None else environ
    known = known_variables()
    out = []
    for name in sorted(n for n in environ if n.startswith(PREFIX) and n not in known):
        near = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
        hint = f" : vouliez-vous dire {near[0]} ?" if near else " (docs/configuration.md liste les variables)"
        out.append(Violation("VARIABLE_INCONNUE", f"variable inconnue, lue par aucun processus{hint}", name))
    return out


def _french(err: Any) -> str:
    """pydantic's reason, for people: the kinds a setting can break."""
    ctx = err.get("ctx") or {}
    kind = err["type"]
    if kind == "int_parsing":
        return "un nombre entier est attendu"
    if kind == "float_parsing":
        return "un nombre est attendu"
    if kind == "bool_parsing":
        return "1 ou 0 (true ou false) est attendu"
    if kind == "literal_error":
        return f"valeurs acceptées : {str(ctx.get('expected', '')).replace(' or ', ' ou ')}"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        sign = {"greater_than_equal": "au moins", "greater_than": "plus de", "less_than_equal": "au plus",
                "less_than": "moins de"}[kind]
        bound = next(iter(ctx.values()), "")
        return f"{sign} {bound}"
    if kind == "value_error":
        return str(ctx.get("error", err["msg"]))
    return str(err["msg"])


def read(*, strict: bool = True) -> Settings:
    """The environment, once, validated: every fault listed (`strict`: unknown MCP_* variables too)."""
    faults = (unknown_variables() if strict else []) + _unreadable_secret_files()
    try:
        settings = Settings()
    except ValidationError as e:
        for err in e.errors():
            name = str(err["loc"][0]) if err["loc"] else "?"
            var = variable(name) if name in Settings.model_fields else name
            faults.append(Violation("VALEUR_INVALIDE", f"{_french(err)} (reçu « {str(err.get('input'))[:80]} »)", var))
        raise InvalidSettings(faults) from None
    if faults:
        raise InvalidSettings(faults)
    return settings


@functools.cache
def _at_import() -> Settings | None:
    try:
        return read(strict=False)
    except InvalidSettings:
        return None


def initial(name: str) -> Any:
    """A module's constant (claim and lease durations): the declared value, or its default when the
    configuration is refused — the process's start (`at_start`) then stops with the whole list. The environment
    is read once for all of them."""
    found = _at_import()
    return getattr(found, name) if found is not None else Settings.model_fields[name].default


def at_start(*, strict: bool = True) -> Settings:
    """`read()` for a process starting: a refused configuration ends it with the list, no traceback. The service
    catalogue it names is read now too: a faulty one stops the start the same way (issue 28)."""
    try:
        settings = read(strict=strict)
    except InvalidSettings as e:
        raise SystemExit(str(e)) from None
    from provisioning.catalogue_file import InvalidCatalogue
    from provisioning.domain import catalogue
    try:
        catalogue.current()
    except InvalidCatalogue as e:
        raise SystemExit(str(e)) from None
    return settings


def markdown() -> str:
    """The reference table of docs/configuration.md, one section per reader."""
    out: list[str] = []
    groups: dict[str, list[str]] = {}
    for name, field in Settings.model_fields.items():
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        groups.setdefault(str(extra.get("group")), []).append(name)
    for group, names in groups.items():
        out += [f"### Read by {group}", "", "| variable | default | meaning |", "|---|---|---|"]
        for name in names:
            field = Settings.model_fields[name]
            default = field.default
            shown = "unset" if default in ("", None) else f"`{str(default).lower() if isinstance(default, bool) else default}`"
            if isinstance(default, bool) and not default:
                shown = "unset"
            var = f"`{variable(name)}`" + (" (or `…_FILE`)" if _secret(name) else "")
            out.append(f"| {var} | {shown} | {field.description} |")
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    if sys.argv[1:] == ["--markdown"]:
        print(markdown(), end="")
    else:
        try:
            read()
        except InvalidSettings as e:
            print(str(e), file=sys.stderr)
            sys.exit(2)
        print("configuration acceptée")
