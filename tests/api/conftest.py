"""The API on a real server, a client, and tokens of each scope."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest
from sqlmodel import Session

from core.settings import get_settings
from models import Scope, utcnow
from services.tokens import create_token
from storage.folder import FolderStore
from tests.api_server import running_api
from tests.cli.conftest import run_cli  # noqa: F401  (the CLI beside the API)
from tests.mailroom import Mailroom
from tests.servers import SmtpSink

MakeClient = Callable[..., httpx.Client]


@pytest.fixture
def api_url(database_url: str) -> Iterator[str]:
    """The API served on this test's database (each engine)."""
    with running_api() as url:
        yield url


@pytest.fixture
def client(api_url: str) -> Iterator[MakeClient]:
    """`client(Scope.READ, Scope.WRITE)`: an HTTP client holding a new token of those scopes
    (named `tms`, `tms-2`… in creation order); `client()` holds none."""
    made: list[httpx.Client] = []

    def make(*scopes: Scope) -> httpx.Client:
        headers = {}
        if scopes:
            name = "tms" if not made else f"tms-{len(made) + 1}"
            _, secret = create_token(name=name, scopes=scopes, now=utcnow())
            headers["Authorization"] = f"Bearer {secret}"
        made.append(httpx.Client(base_url=api_url, headers=headers, timeout=30))
        return made[-1]

    yield make
    for each in made:
        each.close()


@pytest.fixture
def room(session: Session, smtp_sink: SmtpSink, quick_retries: None) -> Mailroom:
    """The automatic POD/CMR task configured; the folder store the API opens."""
    room = Mailroom(session, FolderStore(get_settings().resolved_documents_dir), smtp_sink)
    room.configure()
    return room
