//! The last pass: a query's result columns as PostgreSQL prints and names them. Each
//! column of the outermost `SELECT` whose type prints differently in SQLite (timestamps,
//! booleans, intervals, JSON, arrays) is wrapped in the function that prints it as
//! PostgreSQL does, and a column without a name gets the one PostgreSQL gives it (`count`,
//! `max`, `?column?`), so the result reads the same over either store. A `*` over one of
//! the store's tables is first spelled out as its columns, so that they print so too.

use sqlparser::ast::{
    DataType, Expr, Ident, OrderBy, OrderByKind, Query, Select, SelectItem,
    SelectItemQualifiedWildcardKind, SetExpr, TableFactor, Value, WildcardAdditionalOptions,
};

use super::syntax::{call, function_name};
use super::types::{ty, Names, Ty};
use crate::sql::pg_text;

/// How one result column prints: its type, and for a column the query did not name, the
/// name PostgreSQL gives it and whether SQLite would name it otherwise.
#[derive(Debug)]
pub(super) struct Column {
    ty: Ty,
    unnamed: Option<(String, bool)>,
}

/// The result columns of each `SELECT` of the outermost query (one, or the arms of a
/// `UNION`), read from the query as written, before the rewrite changes its expressions.
pub(super) fn plan(query: &Query, names: &Names) -> Vec<Vec<Option<Column>>> {
    let mut selects = Vec::new();
    selects_of(&query.body, &mut selects);
    selects
        .into_iter()
        .map(|select| {
            select
                .projection
                .iter()
                .map(|item| match item {
                    SelectItem::UnnamedExpr(e) => Some(Column {
                        ty: ty(e, names),
                        unnamed: Some((
                            pg_name(e).unwrap_or_else(|| "?column?".into()),
                            !named_alike(e),
                        )),
                    }),
                    SelectItem::ExprWithAlias { expr, .. } => Some(Column {
                        ty: ty(expr, names),
                        unnamed: None,
                    }),
                    _ => None,
                })
                .collect()
        })
        .collect()
}

/// Spells out `*` (and `t.*`) in the outermost query's `SELECT`s over one of the store's
/// tables as its columns: the columns every store the reader opens has (it checks them),
/// in the table's order, as `*` gives them.
pub(super) fn expand_wildcards(query: &mut Query) {
    let mut selects = Vec::new();
    selects_of_mut(&mut query.body, &mut selects);
    for select in selects {
        let Some((table, alias)) = single_store_table(select) else {
            continue;
        };
        let Some((_, columns)) = crate::schema::current_columns()
            .iter()
            .find(|(t, _)| *t == table)
        else {
            continue;
        };
        let column = |qualifier: Option<&Ident>, name: &str| {
            // Quoted: some of the store's column names are keywords (`timestamp`, `release`).
            let name = Ident::with_quote('"', name);
            SelectItem::UnnamedExpr(match qualifier {
                Some(q) => Expr::CompoundIdentifier(vec![q.clone(), name]),
                None => Expr::Identifier(name),
            })
        };
        let mut items = Vec::with_capacity(select.projection.len());
        for item in std::mem::take(&mut select.projection) {
            match &item {
                SelectItem::Wildcard(options) if plain(options) => {
                    items.extend(columns.iter().map(|c| column(None, c)));
                }
                SelectItem::QualifiedWildcard(
                    SelectItemQualifiedWildcardKind::ObjectName(name),
                    options,
                ) if plain(options)
                    && name.0.len() == 1
                    && name.to_string().eq_ignore_ascii_case(&alias) =>
                {
                    let qualifier = Ident::new(alias.clone());
                    items.extend(columns.iter().map(|c| column(Some(&qualifier), c)));
                }
                _ => items.push(item),
            }
        }
        select.projection = items;
    }
}

/// A `*` without `EXCEPT`, `REPLACE` and the like.
fn plain(options: &WildcardAdditionalOptions) -> bool {
    options.opt_ilike.is_none()
        && options.opt_exclude.is_none()
        && options.opt_except.is_none()
        && options.opt_replace.is_none()
        && options.opt_rename.is_none()
        && options.opt_alias.is_none()
}

/// The store table a `SELECT` reads alone (no join, no second table), and the name it is
/// known by in the query (its alias, or its own name).
fn single_store_table(select: &Select) -> Option<(String, String)> {
    let [from] = select.from.as_slice() else {
        return None;
    };
    if !from.joins.is_empty() {
        return None;
    }
    let TableFactor::Table { name, alias, .. } = &from.relation else {
        return None;
    };
    let [part] = name.0.as_slice() else {
        return None;
    };
    let table = part.to_string().trim_matches('"').to_ascii_lowercase();
    let known_as = alias
        .as_ref()
        .map_or_else(|| table.clone(), |a| a.name.value.clone());
    Some((table, known_as))
}

/// Wraps and names the outermost query's columns as `plan` says.
pub(super) fn apply(query: &mut Query, plan: &[Vec<Option<Column>>]) {
    sort_intervals_as_seconds(query, plan);
    let mut selects = Vec::new();
    selects_of_mut(&mut query.body, &mut selects);
    for (select, columns) in selects.into_iter().zip(plan) {
        for (item, column) in select.projection.iter_mut().zip(columns) {
            let Some(column) = column else { continue };
            let printer = match column.ty {
                Ty::Timestamp => Some(pg_text::TIMESTAMPTZ),
                Ty::Bool => Some(pg_text::BOOLEAN),
                Ty::Interval => Some(pg_text::INTERVAL),
                Ty::Json => Some(pg_text::JSONB),
                Ty::Array => Some(pg_text::ARRAY),
                Ty::Date | Ty::Other => None,
            };
            let printed = |e: &Expr| match printer {
                Some(f) => call(f, vec![e.clone()]),
                None => e.clone(),
            };
            match item {
                SelectItem::ExprWithAlias { expr, .. } => *expr = printed(expr),
                SelectItem::UnnamedExpr(e) => {
                    let Some((name, renamed)) = &column.unnamed else {
                        continue;
                    };
                    if *renamed || printer.is_some() {
                        let expr = printed(e);
                        *item = SelectItem::ExprWithAlias {
                            expr,
                            alias: Ident::with_quote('"', name),
                        };
                    }
                }
                _ => {}
            }
        }
    }
}

/// An interval column prints as text (`2 days 01:00:00`), which does not sort as the
/// interval does: the outermost `ORDER BY` that names such a column (by its alias or its
/// position) sorts by its seconds instead.
fn sort_intervals_as_seconds(query: &mut Query, plan: &[Vec<Option<Column>>]) {
    let (SetExpr::Select(select), [columns]) = (query.body.as_ref(), plan) else {
        return;
    };
    let Some(OrderBy {
        kind: OrderByKind::Expressions(order),
        ..
    }) = &mut query.order_by
    else {
        return;
    };
    for (i, (item, column)) in select.projection.iter().zip(columns).enumerate() {
        if !column.as_ref().is_some_and(|c| c.ty == Ty::Interval) {
            continue;
        }
        let (expr, alias) = match item {
            SelectItem::ExprWithAlias { expr, alias } => (expr, Some(alias)),
            SelectItem::UnnamedExpr(expr) => (expr, None),
            _ => continue,
        };
        for by in order.iter_mut() {
            let named = match (&by.expr, alias) {
                (Expr::Identifier(id), Some(alias)) => id.value.eq_ignore_ascii_case(&alias.value),
                (Expr::Value(v), _) => {
                    matches!(&v.value, Value::Number(n, _) if n.parse() == Ok(i + 1))
                }
                _ => false,
            };
            if named {
                by.expr = expr.clone();
            }
        }
    }
}

fn selects_of<'q>(body: &'q SetExpr, out: &mut Vec<&'q Select>) {
    match body {
        SetExpr::Select(s) => out.push(s),
        SetExpr::Query(q) => selects_of(&q.body, out),
        SetExpr::SetOperation { left, right, .. } => {
            selects_of(left, out);
            selects_of(right, out);
        }
        _ => {}
    }
}

fn selects_of_mut<'q>(body: &'q mut SetExpr, out: &mut Vec<&'q mut Select>) {
    match body {
        SetExpr::Select(s) => out.push(s),
        SetExpr::Query(q) => selects_of_mut(&mut q.body, out),
        SetExpr::SetOperation { left, right, .. } => {
            selects_of_mut(left, out);
            selects_of_mut(right, out);
        }
        _ => {}
    }
}

/// Whether SQLite names the column as PostgreSQL does: a column reference in lowercase
/// (or quoted).
fn named_alike(e: &Expr) -> bool {
    match e {
        Expr::Identifier(i) => Some(i),
        Expr::CompoundIdentifier(parts) => parts.last(),
        _ => None,
    }
    .is_some_and(|i| i.quote_style.is_some() || i.value == i.value.to_ascii_lowercase())
}

/// PostgreSQL's name for a column (its `FigureColname`): a column's own name, a function's
/// name, a cast's inner name or else its type's, the keyword of a `CASE`, `EXTRACT`...;
/// `None` where PostgreSQL says `?column?`.
fn pg_name(e: &Expr) -> Option<String> {
    let ident = |i: &Ident| {
        if i.quote_style.is_some() {
            i.value.clone()
        } else {
            i.value.to_ascii_lowercase()
        }
    };
    Some(match e {
        Expr::Identifier(i) => ident(i),
        Expr::CompoundIdentifier(parts) => ident(parts.last()?),
        Expr::Nested(inner) => return pg_name(inner),
        Expr::Function(f) => function_name(f).rsplit('.').next()?.to_owned(),
        Expr::Cast {
            expr, data_type, ..
        } => return pg_name(expr).or_else(|| Some(type_name(data_type))),
        Expr::TypedString(t) => type_name(&t.data_type),
        Expr::Case { .. } => "case".into(),
        Expr::Extract { .. } => "extract".into(),
        Expr::Substring { .. } => "substring".into(),
        Expr::Trim { .. } => "btrim".into(),
        Expr::Position { .. } => "position".into(),
        Expr::Exists { .. } => "exists".into(),
        Expr::Interval(_) => "interval".into(),
        Expr::Array(_) => "array".into(),
        Expr::Value(v) if matches!(v.value, Value::Boolean(_)) => "bool".into(),
        _ => return None,
    })
}

/// The name PostgreSQL knows a type by, as it names a cast's column.
fn type_name(t: &DataType) -> String {
    let text = t.to_string().to_ascii_lowercase();
    let base = text.split('(').next().unwrap_or_default().trim();
    match base {
        "int" | "integer" | "int4" => "int4",
        "bigint" | "int8" => "int8",
        "smallint" | "int2" => "int2",
        "float" | "float8" | "double precision" | "double" => "float8",
        "real" | "float4" => "float4",
        "decimal" | "numeric" => "numeric",
        "boolean" | "bool" => "bool",
        "timestamp with time zone" | "timestamptz" => "timestamptz",
        "timestamp" | "timestamp without time zone" => "timestamp",
        "character varying" | "varchar" => "varchar",
        other => return other.to_owned(),
    }
    .to_owned()
}
