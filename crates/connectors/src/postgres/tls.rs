//! `sslmode` and `sslrootcert` of a PostgreSQL connection string, with libpq's meanings, over
//! rustls: `disable`; `allow`/`prefer` (TLS when the server offers it, unverified); `require`
//! (TLS, unverified — verified like `verify-ca` when `sslrootcert` is given); `verify-ca` (the
//! chain is checked, not the host name); `verify-full` (chain and host name).

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;

use crate::tls::{RelaxedVerifier, add_pem_certificates};
use rustls::client::danger::ServerCertVerifier;
use rustls::{ClientConfig, RootCertStore};

/// How the connection uses TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// Plain connections only.
    Disable,
    /// TLS if the server offers it, without verification.
    Prefer,
    /// TLS always, without verification.
    Require,
    /// TLS, the certificate chain verified.
    VerifyCa,
    /// TLS, the chain and the host name verified.
    VerifyFull,
}

/// A connection string with `sslmode`/`sslrootcert` taken out (tokio-postgres gets `sslmode`
/// `disable`, `prefer` or `require`), and what they asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// The connection string for tokio-postgres.
    pub connection_string: String,
    /// The mode asked for (default `prefer`, as libpq).
    pub mode: SslMode,
    /// CA certificates file (PEM).
    pub root_cert: Option<String>,
}

impl TlsSettings {
    /// Reads `sslmode` and `sslrootcert` from a URL (`?sslmode=…`) or key=value string.
    pub fn parse(connection_string: &str) -> Result<TlsSettings, String> {
        let is_url = connection_string.starts_with("postgres://")
            || connection_string.starts_with("postgresql://");
        let mut mode_text: Option<String> = None;
        let mut root_cert = None;
        let mut kept: Vec<String> = Vec::new();
        let rebuilt = if is_url {
            let (base, query) = connection_string
                .split_once('?')
                .unwrap_or((connection_string, ""));
            for pair in query.split('&').filter(|p| !p.is_empty()) {
                match pair.split_once('=') {
                    Some(("sslmode", value)) => mode_text = Some(value.to_string()),
                    Some(("sslrootcert", value)) => root_cert = Some(value.to_string()),
                    _ => kept.push(pair.to_string()),
                }
            }
            (base.to_string(), "?", "&")
        } else {
            for pair in connection_string.split_whitespace() {
                match pair.split_once('=') {
                    Some(("sslmode", value)) => {
                        mode_text = Some(value.trim_matches('\'').to_string())
                    }
                    Some(("sslrootcert", value)) => {
                        root_cert = Some(value.trim_matches('\'').to_string())
                    }
                    _ => kept.push(pair.to_string()),
                }
            }
            (String::new(), "", " ")
        };
        let mode = match mode_text.as_deref().unwrap_or("prefer") {
            "disable" => SslMode::Disable,
            "allow" | "prefer" => SslMode::Prefer,
            "require" if root_cert.is_some() => SslMode::VerifyCa,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(format!(
                    "sslmode {other:?} is not allowed (expected one of: disable, allow, prefer, require, verify-ca, verify-full)"
                ));
            }
        };
        let driver_mode = match mode {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            _ => "require",
        };
        kept.push(format!("sslmode={driver_mode}"));
        let (base, first, separator) = rebuilt;
        let connection_string = if is_url {
            format!("{base}{first}{}", kept.join(separator))
        } else {
            kept.join(separator)
        };
        Ok(TlsSettings {
            connection_string,
            mode,
            root_cert,
        })
    }

    /// The rustls configuration of the mode (`None` for `disable`).
    pub fn client_config(&self) -> Result<Option<ClientConfig>, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?;
        let verifier: Arc<dyn ServerCertVerifier> = match self.mode {
            SslMode::Disable => return Ok(None),
            SslMode::Prefer | SslMode::Require => Arc::new(RelaxedVerifier::accept_any(provider)),
            SslMode::VerifyCa | SslMode::VerifyFull => {
                let roots = Arc::new(self.roots()?);
                let webpki =
                    WebPkiServerVerifier::builder_with_provider(roots, Arc::clone(&provider))
                        .build()
                        .map_err(|e| e.to_string())?;
                if self.mode == SslMode::VerifyCa {
                    // `verify-ca`: the chain must lead to a trusted CA; the host name is not checked.
                    Arc::new(RelaxedVerifier::chain_only(webpki, provider))
                } else {
                    webpki
                }
            }
        };
        Ok(Some(
            builder
                .dangerous()
                .with_custom_certificate_verifier(verifier)
                .with_no_client_auth(),
        ))
    }

    fn roots(&self) -> Result<RootCertStore, String> {
        let mut roots = RootCertStore::empty();
        match &self.root_cert {
            Some(path) => {
                let pem = std::fs::read(path).map_err(|e| format!("sslrootcert {path}: {e}"))?;
                add_pem_certificates(&mut roots, &pem, &format!("sslrootcert {path}"))?;
            }
            None => {
                for cert in rustls_native_certs::load_native_certs().certs {
                    let _ = roots.add(cert);
                }
            }
        }
        if roots.is_empty() {
            return Err("no CA certificates to verify the server with (set sslrootcert)".into());
        }
        Ok(roots)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_mode_from_both_forms() {
        let url =
            TlsSettings::parse("postgres://u:p@h:5432/db?sslmode=verify-full&application_name=x")
                .unwrap();
        assert_eq!(url.mode, SslMode::VerifyFull);
        assert_eq!(
            url.connection_string,
            "postgres://u:p@h:5432/db?application_name=x&sslmode=require"
        );
        let plain = TlsSettings::parse("host=h user=u sslmode=disable").unwrap();
        assert_eq!(plain.mode, SslMode::Disable);
        assert_eq!(plain.connection_string, "host=h user=u sslmode=disable");
        let rooted = TlsSettings::parse("host=h sslmode=require sslrootcert=/ca.pem").unwrap();
        assert_eq!(
            (rooted.mode, rooted.root_cert.as_deref()),
            (SslMode::VerifyCa, Some("/ca.pem"))
        );
        assert_eq!(TlsSettings::parse("host=h").unwrap().mode, SslMode::Prefer);
        assert_eq!(
            TlsSettings::parse("postgres://h/db")
                .unwrap()
                .connection_string,
            "postgres://h/db?sslmode=prefer"
        );
        assert!(
            TlsSettings::parse("host=h sslmode=sometimes")
                .unwrap_err()
                .contains("sslmode \"sometimes\"")
        );
    }

    #[test]
    fn every_mode_builds_a_configuration() {
        for mode in ["prefer", "require", "verify-full", "verify-ca"] {
            let settings = TlsSettings::parse(&format!("host=h sslmode={mode}")).unwrap();
            match settings.client_config() {
                Ok(config) => assert!(config.is_some(), "{mode}"),
                // A machine without system CA certificates cannot verify: that is said clearly.
                Err(error) => assert!(error.contains("set sslrootcert"), "{mode}: {error}"),
            }
        }
        assert!(
            TlsSettings::parse("host=h sslmode=disable")
                .unwrap()
                .client_config()
                .unwrap()
                .is_none()
        );
        let missing = TlsSettings::parse("host=h sslmode=verify-full sslrootcert=/nope.pem")
            .unwrap()
            .client_config()
            .unwrap_err();
        assert!(missing.contains("sslrootcert /nope.pem"), "{missing}");
    }
}
