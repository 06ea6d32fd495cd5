//! TLS for every client connection: one rustls client configuration per process (the web
//! PKI roots, the ring provider), built on first use and shared by every connection — the
//! CyTube websockets and IRC's TLS sockets alike. A connection whose configuration names an
//! extra CA file gets a configuration of its own ([`with_ca_file`]).
//!
//! One configuration means the roots are parsed and held once, and TLS sessions resume across
//! reconnects (the resumption cache lives in the configuration).

use std::path::Path;
use std::sync::{Arc, OnceLock};

use rustls::pki_types::{CertificateDer, pem::PemObject};

/// The process's TLS client configuration.
pub fn client_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| Arc::new(config_with_roots(web_pki_roots())))
        .clone()
}

/// The web PKI roots (Mozilla's, compiled in).
pub fn web_pki_roots() -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    roots
}

/// A client configuration trusting `roots`, on the ring provider (the one TLS stack of the
/// workspace, named here rather than left to a process-wide default).
pub fn config_with_roots(roots: rustls::RootCertStore) -> rustls::ClientConfig {
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        // ring supports every safe default version: this cannot fail.
        .expect("the ring provider supports TLS 1.2 and 1.3")
        .with_root_certificates(roots)
        .with_no_client_auth()
}

/// The shared configuration, or — with `ca` — one of this connection's own trusting the web
/// PKI roots plus the certificates of that PEM file (read afresh each time).
pub fn with_ca_file(ca: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, String> {
    let Some(path) = ca else {
        return Ok(client_config());
    };
    let mut roots = web_pki_roots();
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("cannot read tls_ca {}: {e}", path.display()))?;
    for cert in certs {
        let cert = cert.map_err(|e| format!("bad certificate in {}: {e}", path.display()))?;
        roots
            .add(cert)
            .map_err(|e| format!("unusable certificate in {}: {e}", path.display()))?;
    }
    Ok(Arc::new(config_with_roots(roots)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_connection_gets_the_same_configuration() {
        let (a, b) = (client_config(), client_config());
        assert!(Arc::ptr_eq(&a, &b));
        assert!(Arc::ptr_eq(&with_ca_file(None).unwrap(), &a));
        assert!(!a.crypto_provider().cipher_suites.is_empty());
        let missing = with_ca_file(Some(Path::new("/nonexistent/ca.pem"))).unwrap_err();
        assert!(
            missing.contains("cannot read tls_ca /nonexistent/ca.pem"),
            "{missing}"
        );
    }
}
