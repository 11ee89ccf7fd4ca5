//! PostgreSQL's JSON path operators (`#>>`, `#>`, `?`) as SQLite's JSON functions and
//! `->` with a JSON path.

use sqlparser::ast::{BinaryOperator, Expr};

use super::syntax::{call, string, string_literal};
use crate::sql::error::SqlError;
use crate::sql::pg_text;

/// `x #>> '{a,b}'` and `x #> '{a,b}'`: SQLite's `->>` and `->` with the JSON path `$.a.b`.
pub(super) fn rewrite_json_path(
    left: &Expr,
    op: &BinaryOperator,
    right: &Expr,
) -> Result<Expr, SqlError> {
    let Some(path) = string_literal(right).and_then(|p| pg_path_to_json_path(&p)) else {
        return Err(SqlError::Unsupported(format!(
            "`{op}` with a path that is not a literal like '{{a,b}}'"
        )));
    };
    Ok(if *op == BinaryOperator::HashLongArrow {
        json_text(left.clone(), string(&path))
    } else {
        Expr::BinaryOp {
            left: Box::new(left.clone()),
            op: BinaryOperator::Arrow,
            right: Box::new(string(&path)),
        }
    })
}

/// `x ? 'key'`: whether the JSON object has the key.
pub(super) fn rewrite_key_test(left: &Expr, right: &Expr) -> Result<Expr, SqlError> {
    let Some(key) = string_literal(right) else {
        return Err(SqlError::Unsupported(
            "`?` with a key that is not a literal".into(),
        ));
    };
    Ok(Expr::IsNotNull(Box::new(call(
        "json_type",
        vec![left.clone(), string(&json_path_key(&key))],
    ))))
}

/// `{a,b}` to `$.a.b` (keys quoted).
fn pg_path_to_json_path(path: &str) -> Option<String> {
    let inner = path.trim().strip_prefix('{')?.strip_suffix('}')?;
    let mut out = String::from("$");
    for key in inner.split(',') {
        let key = key.trim().trim_matches('"');
        if key.is_empty() {
            return None;
        }
        if key.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(&format!("[{key}]"));
        } else {
            out.push_str(&json_path_key(key)[1..]);
        }
    }
    Some(out)
}

/// `$."key"`, escaped for a JSON path.
fn json_path_key(key: &str) -> String {
    format!("$.\"{}\"", key.replace('\\', "\\\\").replace('"', "\\\""))
}

/// `x ->> key` as PostgreSQL gives it: the value as text (a string unquoted, `true`, a
/// number as written, an object as `jsonb` prints), from SQLite's `->`, whose numbers and
/// booleans `->>` would turn into SQL numbers.
pub(super) fn json_text(json: Expr, key: Expr) -> Expr {
    call(
        pg_text::JSON_TEXT,
        vec![Expr::BinaryOp {
            left: Box::new(json),
            op: BinaryOperator::Arrow,
            right: Box::new(key),
        }],
    )
}
