"""The collector's OpenAPI 3.1 document, generated from the msgspec types the decoders use."""

from __future__ import annotations

from typing import Any

import msgspec

from netcx import __version__
from netcx.adapters.collect import segment, snowplow, tag


class ErrorBody(msgspec.Struct):
    """Why a request was refused; `message` names the field (e.g. `$.batch[2].event`)."""

    code: str
    message: str


class SegmentSuccess(msgspec.Struct):
    success: bool


_REF = "#/components/schemas/{name}"


def _ref(cls: type) -> dict[str, str]:
    return {"$ref": _REF.format(name=cls.__name__)}


def _errors(*statuses: int) -> dict[str, Any]:
    text = {
        400: "Bad body; the message names the field",
        401: "Missing or unknown write key",
        413: "Body too large",
        503: "Event log unavailable; retry",
    }
    return {
        str(s): {
            "description": text[s],
            "content": {"application/json": {"schema": _ref(ErrorBody)}},
        }
        for s in statuses
    }


def openapi_document() -> dict[str, Any]:
    segment_types = list(segment.KINDS.values())
    _, components = msgspec.json.schema_components(
        [
            *segment_types,
            segment.Batch,
            snowplow.PayloadData,
            tag.TagBody,
            ErrorBody,
            SegmentSuccess,
        ],
        ref_template=_REF,
    )
    # A tp2 event is an open map of tracker parameters (string values); `e` is required.
    components["PayloadData"]["properties"]["data"]["items"] = {
        "type": "object",
        "required": ["e"],
        "properties": {
            "e": {"type": "string", "enum": list(snowplow.EVENT_TYPES)},
            **{p: {"type": "string"} for p in ("eid", "duid", "uid", "url", "page")},
            **{p: {"type": "string", "pattern": "^[0-9]{1,15}$"} for p in ("dtm", "stm", "ttm")},
        },
        "additionalProperties": {"type": ["string", "integer", "number", "boolean", "null"]},
    }
    paths: dict[str, Any] = {}
    bodies: list[tuple[str, type]] = [*segment.KINDS.items(), ("batch", segment.Batch)]
    for kind, cls in bodies:
        paths[f"/v1/{kind}"] = {
            "post": {
                "operationId": f"segment_{kind}",
                "summary": f"Segment {kind} (HTTP tracking API)",
                "security": [{"writeKey": []}],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref(cls)}},
                },
                "responses": {
                    "200": {
                        "description": "Stored durably (or a retry of a stored message)",
                        "content": {"application/json": {"schema": _ref(SegmentSuccess)}},
                    },
                    **_errors(400, 401, 413, 503),
                },
            }
        }
    paths["/com.snowplowanalytics.snowplow/tp2"] = {
        "post": {
            "operationId": "snowplow_tp2",
            "summary": "Snowplow tracker protocol v2 (POST)",
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _ref(snowplow.PayloadData)}},
            },
            "responses": {
                "200": {
                    "description": "Stored durably",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                },
                **_errors(400, 413, 503),
            },
        }
    }
    paths["/i"] = {
        "get": {
            "operationId": "snowplow_pixel",
            "summary": "Snowplow tracker protocol (GET pixel); any other tracker parameter too",
            "parameters": [
                {
                    "name": "e",
                    "in": "query",
                    "required": True,
                    "schema": {"type": "string", "enum": list(snowplow.EVENT_TYPES)},
                },
                *(
                    {"name": p, "in": "query", "required": False, "schema": {"type": "string"}}
                    for p in ("eid", "dtm", "stm", "duid", "uid", "url", "page", "refr", "cx")
                ),
            ],
            "responses": {
                "200": {
                    "description": "Stored durably; a 1x1 GIF",
                    "content": {"image/gif": {"schema": {"type": "string", "format": "binary"}}},
                },
                **_errors(400, 503),
            },
        }
    }
    paths["/v1/tag"] = {
        "post": {
            "operationId": "tag_events",
            "summary": "Events from the netcx tag; sets the first-party visitor cookie",
            "requestBody": {
                "required": True,
                "content": {
                    "text/plain": {"schema": _ref(tag.TagBody)},
                    "application/json": {"schema": _ref(tag.TagBody)},
                },
            },
            "responses": {"204": {"description": "Stored durably"}, **_errors(400, 413, 503)},
        }
    }
    paths["/tag.js"] = {
        "get": {
            "operationId": "tag_script",
            "summary": "The netcx tag script",
            "responses": {
                "200": {
                    "description": "JavaScript",
                    "content": {"text/javascript": {"schema": {"type": "string"}}},
                }
            },
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "netcx collector", "version": __version__},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "writeKey": {
                    "type": "http",
                    "scheme": "basic",
                    "description": "Segment write key as the user name, empty password",
                }
            },
        },
    }
