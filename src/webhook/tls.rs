//! TLS for the webhook: a rustls certificate resolver whose certificate can be swapped
//! while the server runs, so a renewed certificate is served without a restart.

use std::sync::{Arc, RwLock};

use rustls::crypto::ring;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// Loading a certificate or building the TLS configuration failed.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The certificate PEM holds no readable certificate.
    #[error("reading the webhook certificate PEM: {0}")]
    Certificate(String),
    /// The key PEM holds no readable private key (the key itself is never printed).
    #[error("reading the webhook private key PEM: {0}")]
    Key(String),
    /// rustls refused the key or the configuration.
    #[error("building the webhook TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The serving certificate, replaceable at any time by [`CertResolver::set`].
#[derive(Debug, Default)]
pub struct CertResolver {
    current: RwLock<Option<Arc<CertifiedKey>>>,
}

impl CertResolver {
    /// Serves `cert_pem` (the certificate chain) with `key_pem` from now on.
    ///
    /// # Errors
    ///
    /// [`TlsError`] if either PEM is unreadable or the key type is not supported; the
    /// previous certificate stays in place.
    pub fn set(&self, cert_pem: &str, key_pem: &str) -> Result<(), TlsError> {
        let chain = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| TlsError::Certificate(e.to_string()))?;
        if chain.is_empty() {
            return Err(TlsError::Certificate("no certificate in the PEM".into()));
        }
        // The error of the PEM parser names the section, never the key's bytes.
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
            .map_err(|e| TlsError::Key(e.to_string()))?;
        let key = ring::sign::any_supported_type(&key)?;
        let certified = Arc::new(CertifiedKey::new(chain, key));
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(certified);
        Ok(())
    }

    /// Whether a certificate has been set.
    pub fn is_ready(&self) -> bool {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .is_some()
    }

    /// A rustls server configuration (TLS 1.2 and 1.3, ring) serving through `self`.
    ///
    /// # Errors
    ///
    /// [`TlsError::Rustls`] if the protocol versions are refused.
    pub fn server_config(self: &Arc<Self>) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let mut config =
            rustls::ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
                .with_safe_default_protocol_versions()?
                .with_no_client_auth()
                .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::webhook::certs::ServingCert;

    #[test]
    fn a_certificate_can_be_set_and_replaced() {
        let resolver = Arc::new(CertResolver::default());
        assert!(!resolver.is_ready());
        let first =
            ServingCert::issue(&["localhost".into()], Duration::from_secs(60), None).unwrap();
        resolver.set(&first.cert_pem, &first.key_pem).unwrap();
        assert!(resolver.is_ready());
        let second =
            ServingCert::issue(&["localhost".into()], Duration::from_secs(60), None).unwrap();
        resolver.set(&second.cert_pem, &second.key_pem).unwrap();
        let served = resolver.current.read().unwrap().clone().unwrap();
        let expected = CertificateDer::from_pem_slice(second.cert_pem.as_bytes()).unwrap();
        assert_eq!(served.cert[0], expected);
        resolver.server_config().unwrap();
    }

    #[test]
    fn unreadable_pem_is_refused_and_the_old_certificate_kept() {
        let resolver = CertResolver::default();
        let cert =
            ServingCert::issue(&["localhost".into()], Duration::from_secs(60), None).unwrap();
        assert!(matches!(
            resolver.set("garbage", &cert.key_pem),
            Err(TlsError::Certificate(_))
        ));
        let error = resolver.set(&cert.cert_pem, "not a key").unwrap_err();
        assert!(matches!(error, TlsError::Key(_)));
        assert!(!resolver.is_ready());
    }
}
