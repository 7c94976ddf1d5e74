"""Where the local stack keeps things: downloads outside the work tree, run state inside it (git-ignored)."""

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
STATE_DIR = Path(os.environ.get("MCP_STATE_DIR", REPO_ROOT / ".run"))
CACHE_DIR = Path(os.environ.get("MCP_CACHE_DIR", Path.home() / ".cache" / "mon-compte-partenaire"))
