"""Read a mailbox password from where its configuration says it is kept, never from the file.

A reference is an environment variable name, or `prefect-block:NAME` for a Prefect Secret
block. Prefect is imported only when a block is asked for and its server answers.
"""

from __future__ import annotations

import os
import re

from core.errors import NotConfiguredError
from core.prefect_runtime import prefect_api_url, prefect_connection, prefect_server_reachable

PREFECT_BLOCK = "prefect-block:"
_ENVIRONMENT = re.compile(r"SMTP_[A-Z0-9_]+")


def read_secret(reference: str) -> str:
    """The secret a mailbox names: an environment variable, or 'prefect-block:NAME'."""
    reference = reference.strip()
    if reference.startswith(PREFECT_BLOCK):
        return _read_prefect_block(reference.removeprefix(PREFECT_BLOCK).strip())
    if not reference:
        raise NotConfiguredError("mailbox password: the mailbox names no secret")
    if not _ENVIRONMENT.fullmatch(reference):
        # Checked again here: a version stored before the rule must not read another setting.
        raise NotConfiguredError(
            f"mailbox password: {reference} is not an SMTP_... variable; haulflow reads "
            "mailbox passwords only from SMTP_* variables or Prefect Secret blocks"
        )
    # Not a haulflow setting: the mailbox configuration chooses the variable's name.
    value = os.environ.get(reference, "")
    if not value:
        raise NotConfiguredError(f"mailbox password: set the environment variable {reference}")
    return value


def _read_prefect_block(name: str) -> str:
    what = f"mailbox password (Prefect Secret block {name!r})"
    api_url = prefect_api_url()
    if not api_url or not prefect_server_reachable(api_url=api_url):
        where = f"no Prefect server answers at {api_url}" if api_url else "no Prefect server"
        raise NotConfiguredError(
            f"{what}: {where}; start the Prefect server, set PREFECT_API_URL to the server "
            "that holds the block, or name an environment variable instead"
        )
    with prefect_connection(api_url):
        from prefect.blocks.system import Secret
        from prefect.exceptions import ObjectNotFound

        try:
            # Forced sync: called from async code, load() would return a coroutine.
            block = Secret.load(name, _sync=True)  # type: ignore[call-arg]
        except ValueError as error:
            if not isinstance(error.__cause__, ObjectNotFound):
                raise
            raise NotConfiguredError(
                f"{what}: no such block on {api_url}; create it with "
                f"`prefect block create secret` (named {name}) or in the Prefect UI"
            ) from None
    assert isinstance(block, Secret)
    # Not block.get(): it parses JSON, so a password such as "123456" would come back an int.
    value = block.value.get_secret_value()
    if not isinstance(value, str) or not value:
        raise NotConfiguredError(f"{what}: the block must hold a non-empty text value")
    return value
