"""Use cases that read as a page each; services.Provisioning keeps the older ones (being split out)."""
