//! TLS pieces shared by connectors that use rustls (with the ring provider).

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, Error, RootCertStore, SignatureScheme};

/// Adds every certificate of the PEM text `pem` to `roots`; errors are prefixed with `origin`.
pub(crate) fn add_pem_certificates(
    roots: &mut RootCertStore,
    pem: &[u8],
    origin: &str,
) -> Result<(), String> {
    for cert in rustls_pemfile::certs(&mut &pem[..]) {
        let cert = cert.map_err(|e| format!("{origin}: {e}"))?;
        roots.add(cert).map_err(|e| format!("{origin}: {e}"))?;
    }
    Ok(())
}

/// A verifier that checks less than rustls's own: with no chain verifier it accepts any
/// certificate (`sslmode=require`, `insecureSkipVerify`: encryption without verification),
/// with one it checks the chain but not the host name (`sslmode=verify-ca`). Handshake
/// signatures are always checked.
#[derive(Debug)]
pub(crate) struct RelaxedVerifier {
    chain: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl RelaxedVerifier {
    /// Accepts any certificate.
    pub(crate) fn accept_any(provider: Arc<rustls::crypto::CryptoProvider>) -> Self {
        RelaxedVerifier {
            chain: None,
            provider,
        }
    }

    /// Checks the chain with `chain`, not the host name.
    pub(crate) fn chain_only(
        chain: Arc<WebPkiServerVerifier>,
        provider: Arc<rustls::crypto::CryptoProvider>,
    ) -> Self {
        RelaxedVerifier {
            chain: Some(chain),
            provider,
        }
    }
}

impl ServerCertVerifier for RelaxedVerifier {
    fn verify_server_cert(
        &self,
        end: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end, intermediates, name, ocsp, now) {
            Err(Error::InvalidCertificate(CertificateError::NotValidForName))
            | Err(Error::InvalidCertificate(CertificateError::NotValidForNameContext { .. })) => {
                Ok(ServerCertVerified::assertion())
            }
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
