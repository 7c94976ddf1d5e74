"""Keep authorization codes, states and tokens out of request logs."""

from __future__ import annotations

import logging
import re

_SECRET_PARAMS = re.compile(r"((?:code|state|session_state|id_token_hint|access_token|refresh_token|logout_token)=)[^&\s\"]+")


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.args = tuple(_SECRET_PARAMS.sub(r"\1[caché]", a) if isinstance(a, str) else a for a in record.args)
        record.msg = _SECRET_PARAMS.sub(r"\1[caché]", str(record.msg))
        return True


def install() -> None:
    logging.getLogger("werkzeug").addFilter(RedactSecrets())
