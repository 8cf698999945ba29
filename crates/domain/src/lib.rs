//! Pure domain logic of todo-backend: no I/O, no Spin SDK. Compiled natively (unit and
//! property tests) and to `wasm32-wasip2` by the components.
//!
//! Modules:
//! - [`error`]: [`error::FieldError`], the FastAPI-shaped `422` item (serialised by derive).
//! - [`task`]: enums, validated values ([`task::Title`], [`task::Description`], [`task::Tags`],
//!   [`task::TimeZone`]), instants ([`task::parse_instant`], [`task::format_instant`]) and the
//!   stored [`task::Task`] with its JSON shape and the pending <-> completed toggle.
//! - [`input`]: create/update bodies ([`input::parse_new_task`], [`input::parse_task_changes`])
//!   and [`input::apply_changes`].
//! - [`event`]: the CloudEvents 1.0 [`event::EventEnvelope`] (builders per topic, strict
//!   parse, the realtime SSE payload).
//! - [`recurrence`]: occurrence arithmetic anchored to the series, time-zone aware, and
//!   [`recurrence::successor`] (the next occurrence as a new task).
//! - [`listing`]: list query parameters, the keyset [`listing::Cursor`], and the reference
//!   order/filter semantics (with SQL spellings of them) that the list query must reproduce.
//!
//! # Decisions (the contract is `API.md`; these fill its gaps)
//!
//! **Strings.** `title` is trimmed and must then be 1-255 characters (Unicode scalar values,
//! not bytes). `description` is trimmed, at most 1000 characters; an empty or all-whitespace
//! description means "no description" and is stored and returned as `null` (on update `""`
//! clears it, like `null`). No stored string may contain NUL (`\u0000`): PostgreSQL `text`
//! cannot hold it, so it is a `422`, never a database error.
//!
//! **Tags.** Each tag is trimmed and lower-cased, then must be 1-50 characters; duplicates are
//! removed keeping the first occurrence's position; the limit of 10 applies to the distinct
//! normalised tags (so `["a","A"," a "]` is one tag). A bad element is reported at
//! `["body","tags","<index>"]`; too many at `["body","tags"]`. `tags` must be an array of
//! strings; `null` means none on create and "clear" on update.
//!
//! **Enums** (`priority`, `category`, `status`, `recurringRule`, sort parameters) are matched
//! case-insensitively after trimming; an unknown value is a `422` of type `enum` whose message
//! lists the accepted values. For `recurringRule`, `""` and `"none"` mean "not recurring".
//!
//! **Instants.** Inputs: RFC 3339 with any offset, converted to UTC and truncated to
//! microseconds (PostgreSQL precision). For compatibility with the seed (pydantic) a date-time
//! without offset is taken as UTC, and a bare `YYYY-MM-DD` as midnight UTC. `""` means `null`
//! for `dueDate`, `reminderAt`, `recurringEndDate`. A leap second (`23:59:60`) is folded into
//! the next minute, as PostgreSQL does. Outputs: always `...T..:..:..mmmZ` (milliseconds).
//!
//! **Time zone.** `timeZone` is an IANA name, matched exactly and then case-insensitively,
//! returned canonically; absent, `null` or `""` means UTC on create; on update `null` means
//! unchanged and `""` resets to UTC. Unknown names are a `422`.
//!
//! **Create.** Unknown fields are ignored (FastAPI default). `null` for an optional field is
//! the same as absent. `status`/`completed` are ignored on create: a new task is pending.
//! `recurringEndDate` before `dueDate` is a `422` at `["body","recurringEndDate"]` (equal is
//! allowed: the end is inclusive); without a `dueDate` it is not compared with anything (the
//! domain has no clock; such a series simply ends early). All field errors of a body are
//! reported together. [`input::NewTask::into_task`] builds the stored task (pending, version 1,
//! occurrence 0).
//!
//! **Update** (partial). Absent = unchanged; `null` = cleared for nullable fields. For fields
//! that cannot be null (`title`, `priority`, `category`, `timeZone`, `completed`, `status`),
//! `null` means unchanged, as the seed's all-optional update model did. `completed` (bool) and
//! `status` may change the status (the seed allowed it); given together they must agree.
//! [`input::apply_changes`] checks cross-field rules on the merged task, resets `reminderSent`
//! when `reminderAt` gets a different value, maintains `completedAt`, and reports only fields
//! whose value really changed. If nothing changed the task is returned untouched (same
//! `updatedAt` and `version`); otherwise `updatedAt = now` and `version += 1`.
//!
//! **Toggle.** [`task::Task::toggle`] sets `completedAt` when completing and clears it when
//! reopening, sets `updatedAt = now`, increments `version`, and returns the changed fields
//! (`status`, `completed`, `completedAt`) for the `task-updated` event.
//!
//! **Listing.** `limit` outside 1..=500 is a `422` (not clamped). `all` or an empty value for
//! `status`/`priority`/`category` means no filter. `sort_by` accepts camelCase and snake_case.
//! Tasks without a due date sort last in both orders; titles sort as people read them (case
//! and accents ignored: [`listing::compare_titles`]); ties by id in the same direction. `due_before`/`due_after` are inclusive. The cursor is
//! base64url of `{"s","o","k","i"}` (instant keys as microseconds since the epoch) and is
//! rejected (`422` at `["query","cursor"]`) when malformed, inconsistent, or used with another
//! `sort_by`/`sort_order` than it was made for. See the [`listing`] module doc.
//!
//! **Events.** Builders give each event a fresh UUIDv7 id and `time = now` truncated to
//! milliseconds (the wire precision), `source = "backend-api"` unless replaced with
//! `with_source`. The inner data is `task_id` + the full task snapshot (`Task::to_json`
//! fields); `task-updated` adds `before`/`after` objects and `changed_fields`; `reminder-due`
//! adds `notification`. `EventEnvelope::parse` is strict about the envelope (spec version,
//! uuid id, known type, `data.event_id`/`event_type` equal to `id`/`type`, non-empty user id,
//! 1 MiB limit) but ignores extension attributes. A snapshot parsed back with
//! `Task`'s `Deserialize` has millisecond precision (the wire format's).
//!
//! **Recurrence.** Occurrence `n` is computed from the series anchor (the root's `dueDate`, or
//! its `createdAt` if it has none: [`task::Task::own_anchor`]), in the task's time zone, at
//! the anchor's local wall-clock time: monthly/yearly clamp the anchor's local day to the
//! month's length. Nonexistent local times move forward to the end of the gap; ambiguous ones
//! take the earlier instant. `recurringEndDate` is inclusive. The successor's reminder keeps
//! its offset to the due date; its `parentTaskId` is the series root; `occurrenceIndex` is the
//! predecessor's + 1 (the natural unique key for "one successor per occurrence" is
//! `(root id, occurrence_index)`). Because the arithmetic needs the anchor, a consumer must be
//! able to find it even if the root task was deleted: store it on every occurrence (e.g. a
//! `series_anchor` column) or keep the root row. Out-of-range dates (hundreds of thousands of
//! years) never panic: `next_occurrence` gives `None`, `occurrence_due` saturates.
pub mod error;
pub mod event;
pub mod input;
pub mod listing;
pub mod recurrence;
pub mod task;
