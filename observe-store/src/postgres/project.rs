//! `--project` on PostgreSQL: every read of a [`PgStore`] limited to one project's rows,
//! as [`Store::set_project`](crate::Store::set_project) limits a file's.
//!
//! The limit is a temporary view per table that carries a project, named as the table:
//! PostgreSQL looks up a session's temporary views before the tables, so the readers'
//! own SQL and a person's `observe query` read the project's rows without a change to
//! either, and the views go with the connection.

use super::read_error::PgReadError;
use super::PgStore;
use crate::schema::{PROJECT_ROLLUPS, PROJECT_TABLES};

impl PgStore {
    /// Limits every read to the rows of `project` (its `project_id`); `None` reads every
    /// project's.
    ///
    /// ```no_run
    /// use observe_store::postgres::PgStore;
    /// let mut store = PgStore::connect("postgres://observe@db.internal/observe").unwrap();
    /// store.set_project(Some("checkout")).unwrap();
    /// assert_eq!(store.project(), Some("checkout"));
    /// ```
    pub fn set_project(&mut self, project: Option<&str>) -> Result<(), PgReadError> {
        if project.is_none() && self.project.is_none() {
            // No views were made on this connection: nothing to drop, no round trips.
            return Ok(());
        }
        let rollups = if self.schema_version() >= super::schema::TRACE_HOURS_VERSION {
            &PROJECT_ROLLUPS[..]
        } else {
            &[]
        };
        let sql = project_views(project, rollups);
        // The session is read-only; the views are the connection's own, so this one
        // transaction may create them.
        let mut transaction = self
            .client()
            .build_transaction()
            .read_only(false)
            .start()
            .map_err(|e| PgReadError::statement(&e))?;
        transaction
            .batch_execute(&sql)
            .map_err(|e| PgReadError::statement(&e))?;
        transaction
            .commit()
            .map_err(|e| PgReadError::statement(&e))?;
        self.project = project.map(str::to_owned);
        Ok(())
    }

    /// The project reads are limited to, if any.
    pub fn project(&self) -> Option<&str> {
        self.project.as_deref()
    }
}

/// The statements that drop the views of an earlier project and, for `project`, create
/// its own, for the store's tables and the kept `rollups` the database has.
fn project_views(project: Option<&str>, rollups: &[&str]) -> String {
    let mut sql = String::new();
    for table in PROJECT_TABLES.iter().chain(rollups) {
        sql.push_str(&format!("DROP VIEW IF EXISTS pg_temp.{table};"));
        if let Some(project) = project {
            // A view cannot take a parameter: the name goes in as a literal (the server's
            // `standard_conforming_strings`, on since 9.1, leaves backslashes as they are).
            let literal = project.replace('\'', "''");
            // With the view dropped, `{table}` names the store's table; the view keeps
            // that table, not the name.
            sql.push_str(&format!(
                "CREATE TEMP VIEW {table} AS SELECT * FROM {table} \
                 WHERE project_id = '{literal}';"
            ));
        }
    }
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_project_name_is_one_literal() {
        let sql = project_views(Some("o'brien"), &PROJECT_ROLLUPS);
        assert!(sql.contains("project_id = 'o''brien'"), "{sql}");
        assert_eq!(
            sql.matches("CREATE TEMP VIEW").count(),
            PROJECT_TABLES.len() + PROJECT_ROLLUPS.len()
        );
        let older = project_views(Some("a"), &[]);
        assert!(!older.contains("trace_hours"), "{older}");
        let none = project_views(None, &[]);
        assert!(!none.contains("CREATE"), "{none}");
        assert_eq!(none.matches("DROP VIEW").count(), PROJECT_TABLES.len());
    }
}
