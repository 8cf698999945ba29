//! PostgreSQL wire types the `pg4` interface needs beyond tokio-postgres' own: raw bytes of any
//! column (`Unsupported`), `interval`, a NULL of any type, and ranges.

use std::error::Error as StdError;

use bytes::{BufMut as _, BytesMut};
use tokio_postgres::types::{accepts, to_sql_checked, FromSql, IsNull, ToSql, Type};

use crate::bindings::imports::spin::postgres::postgres::RangeBoundKind;

type BoxError = Box<dyn StdError + Sync + Send>;

/// Any column, as raw wire bytes (Spin's `Unsupported`).
pub struct RawBytes(pub Vec<u8>);

impl<'a> FromSql<'a> for RawBytes {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Ok(RawBytes(raw.to_vec()))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// PostgreSQL `interval`, binary format: microseconds (i64), days (i32), months (i32).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    pub micros: i64,
    pub days: i32,
    pub months: i32,
}

impl<'a> FromSql<'a> for Interval {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        if raw.len() != 16 {
            return Err("invalid interval length".into());
        }
        let micros = i64::from_be_bytes(raw[0..8].try_into()?);
        let days = i32::from_be_bytes(raw[8..12].try_into()?);
        let months = i32::from_be_bytes(raw[12..16].try_into()?);
        Ok(Interval {
            micros,
            days,
            months,
        })
    }

    accepts!(INTERVAL);
}

impl ToSql for Interval {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        out.extend_from_slice(&self.micros.to_be_bytes());
        out.extend_from_slice(&self.days.to_be_bytes());
        out.extend_from_slice(&self.months.to_be_bytes());
        Ok(IsNull::No)
    }

    accepts!(INTERVAL);
    to_sql_checked!();
}

/// NULL of any type.
#[derive(Debug)]
pub struct PgNull;

impl ToSql for PgNull {
    fn to_sql(&self, _: &Type, _: &mut BytesMut) -> Result<IsNull, BoxError> {
        Ok(IsNull::Yes)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// Element types of the ranges `pg4` supports.
pub trait RangeElement: for<'a> FromSql<'a> + ToSql + Sync + Send + std::fmt::Debug {
    const ELEMENT: Type;
    const RANGE: Type;
}

impl RangeElement for i32 {
    const ELEMENT: Type = Type::INT4;
    const RANGE: Type = Type::INT4_RANGE;
}

impl RangeElement for i64 {
    const ELEMENT: Type = Type::INT8;
    const RANGE: Type = Type::INT8_RANGE;
}

impl RangeElement for rust_decimal::Decimal {
    const ELEMENT: Type = Type::NUMERIC;
    const RANGE: Type = Type::NUM_RANGE;
}

type Bound<T> = Option<(T, RangeBoundKind)>;

/// A range in PostgreSQL's binary format. An empty range has neither bound, like an unbounded
/// one (as with the `postgres_range` crate Spin uses).
#[derive(Debug)]
pub struct PgRange<T> {
    lower: Bound<T>,
    upper: Bound<T>,
}

const RANGE_EMPTY: u8 = 0x01;
const RANGE_LB_INC: u8 = 0x02;
const RANGE_UB_INC: u8 = 0x04;
const RANGE_LB_INF: u8 = 0x08;
const RANGE_UB_INF: u8 = 0x10;

impl<T> PgRange<T> {
    pub fn from_bounds(lower: Bound<T>, upper: Bound<T>) -> Self {
        Self { lower, upper }
    }

    pub fn bounds(self) -> (Bound<T>, Bound<T>) {
        (self.lower, self.upper)
    }
}

fn read_bound<T: RangeElement>(raw: &[u8], pos: &mut usize) -> Result<T, BoxError> {
    let len_bytes = raw.get(*pos..*pos + 4).ok_or("truncated range")?;
    let len = usize::try_from(i32::from_be_bytes(len_bytes.try_into()?))?;
    *pos += 4;
    let bytes = raw.get(*pos..*pos + len).ok_or("truncated range bound")?;
    *pos += len;
    T::from_sql(&T::ELEMENT, bytes)
}

impl<'a, T: RangeElement> FromSql<'a> for PgRange<T> {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        let flags = *raw.first().ok_or("empty range value")?;
        if flags & RANGE_EMPTY != 0 {
            return Ok(Self::from_bounds(None, None));
        }
        let kind = |inc: bool| {
            if inc {
                RangeBoundKind::Inclusive
            } else {
                RangeBoundKind::Exclusive
            }
        };
        let mut pos = 1;
        let lower = if flags & RANGE_LB_INF == 0 {
            Some((
                read_bound::<T>(raw, &mut pos)?,
                kind(flags & RANGE_LB_INC != 0),
            ))
        } else {
            None
        };
        let upper = if flags & RANGE_UB_INF == 0 {
            Some((
                read_bound::<T>(raw, &mut pos)?,
                kind(flags & RANGE_UB_INC != 0),
            ))
        } else {
            None
        };
        Ok(Self::from_bounds(lower, upper))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == T::RANGE
    }
}

fn write_bound<T: RangeElement>(value: &T, out: &mut BytesMut) -> Result<(), BoxError> {
    let at = out.len();
    out.put_i32(0);
    if let IsNull::Yes = value.to_sql(&T::ELEMENT, out)? {
        return Err("a range bound cannot be NULL".into());
    }
    let len = i32::try_from(out.len() - at - 4)?;
    out[at..at + 4].copy_from_slice(&len.to_be_bytes());
    Ok(())
}

impl<T: RangeElement> ToSql for PgRange<T> {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        let mut flags = 0u8;
        match &self.lower {
            None => flags |= RANGE_LB_INF,
            Some((_, RangeBoundKind::Inclusive)) => flags |= RANGE_LB_INC,
            Some(_) => {}
        }
        match &self.upper {
            None => flags |= RANGE_UB_INF,
            Some((_, RangeBoundKind::Inclusive)) => flags |= RANGE_UB_INC,
            Some(_) => {}
        }
        out.put_u8(flags);
        if let Some((v, _)) = &self.lower {
            write_bound(v, out)?;
        }
        if let Some((v, _)) = &self.upper {
            write_bound(v, out)?;
        }
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == T::RANGE
    }

    to_sql_checked!();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_round_trips_through_the_wire_format() {
        let r = PgRange::from_bounds(
            Some((3i32, RangeBoundKind::Inclusive)),
            Some((7i32, RangeBoundKind::Exclusive)),
        );
        let mut buf = BytesMut::new();
        r.to_sql(&Type::INT4_RANGE, &mut buf).unwrap();
        assert_eq!(buf[0], RANGE_LB_INC);
        let back = PgRange::<i32>::from_sql(&Type::INT4_RANGE, &buf).unwrap();
        assert_eq!(
            back.bounds(),
            (
                Some((3, RangeBoundKind::Inclusive)),
                Some((7, RangeBoundKind::Exclusive))
            )
        );
        let unbounded = PgRange::<i64>::from_bounds(None, None);
        let mut buf = BytesMut::new();
        unbounded.to_sql(&Type::INT8_RANGE, &mut buf).unwrap();
        assert_eq!(&buf[..], &[RANGE_LB_INF | RANGE_UB_INF]);
        assert_eq!(
            PgRange::<i64>::from_sql(&Type::INT8_RANGE, &[RANGE_EMPTY])
                .unwrap()
                .bounds(),
            (None, None)
        );
        assert!(PgRange::<i32>::from_sql(&Type::INT4_RANGE, &[0, 0, 0]).is_err());
    }
}
