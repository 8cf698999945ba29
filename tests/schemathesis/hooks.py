"""Schemathesis hooks for tests/schemathesis/run.

JSON Schema cannot say everything the API checks. For positive (schema-valid) cases only, these
hooks make the generated request satisfy the rules the schema cannot express, so that a `422`
for such a request is a real finding; negative cases are left untouched:

- `cursor` is opaque: only a value the server issued (X-Next-Cursor, for the same sort) is
  valid. Positive cases drop it; the cursor decoder is fuzzed by crates/domain/fuzz instead.
- `timeZone` must be an IANA name: positive cases get a real one.
- `recurringEndDate` must not be before `dueDate` (cross-field rule, also against the stored
  task on update): positive cases get them in order, and an update setting one clears the other.
- `tags`: at most 10 distinct after normalisation (repeats are fine, so the schema allows
  more entries): positive cases keep at most 10 entries.
- `status` and `completed` must agree when both are given (cross-field rule).
- `Idempotency-Key` reused with another body is a `422` by design: positive cases get a key of
  their own (a retry with the same body is tested in tests/e2e).
"""
import uuid

import schemathesis
from schemathesis import GenerationMode

ZONES = ["UTC", "America/New_York", "Europe/Paris", "Asia/Kolkata", "Australia/Lord_Howe", "Pacific/Chatham"]


def _positive(case):
    meta = getattr(case, "meta", None)
    return meta is not None and meta.generation.mode == GenerationMode.POSITIVE


def _instant_key(value):
    """A comparable form of an instant as the API reads it, or None (blank, null, unparseable)."""
    from datetime import datetime, timezone

    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace("z", "Z").replace("t", "T")
    try:
        if len(text) == 10:
            text += "T00:00:00+00:00"
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    try:
        return parsed.astimezone(timezone.utc)
    except (OverflowError, ValueError):
        return None


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    # Runs for every phase (coverage, fuzzing and the stateful chains); schemathesis
    # revalidates the case after this hook, so the checks judge what is actually sent.
    if not _positive(case):
        return
    if case.query is not None and "cursor" in case.query:
        del case.query["cursor"]
    if case.headers is not None and "Idempotency-Key" in case.headers:
        case.headers["Idempotency-Key"] = uuid.uuid4().hex
    body = case.body
    if isinstance(body, dict):
        body = dict(body)
        if isinstance(body.get("tags"), list):
            body["tags"] = body["tags"][:10]
        if "timeZone" in body and isinstance(body["timeZone"], str):
            body["timeZone"] = ZONES[len(body["timeZone"]) % len(ZONES)]
        due, end = _instant_key(body.get("dueDate")), _instant_key(body.get("recurringEndDate"))
        if due is not None and end is not None and end < due:
            body["dueDate"], body["recurringEndDate"] = body["recurringEndDate"], body["dueDate"]
        if case.method.upper() == "PUT":
            # The rule also holds against the stored task: an update that sets one of the two
            # clears the other, so the stored value cannot contradict it.
            if body.get("dueDate") not in (None, "") and "recurringEndDate" not in body:
                body["recurringEndDate"] = None
            if body.get("recurringEndDate") not in (None, "") and "dueDate" not in body:
                body["dueDate"] = None
        if "status" in body and isinstance(body.get("completed"), bool) and isinstance(body["status"], str):
            body["status"] = "completed" if body["completed"] else "pending"
        case.body = body
