"""OpenAPI 3.1 document of the identity, consent and privacy routes, generated from the
msgspec types the routes decode and answer with."""

from __future__ import annotations

from typing import Any

import msgspec

from netcx import __version__
from netcx.domain.consent import ConsentDecision, Purpose
from netcx.entrypoints.http.consent import DecisionBody, RevokeBody
from netcx.entrypoints.http.profiles import RecogniseBody, UnmergeBody
from netcx.services.identity import ProfileContext


class ErrorBody(msgspec.Struct):
    """Why a request was refused; the message names the field."""

    error: str


class Retracted(msgspec.Struct):
    retracted: int


class ErasureReceipt(msgspec.Struct):
    receipt: str
    erased: dict[str, int]


_REF = "#/components/schemas/{name}"
_OBJECT: dict[str, Any] = {"type": "object"}


def _ref(cls: type) -> dict[str, str]:
    return {"$ref": _REF.format(name=cls.__name__)}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _answers(ok: dict[str, Any], *errors: int) -> dict[str, Any]:
    text = {
        400: "Bad input; the message names the field",
        401: "Missing or unknown API key",
        404: "No such profile or link",
        503: "Store unavailable; retry",
    }
    out = {"200": _json(ok, "OK")}
    out.update({str(s): _json(_ref(ErrorBody), text[s]) for s in (*errors, 401, 503)})
    return out


_SUBJECT_SCHEMA = {
    "type": "string",
    "pattern": (
        r"^((vi|dv|ln|sb|hh|ac)[0-9A-Za-z]+_[0-9a-f]{24}"
        r"|(visitor|device|line|subscriber|household|account):[A-Za-z0-9._-]{1,64})$"
    ),
}


def _param(
    name: str,
    where: str,
    description: str,
    required: bool = True,
    schema: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "required": required,
        "description": description,
        "schema": schema or {"type": "string", "minLength": 1, "maxLength": 128},
    }


_SUBJECT = _param(
    "subject", "path", "A pseudonym (vi1_…) or kind:id (visitor:abc)", schema=_SUBJECT_SCHEMA
)
_ID = _param(
    "id",
    "path",
    "A pseudonym (vi1_…) or kind:id (visitor:abc, account:A1)",
    schema=_SUBJECT_SCHEMA,
)
_PURPOSE = _param(
    "purpose",
    "path",
    "The purpose",
    schema={"enum": [p.value for p in Purpose]},
)


def _body(cls: type) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": _ref(cls)}}}


def openapi_document() -> dict[str, Any]:
    _, components = msgspec.json.schema_components(
        [
            RecogniseBody,
            UnmergeBody,
            DecisionBody,
            RevokeBody,
            ConsentDecision,
            ProfileContext,
            ErrorBody,
            Retracted,
            ErasureReceipt,
        ],
        ref_template=_REF,
    )
    paths: dict[str, Any] = {
        "/v1/recognitions": {
            "post": {
                "summary": "Recognise a visitor for a purpose (consent-gated)",
                "requestBody": _body(RecogniseBody),
                "responses": _answers(_OBJECT, 400),
            }
        },
        "/v1/profiles/{id}/context": {
            "get": {
                "summary": "Recognition, evidence, consent and recent intents of a profile",
                "parameters": [
                    _ID,
                    _param(
                        "purpose",
                        "query",
                        "The caller's purpose",
                        required=False,
                        schema={"enum": [p.value for p in Purpose]},
                    ),
                ],
                "responses": _answers(_ref(ProfileContext), 400, 404),
            }
        },
        "/v1/profiles/{id}/unmerge": {
            "post": {
                "summary": "Undo a wrong link between a visitor and a node",
                "parameters": [_ID],
                "requestBody": _body(UnmergeBody),
                "responses": _answers(_ref(Retracted), 400, 404),
            }
        },
        "/v1/consent/{subject}/{purpose}": {
            "put": {
                "summary": "Record a consent decision",
                "parameters": [_SUBJECT, _PURPOSE],
                "requestBody": _body(DecisionBody),
                "responses": _answers(_ref(ConsentDecision), 400),
            },
            "delete": {
                "summary": "Revoke consent for a purpose (in force at once)",
                "parameters": [_SUBJECT, _PURPOSE],
                "requestBody": {
                    "required": False,
                    "content": {"application/json": {"schema": _ref(RevokeBody)}},
                },
                "responses": _answers(_ref(ConsentDecision), 400),
            },
        },
        "/v1/consent/{subject}": {
            "get": {
                "summary": "Decisions in force per purpose and the history",
                "parameters": [_SUBJECT],
                "responses": _answers(_OBJECT, 400),
            }
        },
        "/v1/subjects/{id}/export": {
            "get": {
                "summary": "Everything held about a subject (GDPR Art. 15/20)",
                "parameters": [_ID],
                "responses": _answers(_OBJECT, 400),
            }
        },
        "/v1/subjects/{id}": {
            "delete": {
                "summary": "Erase a subject from every store (GDPR Art. 17)",
                "parameters": [_ID],
                "responses": _answers(_ref(ErasureReceipt), 400),
            }
        },
        "/v1/audit": {
            "get": {
                "summary": "Audit records, oldest first",
                "parameters": [
                    _param(
                        "subject",
                        "query",
                        "One subject (default: all)",
                        required=False,
                        schema=_SUBJECT_SCHEMA,
                    ),
                    {
                        "name": "since_ms",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 0},
                    },
                    {
                        "name": "limit",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 1, "maximum": 10000},
                    },
                ],
                "responses": _answers(_OBJECT, 400),
            }
        },
        "/v1/retention/purge": {
            "post": {
                "summary": "Delete what is past its retention period, per data kind",
                "responses": _answers(_OBJECT),
            }
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "netcx identity, consent and privacy API", "version": __version__},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"apiKey": []}],
    }
