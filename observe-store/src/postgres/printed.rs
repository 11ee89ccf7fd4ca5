//! PostgreSQL's values in the form `observe query` shows every result in, whichever backend
//! ran it: the text PostgreSQL itself prints (its output functions, with `TimeZone` UTC
//! and `DateStyle` ISO), except numbers, which stay numbers, and booleans, which print as
//! `true`/`false` (what `boolean::text` gives) rather than psql's `t`/`f`.
//!
//! The SQLite store's translation (`observe_store::sql`) yields the same forms, so a query
//! prints alike over either store; docs/CLI.md ("query") has the table.

use postgres::types::Type;

use crate::sql::Value;

/// A value PostgreSQL sent as text (the simple query protocol, or any `::text`), of type
/// `ty`, in the printed form: integers as [`Value::Integer`], `numeric` as an integer when
/// it has no fraction and as [`Value::Real`] when it has, floats as reals, `boolean` as the
/// text `true`/`false`, NULL as [`Value::Null`], and every other type (timestamps, dates,
/// intervals, `jsonb`, arrays, text) as the text PostgreSQL printed.
///
/// ```
/// use observe_store::postgres::printed_value;
/// use observe_store::sql::Value;
/// use postgres::types::Type;
///
/// assert_eq!(printed_value(&Type::BOOL, Some("t")), Value::Text("true".into()));
/// assert_eq!(printed_value(&Type::NUMERIC, Some("42")), Value::Integer(42));
/// assert_eq!(printed_value(&Type::NUMERIC, Some("2.5000")), Value::Real(2.5));
/// assert_eq!(
///     printed_value(&Type::TIMESTAMPTZ, Some("2026-12-07 10:00:00.123+00")),
///     Value::Text("2026-12-07 10:00:00.123+00".into())
/// );
/// assert_eq!(printed_value(&Type::TEXT, None), Value::Null);
/// ```
pub fn printed_value(ty: &Type, text: Option<&str>) -> Value {
    let Some(text) = text else {
        return Value::Null;
    };
    let as_text = || Value::Text(text.to_owned());
    let as_real = || text.parse().map(Value::Real).unwrap_or_else(|_| as_text());
    match ty.name() {
        "bool" => Value::Text(if text == "t" { "true" } else { "false" }.into()),
        "int2" | "int4" | "int8" | "oid" => text
            .parse()
            .map(Value::Integer)
            .unwrap_or_else(|_| as_text()),
        "float4" | "float8" => as_real(),
        "numeric" => match text.parse() {
            Ok(i) => Value::Integer(i),
            Err(_) => as_real(),
        },
        _ => as_text(),
    }
}
