//! Who may send: Basic auth with a Langfuse key pair (the public key as user, the secret
//! key as password, as the Langfuse SDKs send them), each pair naming the project its
//! data goes to. With no pair configured every key is taken, for the default project:
//! the server then listens on loopback only (see [`ServeConfig`](super::ServeConfig)).

use base64::Engine as _;

/// The project of requests when no keys are configured, and of `--public-key/--secret-key`.
pub const DEFAULT_PROJECT: &str = "default";

/// One key pair and the project it writes to.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyPair {
    /// The project the pair's data goes to.
    pub project: String,
    /// The public key (`pk-lf-...`), sent as the Basic auth user.
    pub public: String,
    /// The secret key (`sk-lf-...`), sent as the Basic auth password.
    pub secret: String,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret stays out of logs and panics.
        f.debug_struct("KeyPair")
            .field("project", &self.project)
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

/// The key pairs a server takes; none means any key is taken.
///
/// ```
/// use observe_cli::serve::Keys;
///
/// let keys = Keys::parse_file("# project public secret\nteam-a pk-a sk-a\nteam-b pk-b sk-b\n")
///     .unwrap();
/// assert_eq!(keys.pairs().len(), 2);
/// // `pk-a:sk-a` in base64, as an SDK sends it.
/// assert_eq!(keys.check(Some("Basic cGstYTpzay1h")).unwrap(), "team-a");
/// assert!(keys.check(Some("Basic cGstYTpzay1i")).is_err());
/// assert!(Keys::open().check(None).is_ok());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Keys {
    pairs: Vec<KeyPair>,
}

/// A `--keys` file that could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeysError {
    /// A line is not `project public secret`.
    #[error("line {line}: expected `project public-key secret-key`, separated by spaces")]
    Line {
        /// The line number, from 1.
        line: usize,
    },
    /// Two lines give the same public key.
    #[error("line {line}: public key `{public}` is given twice")]
    Duplicate {
        /// The line number, from 1.
        line: usize,
        /// The public key.
        public: String,
    },
    /// The file names no key pair.
    #[error("no key pair in the file")]
    Empty,
}

/// Why a request's credentials were refused (answered 401).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthRefusal {
    /// No `Authorization` header.
    #[error("No authorization header: send the public key as user and the secret key as password (HTTP Basic auth)")]
    Missing,
    /// Not `Basic base64(user:password)`.
    #[error("Invalid authorization header: expected HTTP Basic auth with the public key as user and the secret key as password")]
    Malformed,
    /// The public key is unknown or the secret does not match it.
    #[error("Invalid credentials. Confirm that you've configured the correct host and keys.")]
    Invalid,
}

impl Keys {
    /// No keys: every request is taken, for [`DEFAULT_PROJECT`].
    pub fn open() -> Keys {
        Keys::default()
    }

    /// One pair, for [`DEFAULT_PROJECT`].
    ///
    /// ```
    /// use observe_cli::serve::Keys;
    ///
    /// assert!(!Keys::single("pk", "sk").is_open());
    /// ```
    pub fn single(public: &str, secret: &str) -> Keys {
        Keys {
            pairs: vec![KeyPair {
                project: DEFAULT_PROJECT.to_owned(),
                public: public.to_owned(),
                secret: secret.to_owned(),
            }],
        }
    }

    /// Reads `project public secret` lines; blank lines and lines starting with `#` are
    /// skipped.
    pub fn parse_file(text: &str) -> Result<Keys, KeysError> {
        let mut pairs: Vec<KeyPair> = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let line_no = index + 1;
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [project, public, secret] = fields[..] else {
                return Err(KeysError::Line { line: line_no });
            };
            if pairs.iter().any(|p| p.public == public) {
                return Err(KeysError::Duplicate {
                    line: line_no,
                    public: public.to_owned(),
                });
            }
            pairs.push(KeyPair {
                project: project.to_owned(),
                public: public.to_owned(),
                secret: secret.to_owned(),
            });
        }
        if pairs.is_empty() {
            return Err(KeysError::Empty);
        }
        Ok(Keys { pairs })
    }

    /// True when no pair is configured (any key is taken).
    pub fn is_open(&self) -> bool {
        self.pairs.is_empty()
    }

    /// The configured pairs.
    pub fn pairs(&self) -> &[KeyPair] {
        &self.pairs
    }

    /// The project a request with this `Authorization` header writes to.
    pub fn check(&self, authorization: Option<&str>) -> Result<&str, AuthRefusal> {
        if self.is_open() {
            return Ok(DEFAULT_PROJECT);
        }
        let header = authorization.ok_or(AuthRefusal::Missing)?;
        let (public, secret) = basic_credentials(header).ok_or(AuthRefusal::Malformed)?;
        self.pairs
            .iter()
            .find(|p| p.public == public)
            .filter(|p| same_secret(p.secret.as_bytes(), secret.as_bytes()))
            .map(|p| p.project.as_str())
            .ok_or(AuthRefusal::Invalid)
    }
}

/// The user and password of a `Basic` header.
fn basic_credentials(header: &str) -> Option<(String, String)> {
    let (scheme, encoded) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// Compares secrets in a time that does not depend on where they first differ, so that
/// the answer's timing does not spell a secret out byte by byte.
fn same_secret(expected: &[u8], given: &[u8]) -> bool {
    let mut diff = expected.len() ^ given.len();
    for (i, e) in expected.iter().enumerate() {
        diff |= usize::from(e ^ given.get(i).copied().unwrap_or(0));
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user: &str, password: &str) -> String {
        let raw = format!("{user}:{password}");
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }

    #[test]
    fn pairs_map_to_projects_and_wrong_keys_are_refused() {
        let keys = Keys::parse_file("a pk-1 sk-1\n\n# comment\nb pk-2 sk-2").unwrap();
        assert_eq!(keys.check(Some(&basic("pk-1", "sk-1"))), Ok("a"));
        assert_eq!(keys.check(Some(&basic("pk-2", "sk-2"))), Ok("b"));
        assert_eq!(
            keys.check(Some(&basic("pk-1", "sk-2"))),
            Err(AuthRefusal::Invalid)
        );
        assert_eq!(
            keys.check(Some(&basic("pk-1", "sk-1x"))),
            Err(AuthRefusal::Invalid)
        );
        assert_eq!(
            keys.check(Some(&basic("pk-9", "sk-1"))),
            Err(AuthRefusal::Invalid)
        );
        assert_eq!(keys.check(None), Err(AuthRefusal::Missing));
        assert_eq!(keys.check(Some("Bearer abc")), Err(AuthRefusal::Malformed));
        assert_eq!(keys.check(Some("Basic !!!")), Err(AuthRefusal::Malformed));
    }

    #[test]
    fn bad_key_files_say_which_line() {
        assert!(matches!(
            Keys::parse_file("a pk sk\nb pk-only"),
            Err(KeysError::Line { line: 2 })
        ));
        assert!(matches!(
            Keys::parse_file("a pk sk\nb pk sk2"),
            Err(KeysError::Duplicate { line: 2, .. })
        ));
        assert!(matches!(
            Keys::parse_file("# nothing\n"),
            Err(KeysError::Empty)
        ));
    }

    #[test]
    fn debug_hides_the_secret() {
        let keys = Keys::single("pk-visible", "sk-hidden");
        let shown = format!("{keys:?}");
        assert!(shown.contains("pk-visible"));
        assert!(!shown.contains("sk-hidden"));
    }
}
