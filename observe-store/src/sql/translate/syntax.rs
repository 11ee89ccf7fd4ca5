//! Building and reading `sqlparser` syntax-tree nodes: the calls, literals and casts the
//! rewrite produces, and the names and arguments it reads back.

use sqlparser::ast::{
    CastKind, DataType, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArgumentList,
    FunctionArguments, Ident, ObjectName, Value, ValueWithSpan,
};

/// The store's timestamp text, as an `strftime` format: microseconds (three of them
/// zero) and `Z`, so that it compares as text with what the store writes.
pub const TIMESTAMP_FORMAT: &str = "%Y-%m-%dT%H:%M:%f000Z";

pub(super) fn now() -> Expr {
    ts(string("now"), vec![])
}

/// `strftime(TIMESTAMP_FORMAT, x, modifiers...)`: a timestamp in the store's text form.
/// A timestamp shifted again folds into one call.
pub(super) fn ts(x: Expr, modifiers: Vec<Expr>) -> Expr {
    if let Expr::Function(f) = &x {
        if function_name(f) == "strftime" {
            if let Some(mut args) = plain_args(f) {
                if args.first().and_then(string_literal).as_deref() == Some(TIMESTAMP_FORMAT) {
                    args.extend(modifiers);
                    return call("strftime", args);
                }
            }
        }
    }
    let mut args = vec![string(TIMESTAMP_FORMAT), x];
    args.extend(modifiers);
    call("strftime", args)
}

pub(super) fn sql_cast(x: Expr, type_name: &str) -> Expr {
    Expr::Cast {
        kind: CastKind::Cast,
        expr: Box::new(x),
        data_type: DataType::Custom(ObjectName::from(vec![Ident::new(type_name)]), vec![]),
        format: None,
    }
}

pub(super) fn call(name: &str, args: Vec<Expr>) -> Expr {
    Expr::Function(Function {
        name: ObjectName::from(vec![Ident::new(name)]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: args
                .into_iter()
                .map(|e| FunctionArg::Unnamed(FunctionArgExpr::Expr(e)))
                .collect(),
            clauses: vec![],
        }),
        within_group: vec![],
        filter: None,
        null_treatment: None,
        over: None,
    })
}

pub(super) fn string(s: &str) -> Expr {
    Expr::Value(ValueWithSpan::from(Value::SingleQuotedString(s.to_owned())))
}

/// A real literal (`86400.0`, not `86400`), so that divisions stay real as in PostgreSQL.
pub(super) fn number(n: f64) -> Expr {
    if n.is_finite() && n.fract() == 0.0 {
        number_text(&format!("{n:.1}"))
    } else {
        number_text(&format!("{n}"))
    }
}

pub(super) fn number_text(text: &str) -> Expr {
    Expr::Value(ValueWithSpan::from(Value::Number(text.to_owned(), false)))
}

pub(super) fn string_literal(e: &Expr) -> Option<String> {
    match e {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s)
            | Value::EscapedStringLiteral(s)
            | Value::DoubleQuotedString(s) => Some(s.clone()),
            _ => None,
        },
        Expr::Nested(inner) => string_literal(inner),
        _ => None,
    }
}

pub(super) fn function_name(f: &Function) -> String {
    f.name.to_string().to_ascii_lowercase()
}

/// The plain positional arguments of a call; `None` for `f` written without parentheses.
pub(super) fn plain_args(f: &Function) -> Option<Vec<Expr>> {
    match &f.args {
        FunctionArguments::List(list) => Some(
            list.args
                .iter()
                .filter_map(|a| match a {
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e.clone()),
                    _ => None,
                })
                .collect(),
        ),
        _ => None,
    }
}
