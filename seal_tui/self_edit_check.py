"""A person's edit of a self-edit, checked before it is sent: where the run's task gives a JSON
Schema for its self-edits (``RunState.self_edit_schema``; few-shot: the plan), the edit must be
JSON that satisfies it, so the M-step never trains on a plan the task would refuse.

``jsonschema`` is imported on first use: the console's first paint does not wait for it.
"""

from __future__ import annotations

import json


def schema_problem(text: str, schema: dict | None) -> str | None:
    """None when ``text`` may be sent; else why not, where in the object and what is wrong
    (e.g. ``training.learning_rate: 5 is greater than the maximum of 0.1``)."""
    if schema is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return f"not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
    from jsonschema import exceptions, validators

    try:
        errors = list(validators.validator_for(schema)(schema).iter_errors(value))
    except exceptions.SchemaError as exc:   # the run's own schema: the edit cannot be checked
        return f"the run's self-edit schema is not a valid JSON Schema ({exc.message}); reject or approve instead"
    if not errors:
        return None
    best = exceptions.best_match(errors)
    where = ".".join(str(p) for p in best.absolute_path) or "the object"
    more = f" (and {len(errors) - 1} more problem{'s' * (len(errors) > 2)})" if len(errors) > 1 else ""
    return f"{where}: {best.message}{more}"
