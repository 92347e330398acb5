//! The SQL both store backends speak: one statement text, written once, runs on SQLite and on
//! PostgreSQL. Statements use numbered placeholders (`?1`), which the PostgreSQL side turns into
//! `$1`; values travel as [`Value`] and rows come back as [`Row`]s of values, so a module with
//! tables of its own (alerting, drills) writes its SQL once against [`Sql`] and never names an
//! engine. What the two dialects do not share (DDL, `WITHOUT ROWID`, pragmas) lives in each
//! backend's migrations, not here.

use std::collections::HashMap;
use std::error::Error as StdError;

use postgres::types::{IsNull, ToSql, Type, to_sql_checked};

/// Which engine a statement runs on, for the rare query whose best form differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl Engine {
    /// The name `[storage] backend` uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Sqlite => "sqlite",
            Engine::Postgres => "postgres",
        }
    }
}

/// One SQL value. Integers are 64-bit on both engines (PostgreSQL columns are `BIGINT`), and
/// booleans are stored as 0/1 integers so `SUM(ok)` means the same everywhere.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}
impl From<i32> for Value {
    fn from(v: i32) -> Self {
        Value::Int(v.into())
    }
}
impl From<u32> for Value {
    fn from(v: u32) -> Self {
        Value::Int(v.into())
    }
}
impl From<u64> for Value {
    fn from(v: u64) -> Self {
        // Counters and durations in microseconds: far below i64::MAX in practice; saturate
        // rather than wrap if one ever is not.
        Value::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }
}
impl From<usize> for Value {
    fn from(v: usize) -> Self {
        Value::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Int(i64::from(v))
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Real(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_owned())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}
impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::Text(v.clone())
    }
}
impl From<&std::sync::Arc<str>> for Value {
    fn from(v: &std::sync::Arc<str>) -> Self {
        Value::Text(v.to_string())
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}
impl From<&Value> for Value {
    fn from(v: &Value) -> Self {
        v.clone()
    }
}
macro_rules! from_ref {
    ($($t:ty),*) => {$(
        impl From<&$t> for Value {
            fn from(v: &$t) -> Self {
                Value::from(*v)
            }
        }
        impl From<&Option<$t>> for Value {
            fn from(v: &Option<$t>) -> Self {
                Value::from(*v)
            }
        }
    )*};
}
from_ref!(i64, i32, u32, u64, usize, bool, f64);
impl From<&Option<String>> for Value {
    fn from(v: &Option<String>) -> Self {
        v.as_deref().into()
    }
}
impl From<&Option<&str>> for Value {
    fn from(v: &Option<&str>) -> Self {
        (*v).into()
    }
}

/// Statement arguments: `args![a, b, c]` turns each into a [`Value`].
#[macro_export]
macro_rules! args {
    () => { &[] as &[$crate::store::sql::Value] };
    ($($v:expr),+ $(,)?) => { &[$($crate::store::sql::Value::from($v)),+] as &[$crate::store::sql::Value] };
}
pub use crate::args;

/// A column value read as a Rust type.
pub trait FromValue: Sized {
    fn from_value(v: &Value) -> Result<Self, String>;
}

impl FromValue for i64 {
    fn from_value(v: &Value) -> Result<Self, String> {
        match v {
            Value::Int(i) => Ok(*i),
            // SUM and friends may come back as a real on one engine and an integer on the
            // other; a whole real is the same number.
            Value::Real(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(*f as i64),
            other => Err(format!("expected an integer, found {other:?}")),
        }
    }
}
macro_rules! from_int {
    ($($t:ty),*) => {$(
        impl FromValue for $t {
            fn from_value(v: &Value) -> Result<Self, String> {
                let i = i64::from_value(v)?;
                <$t>::try_from(i).map_err(|_| format!("{i} is out of range for {}", stringify!($t)))
            }
        }
    )*};
}
from_int!(i32, u32, u64, usize);
impl FromValue for bool {
    fn from_value(v: &Value) -> Result<Self, String> {
        i64::from_value(v).map(|i| i != 0)
    }
}
impl FromValue for f64 {
    fn from_value(v: &Value) -> Result<Self, String> {
        match v {
            Value::Real(f) => Ok(*f),
            Value::Int(i) => Ok(*i as f64),
            other => Err(format!("expected a number, found {other:?}")),
        }
    }
}
impl FromValue for String {
    fn from_value(v: &Value) -> Result<Self, String> {
        match v {
            Value::Text(s) => Ok(s.clone()),
            other => Err(format!("expected text, found {other:?}")),
        }
    }
}
impl<T: FromValue> FromValue for Option<T> {
    fn from_value(v: &Value) -> Result<Self, String> {
        match v {
            Value::Null => Ok(None),
            v => T::from_value(v).map(Some),
        }
    }
}

/// One result row, read by column index.
#[derive(Debug, Clone, PartialEq)]
pub struct Row(pub Vec<Value>);

impl Row {
    pub fn get<T: FromValue>(&self, i: usize) -> Result<T, SqlError> {
        let v = self.0.get(i).ok_or_else(|| SqlError::Column {
            index: i,
            message: format!("the row has {} columns", self.0.len()),
        })?;
        T::from_value(v).map_err(|message| SqlError::Column { index: i, message })
    }
}

/// A failed statement, from either engine or from reading its result.
#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    #[error("{0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("{}", pg_message(.0))]
    Postgres(#[from] postgres::Error),
    #[error("column {index}: {message}")]
    Column { index: usize, message: String },
    #[error("the statement returned no row")]
    NoRow,
    /// A value the module could not encode or decode (its JSON, for example).
    #[error("{0}")]
    Data(String),
}

/// PostgreSQL's own message and, where it has one, its detail, instead of the client's terse
/// "db error".
fn pg_message(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => match db.detail() {
            Some(d) => format!("{} ({})", db.message(), d),
            None => db.message().to_string(),
        },
        None => match e.source() {
            Some(s) => format!("{e}: {s}"),
            None => e.to_string(),
        },
    }
}

impl SqlError {
    /// Whether this means the database cannot be written right now (full disk, locked file, a
    /// lost connection), as opposed to a bad statement: the writer keeps such rows and retries.
    pub fn is_storage_failure(&self) -> bool {
        match self {
            SqlError::Sqlite(e) => {
                use rusqlite::ErrorCode as C;
                matches!(
                    e.sqlite_error_code(),
                    Some(
                        C::DiskFull
                            | C::DatabaseBusy
                            | C::DatabaseLocked
                            | C::SystemIoFailure
                            | C::ReadOnly
                            | C::CannotOpen
                            | C::OutOfMemory
                    )
                )
            }
            SqlError::Postgres(e) => match e.code() {
                // No SQLSTATE: the connection failed (closed, reset, refused, timed out), except
                // for a value the client itself could not encode or decode, which no retry
                // would cure.
                None => {
                    let m = e.to_string();
                    !(m.starts_with("error serializing") || m.starts_with("error deserializing"))
                }
                Some(code) => {
                    let c = code.code();
                    // 08 connection exceptions, 53 insufficient resources (disk full, out of
                    // memory, too many connections), 57 operator intervention (shutdown,
                    // cancel), 58 system errors, 40001/40P01 serialization and deadlock.
                    // 57014 (a statement cancelled by a timeout) is the statement's own fault:
                    // retrying it would fail the same way for ever. 55P03: a lock not
                    // granted within lock_timeout, which passes.
                    c.starts_with("08")
                        || c.starts_with("53")
                        || (c.starts_with("57") && c != "57014")
                        || c.starts_with("58")
                        || c == "40001"
                        || c == "40P01"
                        || c == "25006"
                        || c == "55P03"
                }
            },
            _ => false,
        }
    }

    /// Whether a unique constraint refused the row (both engines' codes).
    pub fn is_unique_violation(&self) -> bool {
        match self {
            SqlError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => {
                e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    || e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
            }
            SqlError::Postgres(e) => e.code() == Some(&postgres::error::SqlState::UNIQUE_VIOLATION),
            _ => false,
        }
    }
}

/// A connection (or a transaction on one) that runs portable SQL.
pub trait Sql {
    fn engine(&self) -> Engine;
    /// Runs one statement and returns the rows it changed.
    fn execute(&mut self, sql: &str, args: &[Value]) -> Result<u64, SqlError>;
    /// Runs one statement and returns every row.
    fn query(&mut self, sql: &str, args: &[Value]) -> Result<Vec<Row>, SqlError>;
    /// Runs statements without arguments, separated by semicolons.
    fn batch(&mut self, sql: &str) -> Result<(), SqlError>;

    /// The first row, if any.
    fn query_opt(&mut self, sql: &str, args: &[Value]) -> Result<Option<Row>, SqlError> {
        Ok(self.query(sql, args)?.into_iter().next())
    }
    /// Exactly the first row; none is an error.
    fn query_one(&mut self, sql: &str, args: &[Value]) -> Result<Row, SqlError> {
        self.query_opt(sql, args)?.ok_or(SqlError::NoRow)
    }
}

// ---- SQLite ----------------------------------------------------------------------------------

/// A SQLite connection (or transaction: it derefs to one) seen through [`Sql`].
pub struct SqliteSql<'c>(pub &'c rusqlite::Connection);

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(match self {
            Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Value::Int(i) => ToSqlOutput::Borrowed(ValueRef::Integer(*i)),
            Value::Real(f) => ToSqlOutput::Borrowed(ValueRef::Real(*f)),
            Value::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
        })
    }
}

fn sqlite_value(v: rusqlite::types::ValueRef<'_>) -> Value {
    use rusqlite::types::ValueRef;
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Int(i),
        ValueRef::Real(f) => Value::Real(f),
        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::Text(String::from_utf8_lossy(b).into_owned()),
    }
}

impl Sql for SqliteSql<'_> {
    fn engine(&self) -> Engine {
        Engine::Sqlite
    }

    fn execute(&mut self, sql: &str, args: &[Value]) -> Result<u64, SqlError> {
        let mut stmt = self.0.prepare_cached(sql)?;
        Ok(stmt.execute(rusqlite::params_from_iter(args.iter()))? as u64)
    }

    fn query(&mut self, sql: &str, args: &[Value]) -> Result<Vec<Row>, SqlError> {
        let mut stmt = self.0.prepare_cached(sql)?;
        let n = stmt.column_count();
        let mut rows = stmt.query(rusqlite::params_from_iter(args.iter()))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let mut vals = Vec::with_capacity(n);
            for i in 0..n {
                vals.push(sqlite_value(r.get_ref(i)?));
            }
            out.push(Row(vals));
        }
        Ok(out)
    }

    fn batch(&mut self, sql: &str) -> Result<(), SqlError> {
        Ok(self.0.execute_batch(sql)?)
    }
}

// ---- PostgreSQL ------------------------------------------------------------------------------

/// Prepared statements of one PostgreSQL connection, by their portable text: the hot
/// statements (a sample, its rollups) are parsed once per connection, not once per row.
#[derive(Default)]
pub struct StatementCache(HashMap<String, postgres::Statement>);

impl StatementCache {
    /// Forget every statement (the connection they belong to is gone).
    pub fn clear(&mut self) {
        self.0.clear();
    }
}

/// A PostgreSQL client or transaction seen through [`Sql`].
pub struct PgSql<'a, C: postgres::GenericClient> {
    pub client: &'a mut C,
    pub cache: &'a mut StatementCache,
}

impl<C: postgres::GenericClient> PgSql<'_, C> {
    fn prepare(&mut self, sql: &str) -> Result<postgres::Statement, SqlError> {
        if let Some(s) = self.cache.0.get(sql) {
            return Ok(s.clone());
        }
        let stmt = self.client.prepare(&to_postgres(sql))?;
        // Bounded: statements are program text, a few dozen distinct ones; a statement built
        // with data in it (none today) would otherwise grow this without end.
        if self.cache.0.len() > 512 {
            self.cache.0.clear();
        }
        self.cache.0.insert(sql.to_owned(), stmt.clone());
        Ok(stmt)
    }
}

fn refs(args: &[Value]) -> Vec<&(dyn ToSql + Sync)> {
    args.iter().map(|v| v as &(dyn ToSql + Sync)).collect()
}

impl<C: postgres::GenericClient> Sql for PgSql<'_, C> {
    fn engine(&self) -> Engine {
        Engine::Postgres
    }

    fn execute(&mut self, sql: &str, args: &[Value]) -> Result<u64, SqlError> {
        let stmt = self.prepare(sql)?;
        Ok(self.client.execute(&stmt, &refs(args))?)
    }

    fn query(&mut self, sql: &str, args: &[Value]) -> Result<Vec<Row>, SqlError> {
        let stmt = self.prepare(sql)?;
        let rows = self.client.query(&stmt, &refs(args))?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let mut vals = Vec::with_capacity(r.len());
            for i in 0..r.len() {
                vals.push(r.try_get::<_, Value>(i)?);
            }
            out.push(Row(vals));
        }
        Ok(out)
    }

    fn batch(&mut self, sql: &str) -> Result<(), SqlError> {
        Ok(self.client.batch_execute(sql)?)
    }
}

/// `?1` → `$1` (and a bare `?` → the next number), leaving string literals and quoted names
/// alone.
pub fn to_postgres(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.chars().peekable();
    let mut next = 1;
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                out.push(c);
                for d in chars.by_ref() {
                    out.push(d);
                    if d == c {
                        break;
                    }
                }
            }
            '?' => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                    digits.push(d);
                    chars.next();
                }
                out.push('$');
                if digits.is_empty() {
                    out.push_str(&next.to_string());
                    next += 1;
                } else {
                    out.push_str(&digits);
                }
            }
            _ => out.push(c),
        }
    }
    out
}

type BoxError = Box<dyn StdError + Sync + Send>;

impl ToSql for Value {
    fn to_sql(&self, ty: &Type, out: &mut bytes::BytesMut) -> Result<IsNull, BoxError> {
        // The server decides a parameter's type from the statement; a value goes in as that
        // type when it fits, so one statement text serves both engines.
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(i) => match *ty {
                Type::INT8 => i.to_sql(ty, out),
                Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*i)?.to_sql(ty, out),
                Type::FLOAT8 => (*i as f64).to_sql(ty, out),
                Type::FLOAT4 => (*i as f32).to_sql(ty, out),
                Type::BOOL => (*i != 0).to_sql(ty, out),
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
                    i.to_string().to_sql(&Type::TEXT, out)
                }
                _ => Err(format!("an integer cannot be sent as {ty}").into()),
            },
            Value::Real(f) => match *ty {
                Type::FLOAT8 => f.to_sql(ty, out),
                Type::FLOAT4 => (*f as f32).to_sql(ty, out),
                Type::INT8 if f.fract() == 0.0 => (*f as i64).to_sql(ty, out),
                Type::TEXT | Type::VARCHAR | Type::UNKNOWN => {
                    f.to_string().to_sql(&Type::TEXT, out)
                }
                _ => Err(format!("a number cannot be sent as {ty}").into()),
            },
            Value::Text(s) => match *ty {
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
                    s.as_str().to_sql(&Type::TEXT, out)
                }
                _ => Err(format!("text cannot be sent as {ty}").into()),
            },
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

impl<'a> postgres::types::FromSql<'a> for Value {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Ok(match *ty {
            Type::INT8 => Value::Int(i64::from_sql(ty, raw)?),
            Type::INT4 => Value::Int(i32::from_sql(ty, raw)?.into()),
            Type::INT2 => Value::Int(i16::from_sql(ty, raw)?.into()),
            Type::OID => Value::Int(u32::from_sql(ty, raw)?.into()),
            Type::BOOL => Value::Int(i64::from(bool::from_sql(ty, raw)?)),
            Type::FLOAT8 => Value::Real(f64::from_sql(ty, raw)?),
            Type::FLOAT4 => Value::Real(f32::from_sql(ty, raw)?.into()),
            Type::NUMERIC => numeric(raw)?,
            Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
                Value::Text(String::from_sql(ty, raw)?)
            }
            _ => return Err(format!("column type {ty} is not one the store uses").into()),
        })
    }

    fn from_sql_null(_: &Type) -> Result<Self, BoxError> {
        Ok(Value::Null)
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// PostgreSQL's binary NUMERIC (what `SUM` over a `BIGINT` returns): a sign, a weight and
/// base-10000 digits. Whole numbers come back as integers, the rest as reals.
fn numeric(raw: &[u8]) -> Result<Value, BoxError> {
    let word = |i: usize| -> Result<u16, BoxError> {
        raw.get(i..i + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(|| "a truncated NUMERIC".into())
    };
    let ndigits = word(0)? as usize;
    let weight = word(2)? as i16;
    let sign = word(4)?;
    let dscale = word(6)?;
    if sign == 0xC000 {
        return Ok(Value::Real(f64::NAN));
    }
    let mut value = 0f64;
    let mut whole: Option<i128> = Some(0);
    for i in 0..ndigits {
        let d = word(8 + 2 * i)?;
        let exp = i32::from(weight) - i as i32;
        value += f64::from(d) * 10_000f64.powi(exp);
        whole = if exp >= 0 {
            let place = 10_000i128.checked_pow(exp as u32);
            whole.and_then(|w| place.and_then(|p| w.checked_add(i128::from(d) * p)))
        } else if d != 0 {
            None
        } else {
            whole
        };
    }
    let negative = sign == 0x4000;
    if dscale == 0
        && let Some(w) = whole
        && let Ok(i) = i64::try_from(if negative { -w } else { w })
    {
        return Ok(Value::Int(i));
    }
    Ok(Value::Real(if negative { -value } else { value }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_numbered_and_literals_stay() {
        assert_eq!(
            to_postgres("SELECT a FROM t WHERE b = ?1 AND c = '?2' AND d = ?12"),
            "SELECT a FROM t WHERE b = $1 AND c = '?2' AND d = $12"
        );
        assert_eq!(to_postgres("VALUES (?, ?)"), "VALUES ($1, $2)");
    }

    #[test]
    fn numeric_decodes_whole_and_fractional_numbers() {
        // 12345678 = [1234, 5678], weight 1, scale 0
        let raw = [0, 2, 0, 1, 0, 0, 0, 0, 0x04, 0xD2, 0x16, 0x2E];
        assert_eq!(numeric(&raw).unwrap(), Value::Int(12_345_678));
        // -1.5 = [1, 5000], weight 0, negative, scale 1
        let raw = [0, 2, 0, 0, 0x40, 0, 0, 1, 0, 1, 0x13, 0x88];
        assert_eq!(numeric(&raw).unwrap(), Value::Real(-1.5));
        // zero: no digits
        assert_eq!(numeric(&[0, 0, 0, 0, 0, 0, 0, 0]).unwrap(), Value::Int(0));
    }

    #[test]
    fn values_read_across_integer_and_real() {
        assert_eq!(i64::from_value(&Value::Real(3.0)).unwrap(), 3);
        assert!(i64::from_value(&Value::Real(3.5)).is_err());
        assert_eq!(f64::from_value(&Value::Int(2)).unwrap(), 2.0);
        assert_eq!(Option::<i64>::from_value(&Value::Null).unwrap(), None);
        assert!(bool::from_value(&Value::Int(1)).unwrap());
    }
}
