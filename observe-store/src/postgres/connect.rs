//! Opening a connection as [`PgSettings`] say: plain, or TLS with rustls verifying the
//! server's certificate against the web's roots and `sslrootcert`.

use postgres::config::SslMode;
use postgres::{Client, NoTls};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use super::error::describe;
use super::settings::{PgSettings, TlsMode};
use super::PgStoreError;

/// A new connection to the database of `settings`. Errors name the server (never the
/// password).
pub(super) fn connect(settings: &PgSettings) -> Result<Client, PgStoreError> {
    let mut config = settings.config().clone();
    let failed = |source: postgres::Error| PgStoreError::Connect {
        target: settings.to_string(),
        reason: settings.hide(&describe(&source)),
        source,
    };
    match settings.tls() {
        TlsMode::Disable => {
            config.ssl_mode(SslMode::Disable);
            config.connect(NoTls).map_err(failed)
        }
        mode => {
            config.ssl_mode(match mode {
                TlsMode::Require => SslMode::Require,
                _ => SslMode::Prefer,
            });
            let tls = tokio_postgres_rustls::MakeRustlsConnect::new(client_config(settings)?);
            config.connect(tls).map_err(failed)
        }
    }
}

/// Asks the server to cancel what `token`'s connection is running, reaching it as that
/// connection did. Best effort: a query that ends first, or a server that cannot be
/// reached, leaves nothing to do.
pub(super) fn cancel(settings: &PgSettings, token: &postgres::CancelToken) {
    // The cancel request goes over a connection of its own, in the same TLS mode.
    let _ = match settings.tls() {
        TlsMode::Disable => token.cancel_query(NoTls),
        _ => match client_config(settings) {
            Ok(config) => token.cancel_query(tokio_postgres_rustls::MakeRustlsConnect::new(config)),
            Err(_) => return,
        },
    };
}

fn client_config(settings: &PgSettings) -> Result<rustls::ClientConfig, PgStoreError> {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(path) = settings.root_cert() {
        let bad = |reason: String| PgStoreError::Tls {
            reason: format!("sslrootcert {}: {reason}", path.display()),
        };
        let certs = CertificateDer::pem_file_iter(path).map_err(|e| bad(e.to_string()))?;
        for cert in certs {
            roots
                .add(cert.map_err(|e| bad(e.to_string()))?)
                .map_err(|e| bad(e.to_string()))?;
        }
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| PgStoreError::Tls {
            reason: e.to_string(),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth())
}
