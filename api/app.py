"""haulflow's HTTP API: what a TMS and a driver app call. OpenAPI at `/docs` (and `/redoc`),
their scripts served by the API itself: the pages work where no CDN can be reached.

Every route calls one use case of `services` and nothing below it, so the API and the CLI
give the same answers. Every request but `/health` carries an API token
(`Authorization: Bearer hf_…`, `haulflow tokens create`) holding the route's scope; writes
are recorded with the token's name (`api:NAME`). Errors are JSON: `{"detail": "…"}`, or for a
refused import body the list of located problems, `{"detail": [{"loc", "line", "msg"}]}`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import date
from enum import StrEnum
from typing import Annotated, Any

from fastapi import (
    Depends,
    FastAPI,
    File,
    Form,
    HTTPException,
    Query,
    Request,
    Response,
    UploadFile,
)
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi_offline import FastAPIOffline
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from sqlalchemy.exc import DataError, InterfaceError, OperationalError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.errors import (
    ConflictError,
    HaulflowError,
    InvalidEntityRefError,
    InvalidFileError,
    NotConfiguredError,
    NotFoundError,
    TooManyForRequestError,
)
from core.settings import get_settings
from core.sourcefile import parse_source
from core.text import first_unsafe, normalize_reference
from deployments.hand_runs import start_hand_run
from models import ApiToken, Category, DocumentType, TaskStatus, utcnow
from models import Scope as TokenScope
from services.documents import InvalidDocumentError, upload_document
from services.drops import NotAnS3EventError, RefusedDropError, take_in_notification, upload_url
from services.entities import EntityRef, entity_page, parse_entity_ref
from services.imports import ImportOutcome, import_entities
from services.tasks import (
    InvalidCursorError,
    archived_email,
    carrier_midnight,
    explain,
    finish,
    hand_run,
    resend,
    worklist_page,
)
from services.tokens import authenticate

# Room for a multipart envelope around a document of the largest allowed size.
MULTIPART_ROOM = 64 * 1024
BODY = "request body"
# Query and path values: printable, no control character.
_PRINTABLE = r"^[^\x00-\x1f\x7f]+$"
_WORKLIST_PARAMETERS = frozenset(
    {"status", "category", "responsible", "overdue", "documents_missing_days", "limit", "cursor"}
)
# Entities one hand-run request may cover (it answers when they are all done).
MAX_RUN_ENTITIES = 200
# An oversize body is read and dropped up to this size, for this long at most, before the
# refusal is sent; beyond, the refusal goes out while the body is still arriving (the client
# may then see a reset instead), and a client that announced a body it does not send waits
# no longer than that either.
DISCARDED_AT_MOST = 256 * 1024 * 1024
DISCARD_SECONDS = 5.0


def _one_line(value: str) -> str:
    if (unsafe := first_unsafe(value)) is not None:
        raise ValueError(f"holds {unsafe}; give one line of text")
    return value


# Text fields: what a database column can hold and a history line can show. The lengths
# are checked before the line rule, so that a 5,000-character value is named as too long.
OneLine = Annotated[str, AfterValidator(_one_line)]
EntityText = Annotated[str, Field(min_length=1, max_length=80), AfterValidator(_one_line)]
UsernameText = Annotated[str, Field(min_length=1, max_length=100), AfterValidator(_one_line)]
NoteText = Annotated[str, Field(max_length=2000), AfterValidator(_one_line)]
AddressText = Annotated[str, Field(max_length=254), AfterValidator(_one_line)]


class Entities(StrEnum):
    ORDERS = "orders"
    BOOKINGS = "bookings"
    TRIPS = "trips"
    INVOICES = "invoices"


class UploadTargets(StrEnum):
    ORDERS = "orders"
    TRIPS = "trips"


class UploadUrlIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: DocumentType
    filename: OneLine = Field(default="scan.pdf", min_length=1, max_length=200)
    size: int = Field(
        ge=1, description="The scan's size in bytes: the URL takes a body of exactly that length."
    )
    stop: int | None = Field(default=None, ge=1, le=999, description="Trip stop number.")


class Outcomes(StrEnum):
    DONE = "done"
    SKIP = "skip"


class FinishIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tasks: list[OneLine] = Field(
        min_length=1, max_length=500, description="Task ids or 8+ digit prefixes."
    )
    by: OneLine = Field(min_length=1, max_length=100, description="The haulflow username.")
    note: NoteText | None = None


class RunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task_key: OneLine = Field(min_length=1, max_length=100, description="e.g. send-pod")
    entities: list[EntityText] = Field(
        default=[],
        max_length=MAX_RUN_ENTITIES,
        description="CATEGORY:REF, e.g. order:ORD-1001; or give created_before.",
    )
    created_before: date | None = Field(
        default=None,
        description="Every entity created before this day (carrier's time); or give entities.",
    )
    dry_run: bool = False
    by: UsernameText | None = Field(
        default=None, description="The haulflow username (not for a dry run)."
    )

    @model_validator(mode="after")
    def _one_target(self) -> RunIn:
        if bool(self.entities) == (self.created_before is not None):
            raise ValueError("give either entities or created_before (one of the two)")
        return self


class ResendIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    by: OneLine = Field(min_length=1, max_length=100, description="The haulflow username.")
    to: AddressText | None = Field(default=None, description="Another address.")


def create_app() -> FastAPI:
    """The API, reading its settings (database, store, limits) from the environment."""
    app = FastAPIOffline(
        title="haulflow",
        summary="Task automation for road-freight carriers: entities, documents, tasks.",
        version="1",
    )
    app.add_middleware(BodyLimit)
    app.add_middleware(RequestLog)  # the outermost: refused bodies are logged too
    _add_error_handlers(app)
    _add_routes(app)
    return app


def _add_routes(app: FastAPI) -> None:
    @app.get("/health", tags=["service"])
    def health() -> dict[str, str]:
        """Whether the API answers (no token needed)."""
        return {"status": "ok"}

    @app.post(
        "/entities",
        tags=["entities"],
        openapi_extra={"requestBody": _IMPORT_BODY},
        responses={422: {"description": "Located problems; nothing was written."}},
    )
    async def upsert_entities(
        request: Request, token: Annotated[ApiToken, Depends(require(TokenScope.WRITE))]
    ) -> dict[str, Any]:
        """Upsert parties, users, orders, bookings, trips and invoices by reference, all or
        nothing, exactly as `haulflow import` does with a file of the same shape; then
        generate the tasks of the new entities and reschedule those of the changed ones."""
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            raise HTTPException(415, "send the entities as JSON (Content-Type: application/json)")
        text = _decode(await request.body())
        source = parse_source(text, file=BODY, json_mode=True)
        if source.data is None and not source.problems:
            raise HTTPException(422, 'the body is empty: send {"orders": [...], ...}')
        outcome = await run_in_threadpool(import_entities, source, by=_by(token))
        return _import_result(outcome)

    @app.post(
        "/{target}/{reference}/documents",
        tags=["documents"],
        status_code=201,
        responses={200: {"description": "The same bytes were recorded before; nothing changed."}},
    )
    async def upload(
        target: UploadTargets,
        reference: str,
        doc_type: Annotated[DocumentType, Form(alias="type", description="pod, cmr or other")],
        file: Annotated[UploadFile, File(description="The PDF or image scan.")],
        token: Annotated[ApiToken, Depends(require(TokenScope.WRITE))],
        response: Response,
        stop: Annotated[int | None, Form(description="Trip stop number.")] = None,
    ) -> dict[str, Any]:
        """Record a POD, CMR or other scan for an order (or a trip stop), as `haulflow
        documents upload` does: the tasks it completes are sent at once."""
        limit = get_settings().max_document_bytes
        data = await file.read(limit + 1)
        if len(data) > limit:
            raise HTTPException(413, f"the file is larger than the limit of {limit:,} bytes")
        ref = _ref(target.value, reference)
        intake, _ = await run_in_threadpool(
            upload_document,
            ref=ref,
            doc_type=doc_type,
            data=data,
            filename=file.filename or "upload",
            source=_by(token),
            stop=stop,
        )
        result, document = intake.result, intake.result.document
        if not result.created:
            response.status_code = 200
        return {
            "created": result.created,
            "order": result.order_reference,
            "document": {
                "id": str(document.id),
                "type": document.type,
                "sha256": document.sha256,
                "size": document.size,
                "filename": document.filename,
            },
            "tasks_ready": len(intake.opened),
            "corrections": [str(correction) for correction in intake.corrections],
        }

    @app.post("/{target}/{reference}/upload-url", tags=["documents"], status_code=201)
    async def signed_upload(
        target: UploadTargets,
        reference: str,
        body: UploadUrlIn,
        token: Annotated[ApiToken, Depends(require(TokenScope.WRITE))],
    ) -> dict[str, Any]:
        """A signed URL a driver app PUTs one scan of the `size` it declared to, straight
        into the bucket's inbox (S3 store only): a size over the limit is refused here (422),
        a body of another length by the bucket. The bucket's notification then records it as
        any inbox drop; a scan that is not a PDF/image is refused there (`haulflow documents
        drops`)."""
        signed = await run_in_threadpool(
            upload_url,
            ref=_ref(target.value, reference),
            doc_type=body.type,
            filename=body.filename,
            size=body.size,
            stop=body.stop,
        )
        return {
            "method": "PUT",
            "url": signed.url,
            "headers": {"Content-Length": str(body.size)},
            "key": signed.key,
            "expires_at": signed.expires_at.isoformat(),
            "max_bytes": get_settings().max_document_bytes,
        }

    @app.post(
        "/notifications/s3",
        tags=["documents"],
        openapi_extra={"requestBody": _EVENT_BODY},
        responses={503: {"description": "Some drops failed for now: push the event again."}},
    )
    async def bucket_notification(
        request: Request, token: Annotated[ApiToken, Depends(require(TokenScope.WRITE))]
    ) -> JSONResponse:
        """An S3 event notification pushed by the bucket (MinIO's webhook target, with a
        write token as its `auth_token`): each inbox drop it announces is recorded, waits for
        its entity, or is refused, exactly as `haulflow listen` does with a queued message."""
        text = _decode(await request.body())
        report = await run_in_threadpool(take_in_notification, text)
        answer = {
            "recorded": [drop.key for drop in report.recorded],
            "already_recorded": report.already_recorded,
            "pending": report.pending,
            "refused": report.refused,
            "retry": report.retried,
        }
        return JSONResponse(answer, status_code=503 if report.retried else 200)

    @app.get("/{entities}/{reference}/tasks", tags=["tasks"])
    async def entity_tasks(
        entities: Entities,
        reference: str,
        token: Annotated[ApiToken, Depends(require(TokenScope.READ))],
    ) -> dict[str, Any]:
        """The entity's page: its status history and its tasks, each with its history and
        e-mails, as `haulflow tasks list CATEGORY:REF --json` prints it."""
        page = await run_in_threadpool(entity_page, _ref(entities.value, reference))
        return page.to_json()

    @app.get("/tasks", tags=["tasks"])
    async def tasks(
        request: Request,
        token: Annotated[ApiToken, Depends(require(TokenScope.READ))],
        status: Annotated[list[TaskStatus] | None, Query(description="Repeat for several.")] = None,
        category: Category | None = None,
        responsible: Annotated[
            str | None,
            Query(
                max_length=110,
                pattern=_PRINTABLE,
                description="USERNAME, user:USERNAME, team:KEY or role:KEY.",
            ),
        ] = None,
        overdue: Annotated[bool, Query(description="Due before today, unfinished.")] = False,
        documents_missing_days: Annotated[int | None, Query(ge=0, le=3650)] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        cursor: Annotated[
            str | None, Query(max_length=300, description="`next` of the page before.")
        ] = None,
    ) -> dict[str, Any]:
        """A worklist across entities, soonest due first, a page at a time: pass the answer's
        `next` as `cursor` for the following page (`next` is null on the last)."""
        unknown = sorted(set(request.query_params) - _WORKLIST_PARAMETERS)
        if unknown:
            # An ignored parameter (`next=` for `cursor=`) would repeat the first page forever.
            raise HTTPException(
                422,
                f"unknown parameter(s) {', '.join(unknown)}; known: "
                f"{', '.join(sorted(_WORKLIST_PARAMETERS))}",
            )
        page = await run_in_threadpool(
            worklist_page,
            statuses=status or [],
            category=category,
            responsible=responsible,
            overdue=overdue,
            documents_missing_days=documents_missing_days,
            limit=limit,
            cursor=cursor,
        )
        return {"tasks": [row.to_json() for row in page.rows], "next": page.next_cursor}

    @app.post("/tasks/{outcome}", tags=["tasks"])
    async def finish_tasks(
        outcome: Outcomes,
        body: FinishIn,
        token: Annotated[ApiToken, Depends(require(TokenScope.WRITE))],
    ) -> dict[str, Any]:
        """Mark tasks done or skipped by a haulflow user, all or none (409 names each task
        that cannot be, and nothing changes)."""
        finished = await run_in_threadpool(
            finish,
            task_ids=body.tasks,
            outcome="done" if outcome is Outcomes.DONE else "skip",
            by=body.by,
            note=body.note,
            via=_by(token),
        )
        return {
            "tasks": [
                {"id": str(task.id), "label": label, "status": task.status}
                for task, label in finished
            ]
        }

    @app.post(
        "/runs",
        tags=["tasks"],
        responses={
            202: {"description": "More than 200 entities: started as a Prefect flow run."},
            503: {"description": "The Prefect server or the hand-run deployment is away."},
        },
    )
    async def run_by_hand(
        body: RunIn, token: Annotated[ApiToken, Depends(require(TokenScope.READ))]
    ) -> JSONResponse:
        """Send an e-mail task by hand, for entities created before the automation: to the
        entities named, or to all created before a day; `dry_run` shows who would receive
        what and sends nothing (scope read; a real run needs send). A task already sent is
        left alone. Up to 200 entities are sent within the request (200, what was done); more
        (a day with more older entities) start the category's hand-run deployment on the
        Prefect server (202, the flow run to follow in the Prefect UI)."""
        if not body.dry_run:
            _need(token, TokenScope.SEND)
            if not body.by:
                raise HTTPException(422, "by: give the haulflow username the sends are recorded as")
        refs = [parse_entity_ref(entity) for entity in body.entities]
        try:
            result = await run_in_threadpool(
                hand_run,
                key=body.task_key,
                refs=refs,
                created_before=carrier_midnight(body.created_before)
                if body.created_before
                else None,
                dry_run=body.dry_run,
                by=body.by or "dry-run",
                at_most=MAX_RUN_ENTITIES,
                via=_by(token),
            )
        except TooManyForRequestError as error:
            if body.created_before is None:
                raise
            if not body.by:
                # The hand-run form records who asked, dry run or not.
                raise HTTPException(
                    422,
                    f"by: {error.total:,} {error.category}s run as a Prefect hand run, which "
                    "records who asked: give the haulflow username, even for a dry run",
                ) from None
            started = await run_in_threadpool(
                start_hand_run,
                category=Category(error.category),
                task_key=body.task_key,
                requested_by=body.by,
                created_before=body.created_before,
                dry_run=body.dry_run,
                via=_by(token),
            )
            return JSONResponse(
                {
                    "flow_run": started.to_json(),
                    "entities": error.total,
                    "detail": f"{error.total:,} {error.category}s match, more than "
                    f"{MAX_RUN_ENTITIES} per request: started as the Prefect run "
                    f"{started.name} of {started.deployment}; follow it in the Prefect UI",
                },
                status_code=202,
            )
        return JSONResponse(result.to_json())

    @app.post("/tasks/{task_id}/resend", tags=["tasks"])
    async def resend_task(
        task_id: Annotated[str, PathParam(max_length=64, pattern=_PRINTABLE)],
        body: ResendIn,
        token: Annotated[ApiToken, Depends(require(TokenScope.SEND))],
    ) -> JSONResponse:
        """Send a done task's e-mails again on purpose, recorded with who asked. When the mail
        server refuses one, the e-mails before it went out (listed) and the answer is 422 for
        a permanent refusal (fix the recipients or the mailbox) or 503 for a temporary one."""
        resent = await run_in_threadpool(
            resend, task_id=task_id, by=body.by, to=body.to, via=_by(token)
        )
        sent = [asdict(email) | {"task_id": str(email.task_id)} for email in resent.sent]
        problem = resent.problem()
        if problem is None:
            return JSONResponse({"sent": sent, "detail": None})
        if resent.failure is not None and resent.failure.permanent:
            return JSONResponse({"sent": sent, "detail": problem}, status_code=422)
        return JSONResponse(
            {"sent": sent, "detail": problem}, status_code=503, headers={"Retry-After": "300"}
        )

    @app.get("/{entities}/{reference}/tasks/{task_key}/explanation", tags=["tasks"])
    async def explanation(
        entities: Entities,
        reference: str,
        task_key: Annotated[str, PathParam(max_length=64, pattern=_PRINTABLE)],
        token: Annotated[ApiToken, Depends(require(TokenScope.READ))],
        connect: Annotated[bool, Query(description="Try the mailbox's SMTP server.")] = False,
    ) -> dict[str, Any]:
        """Why the task sent its e-mail or did not: each check, and what to do (as `haulflow
        explain TASK_KEY CATEGORY:REF --json`)."""
        found = await run_in_threadpool(
            explain, key=task_key, ref=_ref(entities.value, reference), probe_smtp=connect
        )
        return found.to_json()

    @app.get(
        "/communications/{communication_id}/eml",
        tags=["communications"],
        response_class=Response,
        responses={200: {"content": {"message/rfc822": {}}}},
    )
    async def archived(
        communication_id: Annotated[str, PathParam(max_length=64, pattern=_PRINTABLE)],
        token: Annotated[ApiToken, Depends(require(TokenScope.READ))],
    ) -> Response:
        """An e-mail exactly as it was sent, checked against the sha256 taken then (409 when
        the archive was altered)."""
        row, data = await run_in_threadpool(archived_email, communication_id)
        disposition = f'attachment; filename="{row.id}.eml"'
        return Response(
            data, media_type="message/rfc822", headers={"Content-Disposition": disposition}
        )


def _need(token: ApiToken, scope: TokenScope) -> None:
    if scope not in token.scope_set:
        raise HTTPException(
            403,
            f"token {token.name!r} has scope(s) {token.scopes}; this needs {scope.value}: "
            f"create a token with --scope {scope.value}",
        )


def require(scope: TokenScope) -> Callable[..., Awaitable[ApiToken]]:
    """A dependency: the request's token, which must be live and hold `scope`."""

    async def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)],
    ) -> ApiToken:
        if credentials is None:
            raise _unauthorized(
                "give an API token: Authorization: Bearer hf_… (see `haulflow tokens create`)"
            )
        token = await run_in_threadpool(authenticate, credentials.credentials, now=utcnow())
        if token is None:
            raise _unauthorized("unknown or revoked API token")
        request.state.token = token.name  # for the request log
        _need(token, scope)
        return token

    return dependency


_BEARER = HTTPBearer(auto_error=False, description="An API token from `haulflow tokens create`.")


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(401, message, headers={"WWW-Authenticate": "Bearer"})


def _by(token: ApiToken) -> str:
    return f"api:{token.name}"


def _ref(plural: str, reference: str) -> EntityRef:
    try:
        normalized = normalize_reference(reference)
    except ValueError as error:
        raise HTTPException(422, str(error)) from None
    return EntityRef(Category(plural.removesuffix("s")), normalized)


def _decode(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise HTTPException(
            422, f"the body is not UTF-8 (byte {error.start}): send UTF-8 JSON"
        ) from None


def _import_result(outcome: ImportOutcome) -> dict[str, Any]:
    counts = {
        kind: {"created": c.created, "updated": c.updated, "unchanged": c.unchanged}
        for kind, c in outcome.report.counts.items()
        if c.created or c.updated or c.unchanged
    }
    generated = {
        category.value: {
            "created": report.created,
            "already_present": report.already_present,
            "not_matching": report.not_matching,
        }
        for category, report in outcome.generated.items()
    }
    drops = outcome.drops
    return {
        "counts": counts,
        "tasks_generated": generated,
        "tasks_rescheduled": outcome.rescheduled,
        "inbox_drops_recorded": [o.key for o in drops.recorded] if drops else [],
    }


_IMPORT_BODY: dict[str, Any] = {
    "required": True,
    "description": "The shape of an import file: a mapping of sections, each a list of items "
    "(README, Importing entities).",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    section: {"type": "array", "items": {"type": "object"}}
                    for section in (
                        "parties",
                        "users",
                        "orders",
                        "bookings",
                        "trips",
                        "invoices",
                    )
                },
                "additionalProperties": False,
            },
            "example": {"orders": [{"reference": "ORD-1001", "customer": "ACME"}]},
        }
    },
}

_EVENT_BODY: dict[str, Any] = {
    "required": True,
    "description": 'An S3 event notification: `{"Records": [{"eventName": '
    '"s3:ObjectCreated:Put", "s3": {"bucket": {"name": …}, "object": '
    '{"key": …, "size": …}}}]}`',
    "content": {"application/json": {"schema": {"type": "object"}}},
}

_STATUS = {
    NotFoundError: 404,
    ConflictError: 409,
    InvalidDocumentError: 422,
    InvalidEntityRefError: 422,
    NotConfiguredError: 503,
    NotAnS3EventError: 422,
    InvalidCursorError: 422,
    RefusedDropError: 422,
}


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(InvalidFileError)
    async def refused_body(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, InvalidFileError)
        problems = [
            {"loc": ["body", *problem.loc], "line": problem.line, "msg": problem.message}
            for problem in error.problems
        ]
        return JSONResponse({"detail": problems}, status_code=422)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: Exception) -> JSONResponse:
        # FastAPI's answer without the `input` it echoes: a 5,000-character value (or a
        # whole body) is not sent back; where and what is enough to correct it.
        assert isinstance(error, RequestValidationError)
        problems = [
            {"type": problem["type"], "loc": list(problem["loc"]), "msg": problem["msg"]}
            for problem in error.errors()
        ]
        return JSONResponse({"detail": problems}, status_code=422)

    @app.exception_handler(HaulflowError)
    async def refused(request: Request, error: Exception) -> JSONResponse:
        status = next((code for kind, code in _STATUS.items() if isinstance(error, kind)), 400)
        return JSONResponse({"detail": str(error)}, status_code=status)

    @app.exception_handler(DataError)
    async def unstorable(request: Request, error: Exception) -> JSONResponse:
        # A value the database cannot hold (a NUL character in PostgreSQL text) that no
        # check caught before: the request's fault, said without the database's words.
        return JSONResponse(
            {"detail": "a value holds a character the database cannot store; remove it"},
            status_code=422,
        )

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    async def database_down(request: Request, error: Exception) -> JSONResponse:
        return JSONResponse(
            {"detail": "the database does not answer; try again later"}, status_code=503
        )


request_log = logging.getLogger("haulflow.api")


class RequestLog:
    """One line per request, once answered: client, method, path, status, milliseconds and
    the token's name (`-` before or without one). Query strings are left out: they are
    filters, not needed to trace a call, and kept out of log files."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # an exception that escapes every handler

        async def answered(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, answered)
        finally:
            client = scope.get("client")
            request_log.info(
                "%s %s %s %d %.0f ms token=%s",
                client[0] if client else "-",
                scope["method"],
                scope["path"],
                status,
                (time.perf_counter() - started) * 1000,
                scope.get("state", {}).get("token", "-"),
            )


class BodyLimit:
    """Refuse a body over the limit before reading it: a document's limit plus a multipart
    envelope on upload routes, the import limit elsewhere. Bodies must say their length
    (`Content-Length`); h11 then delivers exactly that many bytes."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        settings = get_settings()
        if scope["path"].endswith("/documents"):
            limit = settings.max_document_bytes + MULTIPART_ROOM
            setting = "HAULFLOW_MAX_DOCUMENT_BYTES, plus 64 KB of multipart envelope"
        else:
            limit, setting = settings.max_import_bytes, "HAULFLOW_MAX_IMPORT_BYTES"
        length = headers.get(b"content-length")
        if length is None or not length.isdigit():
            if headers.get(b"transfer-encoding") is None:
                await self.app(scope, receive, send)  # no body at all
                return
            await _drain(receive)
            await _answer(
                send, 411, "say the body's length (Content-Length); chunked bodies are not accepted"
            )
            return
        if int(length) > limit:
            await _drain(receive)
            await _answer(
                send,
                413,
                f"the body has {int(length):,} bytes; the limit here is {limit:,} ({setting})",
            )
            return
        await self.app(scope, receive, send)


async def _drain(receive: Receive) -> None:
    """Read and drop what the client sends before a refusal (up to a bound): a client still
    writing when the connection closes sees a reset, not the answer."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(DISCARD_SECONDS):
            await _discard(receive, DISCARDED_AT_MOST)


async def _discard(receive: Receive, at_most: int) -> None:
    dropped = 0
    while dropped <= at_most:
        message = await receive()
        if message["type"] != "http.request":
            return
        dropped += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


async def _answer(send: Send, status: int, message: str) -> None:
    response = JSONResponse({"detail": message}, status_code=status)
    body = response.body
    start: Message = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ],
    }
    await send(start)
    await send({"type": "http.response.body", "body": body})
