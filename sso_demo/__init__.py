"""The portal and the CDAP and AFAS applications: three OIDC relying parties of the realm (R1, R2, R6, R17)."""
