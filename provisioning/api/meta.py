"""Health and the served OpenAPI document."""

from pathlib import Path

import yaml
from flask import Blueprint, jsonify

bp = Blueprint("meta", __name__)
PUBLIC_ENDPOINTS = {"meta.openapi", "meta.health", "static"}
_SPEC = Path(__file__).with_name("openapi.yaml")


@bp.get("/openapi.json")
def openapi():
    return jsonify(yaml.safe_load(_SPEC.read_text(encoding="utf-8")))


@bp.get("/health")
def health():
    return jsonify({"status": "ok"})
