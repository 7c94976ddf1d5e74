"""Use cases, one module a concern; services.Provisioning composes them (base.Core holds `_mutate`)."""
