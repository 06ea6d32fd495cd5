//! TLS for the connection (rustls, ring): the server's certificate is checked against the
//! web PKI roots plus any `tls_ca` file of the configuration.

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};
use tokio::net::TcpStream;
use tokio_rustls::{TlsConnector, client::TlsStream};

use crate::config::IrcConfig;

/// Wraps `tcp` in TLS to `cfg.server`.
pub(crate) async fn connect(
    cfg: &IrcConfig,
    tcp: TcpStream,
) -> Result<TlsStream<TcpStream>, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = &cfg.tls_ca {
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| format!("cannot read tls_ca {}: {e}", path.display()))?;
        for cert in certs {
            let cert = cert.map_err(|e| format!("bad certificate in {}: {e}", path.display()))?;
            roots
                .add(cert)
                .map_err(|e| format!("unusable certificate in {}: {e}", path.display()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from(cfg.server.clone())
        .map_err(|e| format!("`{}` is not a TLS server name: {e}", cfg.server))?;
    TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS handshake failed: {e}"))
}
