//! A prepared statement that binds text without copying it.
//!
//! rusqlite binds every string with `SQLITE_TRANSIENT`, so SQLite frees the previous
//! value, allocates and copies each string of each row before it copies it once more into
//! the row's record. On the insert path, where a row binds a dozen strings, those copies
//! cost more than anything but the B-tree work. This statement binds with `SQLITE_STATIC`
//! instead: SQLite reads the caller's string in place while it builds the record, and the
//! bindings are cleared before [`Statement::execute`] returns, so SQLite keeps no pointer
//! to them afterwards.
//!
//! The unsafe code is confined to this file. Its one rule for callers: a [`Statement`] must
//! be dropped before the connection it was prepared on is closed, which the store ensures
//! by keeping both in one struct, the statements declared (and so dropped) first.

use std::ffi::{c_char, c_int, CStr};
use std::ptr::{self, NonNull};

use rusqlite::types::{ToSql, ToSqlOutput, ValueRef};
use rusqlite::{ffi, Connection};

/// One value to bind.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Value<'a> {
    /// SQL `NULL`.
    Null,
    /// An integer.
    Integer(i64),
    /// A floating-point number.
    Real(f64),
    /// UTF-8 text, bound in place.
    Text(&'a str),
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(text: &'a str) -> Self {
        Value::Text(text)
    }
}

impl<'a> From<Option<&'a str>> for Value<'a> {
    fn from(text: Option<&'a str>) -> Self {
        text.map_or(Value::Null, Value::Text)
    }
}

impl From<i64> for Value<'_> {
    fn from(n: i64) -> Self {
        Value::Integer(n)
    }
}

impl From<Option<i64>> for Value<'_> {
    fn from(n: Option<i64>) -> Self {
        n.map_or(Value::Null, Value::Integer)
    }
}

impl From<bool> for Value<'_> {
    fn from(b: bool) -> Self {
        Value::Integer(i64::from(b))
    }
}

impl From<Option<bool>> for Value<'_> {
    fn from(b: Option<bool>) -> Self {
        b.map_or(Value::Null, |b| Value::Integer(i64::from(b)))
    }
}

impl From<f64> for Value<'_> {
    fn from(x: f64) -> Self {
        Value::Real(x)
    }
}

/// The same values bound through rusqlite (which copies text), for statements in its
/// cache: one list of a row's values serves both ways of binding.
impl ToSql for Value<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match *self {
            Value::Null => ValueRef::Null,
            Value::Integer(n) => ValueRef::Integer(n),
            Value::Real(x) => ValueRef::Real(x),
            Value::Text(text) => ValueRef::Text(text.as_bytes()),
        }))
    }
}

/// A prepared statement outside rusqlite's cache; see the [module docs](self).
pub(crate) struct Statement {
    stmt: NonNull<ffi::sqlite3_stmt>,
    db: NonNull<ffi::sqlite3>,
    /// How many parameters the SQL has; [`Statement::execute`] takes exactly that many.
    params: usize,
}

// SAFETY: a statement is only used through `&mut self` together with the connection it
// was prepared on, which is `Send`; the store opens connections in SQLite's multi-thread
// mode, where a connection and its statements may move between threads as long as one
// thread uses them at a time, which `&mut` guarantees.
unsafe impl Send for Statement {}

impl Statement {
    /// Compiles `sql` (one statement) on `conn`.
    ///
    /// # Safety
    ///
    /// The statement must be dropped before `conn` is closed: SQLite refuses to close a
    /// connection with live statements, and rusqlite would then leak it.
    pub(crate) unsafe fn prepare(conn: &Connection, sql: &str) -> rusqlite::Result<Statement> {
        // SAFETY: the handle is valid while `conn` is, and only used to prepare here.
        let db = unsafe { conn.handle() };
        let db = NonNull::new(db).ok_or(rusqlite::Error::InvalidQuery)?;
        let len = c_int::try_from(sql.len()).map_err(|_| rusqlite::Error::InvalidQuery)?;
        let mut stmt = ptr::null_mut();
        // SAFETY: `sql` is valid for `len` bytes; SQLite writes the new statement (or
        // null) into `stmt`.
        let rc = unsafe {
            ffi::sqlite3_prepare_v3(
                db.as_ptr(),
                sql.as_ptr().cast::<c_char>(),
                len,
                ffi::SQLITE_PREPARE_PERSISTENT,
                &mut stmt,
                ptr::null_mut(),
            )
        };
        if rc != ffi::SQLITE_OK {
            return Err(error(db, rc));
        }
        let stmt = NonNull::new(stmt).ok_or(rusqlite::Error::InvalidQuery)?;
        // SAFETY: `stmt` is the live statement just prepared.
        let params = unsafe { ffi::sqlite3_bind_parameter_count(stmt.as_ptr()) };
        Ok(Statement {
            stmt,
            db,
            params: usize::try_from(params).unwrap_or(0),
        })
    }

    /// Binds `values` to `?1`, `?2`... (exactly as many as the statement has), runs the
    /// statement to completion and resets it; returns how many rows it changed.
    pub(crate) fn execute(&mut self, values: &[Value<'_>]) -> rusqlite::Result<usize> {
        self.run(values, |_| ())?;
        // SAFETY: `db` is live while the statement is.
        let changes = unsafe { ffi::sqlite3_changes64(self.db.as_ptr()) };
        Ok(usize::try_from(changes).unwrap_or(0))
    }

    /// Like [`Statement::execute`], for a query: the first column of its first row as an
    /// integer, `None` when it returns no row.
    pub(crate) fn query_i64(&mut self, values: &[Value<'_>]) -> rusqlite::Result<Option<i64>> {
        self.run(values, |stmt| {
            // SAFETY: called with `stmt` on a row, which has at least one column.
            unsafe { ffi::sqlite3_column_int64(stmt, 0) }
        })
    }

    /// Binds, steps until done, reads the first row with `row` (if there is one), resets
    /// and clears the bindings.
    fn run<T>(
        &mut self,
        values: &[Value<'_>],
        row: impl FnOnce(*mut ffi::sqlite3_stmt) -> T,
    ) -> rusqlite::Result<Option<T>> {
        if values.len() != self.params {
            return Err(rusqlite::Error::InvalidParameterCount(
                values.len(),
                self.params,
            ));
        }
        let stmt = self.stmt.as_ptr();
        let result = self.bind(values).and_then(|()| {
            let mut row = Some(row);
            let mut first = None;
            loop {
                // SAFETY: `stmt` is live with every parameter bound.
                match unsafe { ffi::sqlite3_step(stmt) } {
                    ffi::SQLITE_DONE => return Ok(first),
                    ffi::SQLITE_ROW => {
                        if let Some(read) = row.take() {
                            first = Some(read(stmt));
                        }
                    }
                    rc => return Err(error(self.db, rc)),
                }
            }
        });
        // SAFETY: `stmt` is live. Resetting ends the run; clearing drops SQLite's pointers
        // into `values` before the borrow ends.
        unsafe {
            ffi::sqlite3_reset(stmt);
            ffi::sqlite3_clear_bindings(stmt);
        }
        result
    }

    /// Binds every value but `NULL`s: a statement starts with every parameter `NULL`, and
    /// [`Statement::run`] clears the bindings after each run.
    fn bind(&mut self, values: &[Value<'_>]) -> rusqlite::Result<()> {
        let stmt = self.stmt.as_ptr();
        for (i, value) in values.iter().enumerate() {
            // Parameters are numbered from 1; there are fewer than `c_int::MAX`.
            let index = (i + 1) as c_int;
            // SAFETY: `stmt` is live and `index` within its parameters. Text is bound
            // with SQLITE_STATIC: SQLite reads it in place until `run` clears the bindings,
            // while `values` still borrows it.
            let rc = unsafe {
                match *value {
                    Value::Null => continue,
                    Value::Integer(n) => ffi::sqlite3_bind_int64(stmt, index, n),
                    Value::Real(x) => ffi::sqlite3_bind_double(stmt, index, x),
                    Value::Text(text) => ffi::sqlite3_bind_text64(
                        stmt,
                        index,
                        text.as_ptr().cast::<c_char>(),
                        text.len() as u64,
                        ffi::SQLITE_STATIC(),
                        ffi::SQLITE_UTF8 as u8,
                    ),
                }
            };
            if rc != ffi::SQLITE_OK {
                return Err(error(self.db, rc));
            }
        }
        Ok(())
    }
}

impl Drop for Statement {
    fn drop(&mut self) {
        // SAFETY: `stmt` is live and finalized once, here; its connection is still open
        // (the contract of `prepare`).
        unsafe {
            ffi::sqlite3_finalize(self.stmt.as_ptr());
        }
    }
}

/// The connection's error for a failed call that returned `rc`.
fn error(db: NonNull<ffi::sqlite3>, rc: c_int) -> rusqlite::Error {
    // SAFETY: `db` is live; the message is copied before any other call on it.
    let (code, message) = unsafe {
        let code = ffi::sqlite3_extended_errcode(db.as_ptr());
        let text = ffi::sqlite3_errmsg(db.as_ptr());
        let message =
            (!text.is_null()).then(|| CStr::from_ptr(text).to_string_lossy().into_owned());
        (code, message)
    };
    // The connection's code can be stale when the failure was not its own (a misuse).
    let code = if code == ffi::SQLITE_OK { rc } else { code };
    rusqlite::Error::SqliteFailure(ffi::Error::new(code), message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (a TEXT, b INTEGER, c REAL, d TEXT UNIQUE)")
            .unwrap();
        conn
    }

    #[test]
    fn binds_every_kind_of_value_in_place() {
        let conn = table();
        // SAFETY: dropped before `conn`.
        let mut insert =
            unsafe { Statement::prepare(&conn, "INSERT INTO t VALUES (?1, ?2, ?3, ?4)") }.unwrap();
        for i in 0..3 {
            let text = format!("row {i} é");
            // A NULL after a value in the same place is NULL.
            let values = [
                Value::from(text.as_str()),
                Value::from(i64::from(i)),
                Value::from(f64::from(i) / 2.0),
                Value::from((i == 0).then_some("first")),
            ];
            assert_eq!(insert.execute(&values).unwrap(), 1);
        }
        drop(insert);
        let rows: Vec<(String, i64, f64, Option<String>)> = conn
            .prepare("SELECT a, b, c, d FROM t ORDER BY b")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(
            rows[0],
            ("row 0 é".to_owned(), 0, 0.0, Some("first".to_owned()))
        );
        assert_eq!(rows[2], ("row 2 é".to_owned(), 2, 1.0, None));
    }

    #[test]
    fn wrong_counts_and_constraint_failures_are_errors() {
        let conn = table();
        // SAFETY: dropped before `conn`.
        let mut insert =
            unsafe { Statement::prepare(&conn, "INSERT INTO t (d) VALUES (?1)") }.unwrap();
        assert!(matches!(
            insert.execute(&[]),
            Err(rusqlite::Error::InvalidParameterCount(0, 1))
        ));
        assert_eq!(insert.execute(&[Value::Text("x")]).unwrap(), 1);
        let err = insert.execute(&[Value::Text("x")]).unwrap_err();
        assert_eq!(
            err.sqlite_error_code(),
            Some(rusqlite::ErrorCode::ConstraintViolation),
            "{err}"
        );
        assert!(err.to_string().contains("UNIQUE"), "{err}");
        // The statement still works after an error.
        assert_eq!(insert.execute(&[Value::Text("y")]).unwrap(), 1);
        // SAFETY: no statement outlives `conn`.
        assert!(unsafe { Statement::prepare(&conn, "NOT SQL") }.is_err());
    }

    #[test]
    fn queries_one_integer() {
        let conn = table();
        // SAFETY: both dropped before `conn`.
        let (mut insert, mut find) = unsafe {
            (
                Statement::prepare(&conn, "INSERT INTO t (b) VALUES (?1)").unwrap(),
                Statement::prepare(&conn, "SELECT rowid FROM t WHERE b >= ?1 ORDER BY b").unwrap(),
            )
        };
        insert.execute(&[Value::Integer(10)]).unwrap();
        insert.execute(&[Value::Integer(20)]).unwrap();
        assert_eq!(find.query_i64(&[Value::Integer(5)]).unwrap(), Some(1));
        assert_eq!(find.query_i64(&[Value::Integer(15)]).unwrap(), Some(2));
        assert_eq!(find.query_i64(&[Value::Integer(25)]).unwrap(), None);
    }
}
