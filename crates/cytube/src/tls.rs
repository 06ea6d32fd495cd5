//! TLS for `wss://` channels: one rustls client configuration per process (the web PKI
//! roots, the ring provider), built on first use and shared by every connection.
//!
//! Without a connector, tokio-tungstenite builds a configuration per connection — the roots
//! parsed and held again by every channel, and no TLS session resumption across reconnects
//! (the resumption cache lives in the configuration). Plain `ws://` channels never build it.
//! The IRC client shares it too (and builds its own only to add a configured CA).

use std::sync::{Arc, OnceLock};

use tokio_tungstenite::Connector;

/// The process's TLS client configuration for websockets.
pub fn client_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| Arc::new(config_with_roots(web_pki_roots())))
        .clone()
}

/// The connector for a `wss://` connection: the shared [`client_config`].
pub fn connector() -> Connector {
    Connector::Rustls(client_config())
}

/// The web PKI roots (Mozilla's, compiled in).
pub fn web_pki_roots() -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    roots
}

/// A client configuration trusting `roots`, on the ring provider (the one TLS stack of the
/// workspace, named here rather than left to a process-wide default). The IRC client builds
/// its own with this when its configuration adds a CA.
pub fn config_with_roots(roots: rustls::RootCertStore) -> rustls::ClientConfig {
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        // ring supports every safe default version: this cannot fail.
        .expect("the ring provider supports TLS 1.2 and 1.3")
        .with_root_certificates(roots)
        .with_no_client_auth()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_connection_gets_the_same_configuration() {
        let (a, b) = (client_config(), client_config());
        assert!(Arc::ptr_eq(&a, &b));
        let (Connector::Rustls(c), Connector::Rustls(d)) = (connector(), connector()) else {
            panic!("a rustls connector");
        };
        assert!(Arc::ptr_eq(&c, &d) && Arc::ptr_eq(&c, &a));
        assert!(!a.crypto_provider().cipher_suites.is_empty());
    }
}
