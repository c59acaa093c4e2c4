"""Secrets and other process-wide settings, read from the environment only."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from antrean.runtime.db import VAR_DIR


class SettingsError(RuntimeError):
    pass


def secret_key(environ: dict[str, str] | None = None, var_dir: Path = VAR_DIR) -> bytes:
    """The key that signs booking codes. ANTREAN_SECRET_KEY wins (every server of an office must
    share it); without it, the embedded set-up keeps a random key in var/secret_key, created once
    with owner-only permissions — never a key written in the code."""
    environ = environ if environ is not None else os.environ
    value = environ.get("ANTREAN_SECRET_KEY", "").strip()
    if value:
        if len(value) < 32:
            raise SettingsError("ANTREAN_SECRET_KEY must be at least 32 characters (e.g. `openssl rand -hex 32`)")
        return value.encode()
    path = var_dir / "secret_key"
    if not path.exists():
        var_dir.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_hex(32))
    return path.read_text().strip().encode()
