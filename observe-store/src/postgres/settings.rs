//! Where the PostgreSQL store is and how to reach it: a `postgres://` URL, its missing parts
//! taken from libpq's environment variables as `psql` takes them.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use super::PgStoreError;

/// libpq's variables, read for what the URL leaves out.
const PGHOST: &str = "PGHOST";
const PGPORT: &str = "PGPORT";
const PGUSER: &str = "PGUSER";
const PGPASSWORD: &str = "PGPASSWORD";
const PGDATABASE: &str = "PGDATABASE";
const PGSSLMODE: &str = "PGSSLMODE";
const PGSSLROOTCERT: &str = "PGSSLROOTCERT";
const PGCONNECT_TIMEOUT: &str = "PGCONNECT_TIMEOUT";

/// Whether the connection is encrypted, as libpq's `sslmode` says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsMode {
    /// `disable`: plain TCP.
    Disable,
    /// `allow`, `prefer` (libpq's default): TLS when the server offers it.
    Prefer,
    /// `require`, `verify-ca`, `verify-full`: TLS or no connection. The server's
    /// certificate is always verified, against the web's roots, the system's and
    /// `sslrootcert` / `PGSSLROOTCERT`.
    Require,
}

/// How to reach the store's database; never shows its password (`Debug` included).
///
/// ```
/// use observe_store::postgres::{PgSettings, TlsMode};
///
/// let s = PgSettings::from_url_with_env(
///     "postgres://observe:s3cret@db.internal:6543/traces?sslmode=require",
///     |_| None,
/// )
/// .unwrap();
/// assert_eq!(s.to_string(), "postgres://observe@db.internal:6543/traces");
/// assert_eq!(s.tls(), TlsMode::Require);
/// assert!(!format!("{s:?}").contains("s3cret"));
/// ```
#[derive(Clone)]
pub struct PgSettings {
    config: postgres::Config,
    tls: TlsMode,
    root_cert: Option<PathBuf>,
}

impl std::fmt::Debug for PgSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgSettings")
            .field("target", &self.to_string())
            .field("tls", &self.tls)
            .finish()
    }
}

impl std::fmt::Display for PgSettings {
    /// The URL without its password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "postgres://")?;
        if let Some(user) = self.config.get_user() {
            write!(f, "{user}@")?;
        }
        let hosts = self.config.get_hosts();
        for (i, host) in hosts.iter().enumerate() {
            if i > 0 {
                write!(f, ",")?;
            }
            match host {
                postgres::config::Host::Tcp(h) => write!(f, "{h}")?,
                #[cfg(unix)]
                postgres::config::Host::Unix(p) => write!(f, "{}", p.display())?,
            }
            if let Some(port) = self.config.get_ports().get(i) {
                write!(f, ":{port}")?;
            }
        }
        write!(f, "/{}", self.config.get_dbname().unwrap_or_default())
    }
}

impl PgSettings {
    /// The settings of `url` (`postgres://user:password@host:port/database?sslmode=...`, or
    /// `postgres:` alone), its missing parts from libpq's variables (`PGHOST`, `PGPORT`,
    /// `PGUSER`, `PGPASSWORD`, `PGDATABASE`, `PGSSLMODE`, `PGSSLROOTCERT`,
    /// `PGCONNECT_TIMEOUT`) then libpq's defaults (`localhost`, 5432, the user `postgres`,
    /// the database named as the user, `prefer`).
    ///
    /// ```
    /// let s = observe_store::postgres::PgSettings::from_url("postgres://db.internal/observe");
    /// assert!(s.is_ok());
    /// ```
    pub fn from_url(url: &str) -> Result<PgSettings, PgStoreError> {
        Self::from_url_with_env(url, |name| std::env::var(name).ok())
    }

    /// [`PgSettings::from_url`] with the environment given as a function (for tests and
    /// tools that hold their own).
    ///
    /// ```
    /// use observe_store::postgres::PgSettings;
    /// let env = |name: &str| match name {
    ///     "PGHOST" => Some("10.0.0.5".to_owned()),
    ///     "PGUSER" => Some("ci".to_owned()),
    ///     _ => None,
    /// };
    /// let s = PgSettings::from_url_with_env("postgres:", env).unwrap();
    /// assert_eq!(s.to_string(), "postgres://ci@10.0.0.5:5432/ci");
    /// ```
    pub fn from_url_with_env(
        url: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<PgSettings, PgStoreError> {
        let secret = url_password(url);
        let bad = |reason: String| PgStoreError::Url {
            reason: hide(&reason, secret),
        };
        let rest = url
            .strip_prefix("postgresql:")
            .or_else(|| url.strip_prefix("postgres:"))
            .ok_or_else(|| bad("it does not start with `postgres://`".to_owned()))?;
        // `sslmode` is read here: libpq's `verify-ca` and `verify-full` are unknown to the
        // client library, and certificates are verified in every TLS mode anyway.
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, Some(q)),
            None => (rest, None),
        };
        let mut tls = None;
        let mut root_cert = None;
        let mut kept = Vec::new();
        for pair in query.into_iter().flat_map(|q| q.split('&')) {
            match pair.split_once('=') {
                Some(("sslmode", v)) => tls = Some(tls_mode(v).map_err(bad)?),
                Some(("sslrootcert", v)) => root_cert = Some(PathBuf::from(v)),
                _ => kept.push(pair),
            }
        }
        let mut config = if rest.is_empty() || rest == "//" {
            postgres::Config::new()
        } else {
            let mut text = format!("postgres:{rest}");
            if !kept.is_empty() {
                text.push('?');
                text.push_str(&kept.join("&"));
            }
            postgres::Config::from_str(&text).map_err(|e| bad(e.to_string()))?
        };
        if config.get_hosts().is_empty() {
            config.host(env(PGHOST).as_deref().unwrap_or("localhost"));
        }
        if config.get_ports().is_empty() {
            let port = match env(PGPORT) {
                Some(p) => p
                    .parse::<u16>()
                    .map_err(|_| bad(format!("PGPORT `{p}` is not a port number")))?,
                None => 5432,
            };
            config.port(port);
        }
        if config.get_user().is_none() {
            config.user(env(PGUSER).as_deref().unwrap_or("postgres"));
        }
        if config.get_password().is_none() {
            if let Some(p) = env(PGPASSWORD) {
                config.password(p.as_bytes());
            }
        }
        if config.get_dbname().is_none() {
            let db = env(PGDATABASE)
                .or_else(|| config.get_user().map(str::to_owned))
                .unwrap_or_default();
            config.dbname(&db);
        }
        let tls = match tls {
            Some(t) => t,
            None => match env(PGSSLMODE) {
                Some(v) => tls_mode(&v).map_err(bad)?,
                None => TlsMode::Prefer,
            },
        };
        if root_cert.is_none() {
            root_cert = env(PGSSLROOTCERT).map(PathBuf::from);
        }
        if config.get_connect_timeout().is_none() {
            let secs = env(PGCONNECT_TIMEOUT)
                .and_then(|s| s.parse::<u64>().ok())
                .unwrap_or(10);
            config.connect_timeout(Duration::from_secs(secs.max(2)));
        }
        config.application_name("observe");
        Ok(PgSettings {
            config,
            tls,
            root_cert,
        })
    }

    /// How the connection is encrypted.
    ///
    /// ```
    /// use observe_store::postgres::{PgSettings, TlsMode};
    /// let s = PgSettings::from_url_with_env("postgres://h/db?sslmode=disable", |_| None).unwrap();
    /// assert_eq!(s.tls(), TlsMode::Disable);
    /// ```
    pub fn tls(&self) -> TlsMode {
        self.tls
    }

    /// The client library's settings (password included: do not print them).
    pub(super) fn config(&self) -> &postgres::Config {
        &self.config
    }

    /// Extra trusted roots for the server's certificate (`sslrootcert`).
    pub(super) fn root_cert(&self) -> Option<&std::path::Path> {
        self.root_cert.as_deref()
    }

    /// `text` with the password, if any, replaced by `***`.
    pub(super) fn hide(&self, text: &str) -> String {
        let password = self
            .config
            .get_password()
            .and_then(|p| std::str::from_utf8(p).ok());
        hide(text, password)
    }
}

fn tls_mode(value: &str) -> Result<TlsMode, String> {
    Ok(match value {
        "disable" => TlsMode::Disable,
        "allow" | "prefer" => TlsMode::Prefer,
        "require" | "verify-ca" | "verify-full" => TlsMode::Require,
        other => return Err(format!("unknown sslmode `{other}`")),
    })
}

/// The password in a URL's `user:password@` part, if any (as written, not decoded).
fn url_password(url: &str) -> Option<&str> {
    let after_scheme = url.split_once("://")?.1;
    let userinfo = after_scheme.rsplit_once('@')?.0;
    userinfo
        .split_once(':')
        .map(|(_, p)| p)
        .filter(|p| !p.is_empty())
}

fn hide(text: &str, secret: Option<&str>) -> String {
    match secret {
        Some(s) if !s.is_empty() => text.replace(s, "***"),
        _ => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn url_parts_win_over_the_environment() {
        let env = |name: &str| Some(format!("env-{}", name.to_lowercase()));
        let s = PgSettings::from_url_with_env("postgres://u@h:7/d", env).unwrap();
        assert_eq!(s.to_string(), "postgres://u@h:7/d");
        assert_eq!(s.config().get_password(), Some(&b"env-pgpassword"[..]));
    }

    #[test]
    fn libpq_variables_fill_an_empty_url() {
        let env = |name: &str| {
            Some(
                match name {
                    PGHOST => "pg.example",
                    PGPORT => "6000",
                    PGUSER => "alice",
                    PGDATABASE => "obs",
                    PGSSLMODE => "verify-full",
                    _ => return None,
                }
                .to_owned(),
            )
        };
        for url in ["postgres:", "postgres://", "postgresql://"] {
            let s = PgSettings::from_url_with_env(url, env).unwrap();
            assert_eq!(s.to_string(), "postgres://alice@pg.example:6000/obs");
            assert_eq!(s.tls(), TlsMode::Require);
        }
    }

    #[test]
    fn bad_urls_say_why_without_the_password() {
        for url in [
            "postgres://u:hunter2@h:notaport/d",
            "postgres://u:hunter2@h/d?sslmode=sometimes",
            "mysql://u:hunter2@h/d",
        ] {
            let e = PgSettings::from_url_with_env(url, none).unwrap_err();
            let text = e.to_string();
            assert!(!text.contains("hunter2"), "{text}");
            assert!(text.contains("URL"), "{text}");
        }
        let e = PgSettings::from_url_with_env("postgres:", |n| {
            (n == PGPORT).then(|| "eighty".to_owned())
        })
        .unwrap_err();
        assert!(e.to_string().contains("PGPORT"), "{e}");
    }
}
