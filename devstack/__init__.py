"""Local development stack: Keycloak from its Maven distribution, SMTP sink, demo data (no Docker)."""
