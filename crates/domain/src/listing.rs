//! `GET /api/{user_id}/tasks`: query parameters, the keyset cursor, and the reference
//! semantics of filtering and ordering (which the SQL must reproduce).
//!
//! # Order
//! Rows are ordered by the sort key, then by `id`, both in `sort_order`:
//! - `createdAt`, `updatedAt`: the instant;
//! - `dueDate`: the instant, with tasks **without** a due date **last in both orders**;
//! - `priority`: [`Priority::rank`] (low 0 < medium 1 < high 2);
//! - `title`: as people read them: the Unicode Collation Algorithm's root order (CLDR) at
//!   primary strength, i.e. ignoring case and accents ("alpha" < "Beta" < "éclair" < "Zebra");
//!   titles that differ only in case or accents are equal keys, so the id orders them. In
//!   PostgreSQL this is the ICU collation `task_title` (`und-u-ks-level1`, nondeterministic);
//!   [`compare_titles`] is the same order in Rust;
//! - `id`: uuid byte order (PostgreSQL's `uuid` order).
//!
//! The persistence adapter (`todo_tasks::store`) spells this order and the keyset condition
//! in SQL; this module only describes the query.
//!
//! # Filters
//! `status`, `priority`, `category`: equality (the value `all` or an empty value means no
//! filter). `search`: case-insensitive substring of title or description (trimmed; empty means
//! none; `%`, `_` and `\` match themselves). `tags`: comma-separated (the
//! parameter may also repeat), normalised like [`Tags`]; a task must have all of them.
//! `due_before` / `due_after` (also `dueBefore` / `dueAfter`): inclusive bounds on `dueDate`;
//! tasks without a due date never match them.

use std::cmp::Ordering;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::error::{kinds, FieldError};
use crate::task::{has_nul, parse_instant, shorten, Category, Priority, Status, Tags, Task};

/// The `sort_by` parameter. (De)serialises as its wire name, exactly (in a cursor).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SortBy {
    #[default]
    CreatedAt,
    UpdatedAt,
    DueDate,
    Priority,
    Title,
}

impl SortBy {
    pub const ALL: &'static [SortBy] = &[
        SortBy::CreatedAt,
        SortBy::UpdatedAt,
        SortBy::DueDate,
        SortBy::Priority,
        SortBy::Title,
    ];

    /// The wire name (`createdAt`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            SortBy::CreatedAt => "createdAt",
            SortBy::UpdatedAt => "updatedAt",
            SortBy::DueDate => "dueDate",
            SortBy::Priority => "priority",
            SortBy::Title => "title",
        }
    }

    /// Accepts the camelCase wire names and their snake_case forms (`created_at`),
    /// case-insensitively, trimmed.
    pub fn parse(s: &str) -> Result<SortBy, String> {
        let t: String = s.trim().chars().filter(|c| *c != '_').collect();
        SortBy::ALL
            .iter()
            .copied()
            .find(|v| v.as_str().eq_ignore_ascii_case(&t))
            .ok_or_else(|| {
                format!(
                    "unknown sort_by '{}'; expected one of createdAt, updatedAt, dueDate, priority, title",
                    shorten(s)
                )
            })
    }
}

/// The `sort_order` parameter. (De)serialises as `asc`/`desc`, exactly (in a cursor).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SortOrder {
    Asc,
    #[default]
    Desc,
}

impl SortOrder {
    pub fn as_str(self) -> &'static str {
        match self {
            SortOrder::Asc => "asc",
            SortOrder::Desc => "desc",
        }
    }

    pub fn parse(s: &str) -> Result<SortOrder, String> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("asc") {
            Ok(SortOrder::Asc)
        } else if t.eq_ignore_ascii_case("desc") {
            Ok(SortOrder::Desc)
        } else {
            Err(format!(
                "unknown sort_order '{}'; expected one of asc, desc",
                shorten(s)
            ))
        }
    }
}

/// The sort key of the last row of a page.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CursorKey {
    /// `createdAt` / `updatedAt` (never `None`) / `dueDate` (may be `None`); microsecond precision.
    Instant(Option<DateTime<Utc>>),
    /// `title`
    Text(String),
    /// `priority` ([`Priority::rank`])
    Rank(i16),
}

/// Keyset cursor: the sort key of the last row + its id, bound to the sort it was made for.
/// Opaque on the wire: base64url (no padding) of a compact JSON object.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Cursor {
    pub sort_by: SortBy,
    pub sort_order: SortOrder,
    pub key: CursorKey,
    pub id: Uuid,
}

const MAX_CURSOR_LEN: usize = 4096;

/// A cursor on the wire: exactly these four fields (the names are short because the cursor
/// travels in URLs), declared in name order so the text is the same as through a `Value`.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireCursor {
    i: Uuid,
    /// Required even though it may be `null` (a due-date key of a task without a due date):
    /// `deserialize_with` keeps serde from taking an absent key as `None`.
    #[serde(deserialize_with = "Option::deserialize")]
    k: Option<WireKey>,
    o: SortOrder,
    s: SortBy,
}

/// A sort key on the wire: microseconds since the epoch, a priority rank, or a title.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum WireKey {
    Number(i64),
    Text(String),
}

impl Cursor {
    pub fn encode(&self) -> String {
        let k = match &self.key {
            CursorKey::Instant(t) => t.map(|t| WireKey::Number(t.timestamp_micros())),
            CursorKey::Text(s) => Some(WireKey::Text(s.clone())),
            CursorKey::Rank(r) => Some(WireKey::Number(i64::from(*r))),
        };
        let wire = WireCursor {
            i: self.id,
            k,
            o: self.sort_order,
            s: self.sort_by,
        };
        let text = serde_json::to_string(&wire).expect("a cursor serialises");
        URL_SAFE_NO_PAD.encode(text)
    }

    /// Strict: every malformed, truncated, forged-but-inconsistent value is an `Err` (text for a
    /// `422` message); never panics.
    pub fn decode(s: &str) -> Result<Cursor, String> {
        let bad = |why: &str| format!("invalid cursor: {why}");
        let s = s.trim().trim_end_matches('=');
        if s.is_empty() {
            return Err(bad("empty"));
        }
        if s.len() > MAX_CURSOR_LEN {
            return Err(bad("too long"));
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| bad("not base64url"))?;
        // An object first: serde's derived structs would also read an array, field by field.
        let object: Map<String, Value> =
            serde_json::from_slice(&bytes).map_err(|_| bad("not a JSON object"))?;
        let wire = WireCursor::deserialize(Value::Object(object))
            .map_err(|_| bad("unexpected fields or values"))?;
        let key = match (wire.s, wire.k) {
            (SortBy::DueDate, None) => CursorKey::Instant(None),
            (SortBy::CreatedAt | SortBy::UpdatedAt | SortBy::DueDate, Some(WireKey::Number(k))) => {
                let t = DateTime::<Utc>::from_timestamp_micros(k)
                    .filter(|t| crate::task::instant_in_range(*t))
                    .ok_or_else(|| bad("bad instant key"))?;
                CursorKey::Instant(Some(t))
            }
            (SortBy::CreatedAt | SortBy::UpdatedAt | SortBy::DueDate, _) => {
                return Err(bad("bad instant key"))
            }
            (SortBy::Priority, Some(WireKey::Number(r))) if (0..=2).contains(&r) => {
                CursorKey::Rank(r as i16)
            }
            (SortBy::Priority, _) => return Err(bad("bad priority key")),
            (SortBy::Title, Some(WireKey::Text(t)))
                if t.chars().count() <= crate::task::Title::MAX_CHARS && !has_nul(&t) =>
            {
                CursorKey::Text(t)
            }
            (SortBy::Title, _) => return Err(bad("bad title key")),
        };
        Ok(Cursor {
            sort_by: wire.s,
            sort_order: wire.o,
            key,
            id: wire.i,
        })
    }
}

/// The sort key of `task` for `sort_by`.
pub fn sort_key(task: &Task, sort_by: SortBy) -> CursorKey {
    match sort_by {
        SortBy::CreatedAt => CursorKey::Instant(Some(task.created_at)),
        SortBy::UpdatedAt => CursorKey::Instant(Some(task.updated_at)),
        SortBy::DueDate => CursorKey::Instant(task.due_date),
        SortBy::Priority => CursorKey::Rank(task.priority.rank()),
        SortBy::Title => CursorKey::Text(task.title.as_str().to_string()),
    }
}

/// The cursor that follows `task` in this order (put it in `X-Next-Cursor` when the page is full).
pub fn cursor_after(task: &Task, sort_by: SortBy, sort_order: SortOrder) -> Cursor {
    Cursor {
        sort_by,
        sort_order,
        key: sort_key(task, sort_by),
        id: task.id,
    }
}

/// Compares two titles as the `title` sort does: the root collation at primary strength
/// (case and accents ignored; see the module doc).
pub fn compare_titles(a: &str, b: &str) -> Ordering {
    title_collator().compare(a, b)
}

fn title_collator() -> &'static icu_collator::CollatorBorrowed<'static> {
    static COLLATOR: std::sync::OnceLock<icu_collator::CollatorBorrowed<'static>> =
        std::sync::OnceLock::new();
    COLLATOR.get_or_init(|| {
        let mut options = icu_collator::options::CollatorOptions::default();
        options.strength = Some(icu_collator::options::Strength::Primary);
        icu_collator::Collator::try_new(Default::default(), options)
            .expect("the root collation is compiled in")
    })
}

/// Compares two (key, id) positions in the list order (`Less` = comes first).
pub fn compare_positions(
    a: (&CursorKey, Uuid),
    b: (&CursorKey, Uuid),
    order: SortOrder,
) -> Ordering {
    let directed = |o: Ordering| match order {
        SortOrder::Asc => o,
        SortOrder::Desc => o.reverse(),
    };
    let key = match (a.0, b.0) {
        // no due date: last in both orders
        (CursorKey::Instant(None), CursorKey::Instant(None)) => Ordering::Equal,
        (CursorKey::Instant(None), CursorKey::Instant(Some(_))) => return Ordering::Greater,
        (CursorKey::Instant(Some(_)), CursorKey::Instant(None)) => return Ordering::Less,
        (CursorKey::Instant(Some(x)), CursorKey::Instant(Some(y))) => directed(x.cmp(y)),
        (CursorKey::Text(x), CursorKey::Text(y)) => directed(compare_titles(x, y)),
        (CursorKey::Rank(x), CursorKey::Rank(y)) => directed(x.cmp(y)),
        // keys of different kinds never meet (a cursor is bound to its sort)
        _ => Ordering::Equal,
    };
    key.then_with(|| directed(a.1.cmp(&b.1)))
}

/// Compares two tasks in the list order of `sort_by`/`sort_order`.
pub fn compare_tasks(a: &Task, b: &Task, sort_by: SortBy, order: SortOrder) -> Ordering {
    compare_positions(
        (&sort_key(a, sort_by), a.id),
        (&sort_key(b, sort_by), b.id),
        order,
    )
}

/// `true` if `task` comes strictly after the cursor position (belongs to a following page).
pub fn is_after(task: &Task, cursor: &Cursor) -> bool {
    compare_positions(
        (&sort_key(task, cursor.sort_by), task.id),
        (&cursor.key, cursor.id),
        cursor.sort_order,
    ) == Ordering::Greater
}

/// The validated list query.
#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    pub status: Option<Status>,
    pub priority: Option<Priority>,
    pub category: Option<Category>,
    /// trimmed, non-empty
    pub search: Option<String>,
    /// normalised like [`Tags`], de-duplicated; a task must have all of them
    pub tags: Vec<String>,
    /// inclusive
    pub due_before: Option<DateTime<Utc>>,
    /// inclusive
    pub due_after: Option<DateTime<Utc>>,
    pub sort_by: SortBy,
    pub sort_order: SortOrder,
    /// 1..=500, default 100
    pub limit: u32,
    pub cursor: Option<Cursor>,
}

impl Default for ListQuery {
    fn default() -> Self {
        ListQuery {
            status: None,
            priority: None,
            category: None,
            search: None,
            tags: Vec::new(),
            due_before: None,
            due_after: None,
            sort_by: SortBy::CreatedAt,
            sort_order: SortOrder::Desc,
            limit: ListQuery::DEFAULT_LIMIT,
            cursor: None,
        }
    }
}

impl ListQuery {
    pub const DEFAULT_LIMIT: u32 = 100;
    pub const MAX_LIMIT: u32 = 500;
    pub const MAX_SEARCH_CHARS: usize = 1000;

    /// The reference filter semantics (see the module doc); ignores the cursor.
    pub fn matches(&self, task: &Task) -> bool {
        if self.status.is_some_and(|s| s != task.status)
            || self.priority.is_some_and(|p| p != task.priority)
            || self.category.is_some_and(|c| c != task.category)
        {
            return false;
        }
        if let Some(q) = &self.search {
            let q = q.to_lowercase();
            let in_title = task.title.as_str().to_lowercase().contains(&q);
            let in_desc = task
                .description
                .as_ref()
                .is_some_and(|d| d.as_str().to_lowercase().contains(&q));
            if !in_title && !in_desc {
                return false;
            }
        }
        if !self.tags.iter().all(|t| task.tags.as_slice().contains(t)) {
            return false;
        }
        if let Some(b) = self.due_before {
            if task.due_date.is_none_or(|d| d > b) {
                return false;
            }
        }
        if let Some(a) = self.due_after {
            if task.due_date.is_none_or(|d| d < a) {
                return false;
            }
        }
        true
    }
}

fn enum_filter<T>(
    name: &str,
    value: &str,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<Option<T>, FieldError> {
    let t = value.trim();
    if t.is_empty() || t.eq_ignore_ascii_case("all") {
        return Ok(None);
    }
    parse(t)
        .map(Some)
        .map_err(|m| FieldError::query(name, m, kinds::ENUM))
}

/// Parses decoded query-string pairs. Unknown enum values, a bad limit, bad instants, a bad or
/// mismatched cursor: `FieldError` at `["query", "<name as given>"]`. Unknown parameters are
/// ignored; a repeated parameter takes its last value, except `tags`, whose values accumulate.
pub fn parse_list_query(pairs: &[(String, String)]) -> Result<ListQuery, Vec<FieldError>> {
    let mut q = ListQuery::default();
    let mut errs = Vec::new();
    let mut cursor_raw: Option<(&str, &str)> = None;
    for (name, value) in pairs {
        let n = name.as_str();
        let mut push = |r: Result<(), FieldError>| {
            if let Err(e) = r {
                errs.push(e)
            }
        };
        match n {
            "status" => push(enum_filter(n, value, |s| s.parse::<Status>()).map(|v| q.status = v)),
            "priority" => {
                push(enum_filter(n, value, |s| s.parse::<Priority>()).map(|v| q.priority = v))
            }
            "category" => {
                push(enum_filter(n, value, |s| s.parse::<Category>()).map(|v| q.category = v))
            }
            "search" => {
                let t = value.trim();
                if has_nul(t) {
                    push(Err(FieldError::query(
                        n,
                        "search must not contain NUL (\\u0000) characters",
                        kinds::VALUE_ERROR,
                    )));
                } else if t.chars().count() > ListQuery::MAX_SEARCH_CHARS {
                    push(Err(FieldError::query(
                        n,
                        "search must be at most 1000 characters",
                        kinds::STRING_TOO_LONG,
                    )));
                } else {
                    q.search = (!t.is_empty()).then(|| t.to_string());
                }
            }
            "tags" => {
                for part in value.split(',').filter(|p| !p.trim().is_empty()) {
                    match Tags::normalize_one(part) {
                        Ok(t) => {
                            if !q.tags.contains(&t) {
                                q.tags.push(t)
                            }
                        }
                        Err(e) => push(Err(e.at(&["query", n]))),
                    }
                }
            }
            "due_before" | "dueBefore" | "due_after" | "dueAfter" => {
                let t = value.trim();
                let parsed = if t.is_empty() {
                    Ok(None)
                } else {
                    parse_instant(t)
                        .map(Some)
                        .map_err(|m| FieldError::query(n, format!("{n}: {m}"), kinds::DATETIME))
                };
                push(parsed.map(|v| {
                    if n.ends_with("efore") {
                        q.due_before = v
                    } else {
                        q.due_after = v
                    }
                }));
            }
            "sort_by" | "sortBy" => push(
                SortBy::parse(value)
                    .map(|v| q.sort_by = v)
                    .map_err(|m| FieldError::query(n, m, kinds::ENUM)),
            ),
            "sort_order" | "sortOrder" => push(
                SortOrder::parse(value)
                    .map(|v| q.sort_order = v)
                    .map_err(|m| FieldError::query(n, m, kinds::ENUM)),
            ),
            "limit" => {
                let t = value.trim();
                match t.parse::<i64>() {
                    Ok(l) if (1..=ListQuery::MAX_LIMIT as i64).contains(&l) => q.limit = l as u32,
                    Ok(l) => push(Err(FieldError::query(
                        n,
                        format!("limit must be between 1 and 500 (got {l})"),
                        if l < 1 {
                            kinds::GREATER_THAN_EQUAL
                        } else {
                            kinds::LESS_THAN_EQUAL
                        },
                    ))),
                    Err(_) => push(Err(FieldError::query(
                        n,
                        format!(
                            "limit must be an integer between 1 and 500 (got '{}')",
                            shorten(t)
                        ),
                        kinds::INT_PARSING,
                    ))),
                }
            }
            "cursor" => {
                cursor_raw = (!value.trim().is_empty()).then_some((n, value.as_str()));
            }
            _ => {}
        }
    }
    if let Some((n, raw)) = cursor_raw {
        match Cursor::decode(raw) {
            Ok(c) if c.sort_by == q.sort_by && c.sort_order == q.sort_order => q.cursor = Some(c),
            Ok(c) => errs.push(FieldError::query(
                n,
                format!(
                    "cursor was made for sort_by={}&sort_order={} and cannot be used with sort_by={}&sort_order={}",
                    c.sort_by.as_str(),
                    c.sort_order.as_str(),
                    q.sort_by.as_str(),
                    q.sort_order.as_str()
                ),
                kinds::VALUE_ERROR,
            )),
            Err(m) => errs.push(FieldError::query(n, m, kinds::VALUE_ERROR)),
        }
    }
    if errs.is_empty() {
        Ok(q)
    } else {
        Err(errs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::tests::sample_task;
    use crate::task::Title;
    use serde_json::json;

    /// A forged cursor whose instant key is beyond years 0001-9999 in UTC is refused (it would
    /// be bound as text PostgreSQL cannot read: a 500 instead of a 422).
    #[test]
    fn cursor_instant_key_out_of_range_is_refused() {
        let id = Uuid::nil().to_string();
        for k in [
            i64::MAX / 2,
            -62_135_596_800_000_001,
            253_402_300_800_000_000,
        ] {
            let raw = URL_SAFE_NO_PAD
                .encode(json!({"s": "createdAt", "o": "desc", "k": k, "i": id}).to_string());
            assert_eq!(
                Cursor::decode(&raw).unwrap_err(),
                "invalid cursor: bad instant key",
                "{k}"
            );
        }
        let ok = URL_SAFE_NO_PAD.encode(
            json!({"s": "createdAt", "o": "desc", "k": 253_402_300_799_999_999_i64, "i": id})
                .to_string(),
        );
        assert!(Cursor::decode(&ok).is_ok());
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    fn err(v: &[(&str, &str)]) -> Vec<FieldError> {
        parse_list_query(&pairs(v)).unwrap_err()
    }

    #[test]
    fn defaults() {
        let q = parse_list_query(&[]).unwrap();
        assert_eq!(q, ListQuery::default());
        assert_eq!(q.limit, 100);
        assert_eq!(q.sort_by, SortBy::CreatedAt);
        assert_eq!(q.sort_order, SortOrder::Desc);
    }

    #[test]
    fn all_parameters() {
        let q = parse_list_query(&pairs(&[
            ("status", "Completed"),
            ("priority", "HIGH"),
            ("category", "work"),
            ("search", "  50%_off  "),
            ("tags", " Work, home,,work"),
            ("tags", "x"),
            ("due_before", "2026-02-01T00:00:00+01:00"),
            ("dueAfter", "2026-01-01T00:00:00Z"),
            ("sort_by", "due_date"),
            ("sort_order", "ASC"),
            ("limit", "500"),
            ("unknown", "whatever"),
        ]))
        .unwrap();
        assert_eq!(q.status, Some(Status::Completed));
        assert_eq!(q.priority, Some(Priority::High));
        assert_eq!(q.category, Some(Category::Work));
        assert_eq!(q.search.as_deref(), Some("50%_off"));
        assert_eq!(q.tags, vec!["work", "home", "x"]);
        assert_eq!(
            q.due_before,
            Some(parse_instant("2026-01-31T23:00:00Z").unwrap())
        );
        assert_eq!(
            q.due_after,
            Some(parse_instant("2026-01-01T00:00:00Z").unwrap())
        );
        assert_eq!(q.sort_by, SortBy::DueDate);
        assert_eq!(q.sort_order, SortOrder::Asc);
        assert_eq!(q.limit, 500);
        let q = parse_list_query(&pairs(&[
            ("status", "all"),
            ("priority", ""),
            ("search", " "),
        ]))
        .unwrap();
        assert_eq!((q.status, q.priority, q.search), (None, None, None));
        for s in [
            "createdAt",
            "updatedat",
            "updated_at",
            "dueDate",
            "PRIORITY",
            "title",
        ] {
            assert!(parse_list_query(&pairs(&[("sort_by", s)])).is_ok(), "{s}");
        }
    }

    #[test]
    fn bad_parameters() {
        let e = err(&[("limit", "0")]);
        assert_eq!(e[0].loc, vec!["query", "limit"]);
        assert_eq!(e[0].msg, "limit must be between 1 and 500 (got 0)");
        let e = err(&[("limit", "100000")]);
        assert_eq!(e[0].msg, "limit must be between 1 and 500 (got 100000)");
        assert_eq!(err(&[("limit", "-1")])[0].loc, vec!["query", "limit"]);
        assert_eq!(err(&[("limit", "ten")])[0].kind, "int_parsing");
        assert_eq!(
            err(&[("limit", "99999999999999999999999")])[0].kind,
            "int_parsing"
        );
        let e = err(&[("sort_by", "colour")]);
        assert_eq!(e[0].loc, vec!["query", "sort_by"]);
        assert_eq!(
            e[0].msg,
            "unknown sort_by 'colour'; expected one of createdAt, updatedAt, dueDate, priority, title"
        );
        assert_eq!(
            err(&[("sort_order", "up")])[0].loc,
            vec!["query", "sort_order"]
        );
        let e = err(&[
            ("status", "done"),
            ("priority", "urgent"),
            ("category", "x"),
        ]);
        let locs: Vec<_> = e.iter().map(|e| e.loc[1].as_str()).collect();
        assert_eq!(locs, vec!["status", "priority", "category"]);
        assert_eq!(
            e[1].msg,
            "unknown priority 'urgent'; expected one of low, medium, high"
        );
        assert_eq!(
            err(&[("due_before", "soon")])[0].loc,
            vec!["query", "due_before"]
        );
        assert_eq!(
            err(&[("dueAfter", "2026-02-30")])[0].loc,
            vec!["query", "dueAfter"]
        );
        let long = "a".repeat(51);
        assert_eq!(
            err(&[("tags", long.as_str())])[0].loc,
            vec!["query", "tags"]
        );
        assert_eq!(err(&[("search", "a\0b")])[0].loc, vec!["query", "search"]);
        for c in ["x", "!!!", "eyJ9", "bnVsbA", &"A".repeat(5000), "e30"] {
            let e = err(&[("cursor", c)]);
            assert_eq!(e[0].loc, vec!["query", "cursor"], "{c}");
            assert!(e[0].msg.starts_with("invalid cursor"), "{c}: {}", e[0].msg);
        }
    }

    #[test]
    fn cursor_round_trip_and_binding() {
        let t = sample_task();
        for sb in SortBy::ALL {
            for so in [SortOrder::Asc, SortOrder::Desc] {
                let c = cursor_after(&t, *sb, so);
                let enc = c.encode();
                assert!(enc
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_'));
                assert_eq!(Cursor::decode(&enc).unwrap(), c);
                let q = parse_list_query(&pairs(&[
                    ("sort_by", sb.as_str()),
                    ("sort_order", so.as_str()),
                    ("cursor", &enc),
                ]))
                .unwrap();
                assert_eq!(q.cursor, Some(c));
            }
        }
        // reused with another sort
        let enc = cursor_after(&t, SortBy::Title, SortOrder::Asc).encode();
        let e = err(&[("cursor", &enc)]);
        assert_eq!(e[0].loc, vec!["query", "cursor"]);
        assert!(
            e[0].msg.contains("sort_by=title&sort_order=asc"),
            "{}",
            e[0].msg
        );
        // a due-date cursor of a task without a due date
        let mut nd = t.clone();
        nd.due_date = None;
        let c = cursor_after(&nd, SortBy::DueDate, SortOrder::Desc);
        assert_eq!(c.key, CursorKey::Instant(None));
        assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        // inconsistent hand-made cursors
        for forged in [
            json!({"s": "createdAt", "o": "desc", "k": null, "i": Uuid::nil().to_string()}),
            json!({"s": "priority", "o": "desc", "k": 7, "i": Uuid::nil().to_string()}),
            json!({"s": "title", "o": "desc", "k": 1, "i": Uuid::nil().to_string()}),
            json!({"s": "title", "o": "desc", "k": "a", "i": "nope"}),
            json!({"s": "title", "o": "sideways", "k": "a", "i": Uuid::nil().to_string()}),
            json!({"s": "title", "o": "asc", "k": "a", "i": Uuid::nil().to_string(), "x": 1}),
            json!({"s": "createdAt", "o": "asc", "k": i64::MAX, "i": Uuid::nil().to_string()}),
        ] {
            assert!(
                Cursor::decode(&URL_SAFE_NO_PAD.encode(forged.to_string())).is_err(),
                "{forged}"
            );
        }
    }

    /// The cursor's text is the compact JSON with sorted keys, and only an object is one.
    #[test]
    fn cursor_wire_text_and_shape() {
        let t = sample_task();
        let c = cursor_after(&t, SortBy::Priority, SortOrder::Asc);
        let text = String::from_utf8(URL_SAFE_NO_PAD.decode(c.encode()).unwrap()).unwrap();
        assert_eq!(
            text,
            format!(r#"{{"i":"{}","k":2,"o":"asc","s":"priority"}}"#, t.id)
        );
        let as_array = json!([t.id.to_string(), 2, "asc", "priority"]);
        assert!(Cursor::decode(&URL_SAFE_NO_PAD.encode(as_array.to_string())).is_err());
        let missing_key = json!({"s": "dueDate", "o": "asc", "i": t.id.to_string()});
        assert!(Cursor::decode(&URL_SAFE_NO_PAD.encode(missing_key.to_string())).is_err());
        let null_key = json!({"s": "dueDate", "o": "asc", "k": null, "i": t.id.to_string()});
        assert_eq!(
            Cursor::decode(&URL_SAFE_NO_PAD.encode(null_key.to_string()))
                .unwrap()
                .key,
            CursorKey::Instant(None)
        );
        // wire names are exact (the query parameters are the lenient ones)
        let snake = json!({"s": "due_date", "o": "asc", "k": null, "i": t.id.to_string()});
        assert!(Cursor::decode(&URL_SAFE_NO_PAD.encode(snake.to_string())).is_err());
    }

    fn task_with(i: u128, due: Option<&str>, title: &str, p: Priority) -> Task {
        let mut t = sample_task();
        t.id = Uuid::from_u128(i);
        t.due_date = due.map(|d| parse_instant(d).unwrap());
        t.title = Title::parse(title).unwrap();
        t.priority = p;
        t
    }

    #[test]
    fn order_puts_missing_due_dates_last_both_ways() {
        let a = task_with(1, Some("2026-01-01T00:00:00Z"), "b", Priority::Low);
        let b = task_with(2, None, "a", Priority::High);
        let c = task_with(3, Some("2026-02-01T00:00:00Z"), "B", Priority::Low);
        let mut v = [b.clone(), c.clone(), a.clone()];
        v.sort_by(|x, y| compare_tasks(x, y, SortBy::DueDate, SortOrder::Asc));
        assert_eq!(
            v.iter().map(|t| t.id.as_u128()).collect::<Vec<_>>(),
            vec![1, 3, 2]
        );
        v.sort_by(|x, y| compare_tasks(x, y, SortBy::DueDate, SortOrder::Desc));
        assert_eq!(
            v.iter().map(|t| t.id.as_u128()).collect::<Vec<_>>(),
            vec![3, 1, 2]
        );
        v.sort_by(|x, y| compare_tasks(x, y, SortBy::Title, SortOrder::Asc));
        assert_eq!(
            v.iter().map(|t| t.title.as_str()).collect::<Vec<_>>(),
            vec!["a", "b", "B"]
        );
        v.sort_by(|x, y| compare_tasks(x, y, SortBy::Priority, SortOrder::Desc));
        // high first, then ties by id descending
        assert_eq!(
            v.iter().map(|t| t.id.as_u128()).collect::<Vec<_>>(),
            vec![2, 3, 1]
        );
        let cur = cursor_after(&c, SortBy::Priority, SortOrder::Desc);
        assert!(is_after(&a, &cur));
        assert!(!is_after(&b, &cur));
        assert!(!is_after(&c, &cur));
    }

    #[test]
    fn titles_compare_as_people_read_them() {
        assert_eq!(compare_titles("alpha", "Beta"), Ordering::Less);
        assert_eq!(compare_titles("Beta", "alpha"), Ordering::Greater);
        assert_eq!(compare_titles("ALPHA", "alpha"), Ordering::Equal);
        assert_eq!(compare_titles("Éclair", "eclair"), Ordering::Equal);
        assert_eq!(compare_titles("ändern", "alpha"), Ordering::Greater);
        assert_eq!(compare_titles("zebra", "اردو"), Ordering::Less);
        assert_eq!(compare_titles("اردو", "بازار"), Ordering::Less);
        // Equal titles tie; the id orders them.
        let a = task_with(1, None, "Alpha", Priority::Low);
        let b = task_with(2, None, "alpha", Priority::Low);
        assert_eq!(
            compare_tasks(&b, &a, SortBy::Title, SortOrder::Asc),
            Ordering::Greater
        );
        assert_eq!(
            compare_tasks(&b, &a, SortBy::Title, SortOrder::Desc),
            Ordering::Less
        );
    }

    #[test]
    fn filters() {
        let mut t = sample_task();
        t.description = crate::task::Description::parse("Flat 50% share").unwrap();
        let q = |v: &[(&str, &str)]| parse_list_query(&pairs(v)).unwrap();
        assert!(q(&[]).matches(&t));
        assert!(q(&[("search", "RENT")]).matches(&t));
        assert!(q(&[("search", "50%")]).matches(&t));
        assert!(!q(&[("search", "groceries")]).matches(&t));
        assert!(q(&[("tags", "BILLS")]).matches(&t));
        assert!(!q(&[("tags", "bills,x")]).matches(&t));
        assert!(q(&[
            ("status", "pending"),
            ("priority", "high"),
            ("category", "home")
        ])
        .matches(&t));
        assert!(!q(&[("status", "completed")]).matches(&t));
        assert!(q(&[("due_before", "2026-01-31T09:00:00Z")]).matches(&t));
        assert!(!q(&[("due_before", "2026-01-31T08:59:59Z")]).matches(&t));
        assert!(q(&[("due_after", "2026-01-31T09:00:00Z")]).matches(&t));
        assert!(!q(&[("due_after", "2026-01-31T09:00:01Z")]).matches(&t));
        t.due_date = None;
        assert!(!q(&[("due_after", "2000-01-01T00:00:00Z")]).matches(&t));
    }
}
