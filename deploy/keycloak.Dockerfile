# Keycloak built once for the production topology (issue 14): our extension, theme and realm, PostgreSQL,
# health and metrics; nodes run `start --optimized`. The jar comes from `python -m devstack build-extension`.
FROM quay.io/keycloak/keycloak:26.7.3 AS builder
ENV KC_DB=postgres KC_HEALTH_ENABLED=true KC_METRICS_ENABLED=true KC_CACHE=ispn KC_CACHE_STACK=jdbc-ping
COPY build/mcp-keycloak-extension.jar /opt/keycloak/providers/
COPY keycloak-theme/mon-compte-partenaire /opt/keycloak/themes/mon-compte-partenaire
COPY sso_demo/static/mcp-identity.css /opt/keycloak/themes/mon-compte-partenaire/login/resources/css/
COPY sso_demo/static/fonts /opt/keycloak/themes/mon-compte-partenaire/login/resources/css/fonts
RUN /opt/keycloak/bin/kc.sh build

FROM quay.io/keycloak/keycloak:26.7.3
COPY --from=builder /opt/keycloak/ /opt/keycloak/
COPY realm-config/ /opt/keycloak/data/import/
ENTRYPOINT ["/opt/keycloak/bin/kc.sh"]
