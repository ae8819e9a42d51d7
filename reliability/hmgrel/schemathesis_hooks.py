"""schemathesis hooks for the hostile scenario (loaded through SCHEMATHESIS_HOOKS).

The OpenAPI document describes every field's type, bounds, pattern and enum exactly. Two rules compare a request
with something a JSON Schema cannot see, and the document states them in words; these hooks keep schemathesis from
calling a request "schema-valid" when it breaks one of them:

- `POST /api/game/match`: card2Id must differ from card1Id (a comparison of two values);
- `POST /api/game/start` with `daily: true`: the difficulty and categories are today's (they change every day), so a
  valid daily start leaves them out.
"""
from __future__ import annotations

import schemathesis
from schemathesis import GenerationMode


def _breaks_a_cross_field_rule(method: str, path: str, body: object) -> bool:
    if not isinstance(body, dict):
        return False
    if (method, path) == ("POST", "/api/game/match"):
        first = body.get("card1Id")
        return first is not None and first == body.get("card2Id")
    if (method, path) == ("POST", "/api/game/start") and body.get("daily") is True:
        return body.get("difficulty") is not None or bool(body.get("categories"))
    return False


def _positive(case) -> bool:
    return case.meta is not None and case.meta.generation.mode == GenerationMode.POSITIVE


@schemathesis.hook
def filter_case(context, case) -> bool:
    if not _positive(case):
        return True
    return not _breaks_a_cross_field_rule(case.operation.method.upper(), case.operation.path, case.body)

