//! TLS for the connection (rustls, ring): the server's certificate is checked against the
//! web PKI roots plus any `tls_ca` file of the configuration. Without `tls_ca` the process's
//! one configuration ([`rosey_cytube::tls::client_config`]) serves every connection.

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
    let config = match &cfg.tls_ca {
        // The process's one configuration, shared with the CyTube websockets.
        None => rosey_cytube::tls::client_config(),
        // A configured CA: a configuration of this connection's own, the file read afresh.
        Some(path) => {
            let mut roots = rosey_cytube::tls::web_pki_roots();
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("cannot read tls_ca {}: {e}", path.display()))?;
            for cert in certs {
                let cert =
                    cert.map_err(|e| format!("bad certificate in {}: {e}", path.display()))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("unusable certificate in {}: {e}", path.display()))?;
            }
            Arc::new(rosey_cytube::tls::config_with_roots(roots))
        }
    };
    let name = ServerName::try_from(cfg.server.clone())
        .map_err(|e| format!("`{}` is not a TLS server name: {e}", cfg.server))?;
    TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS handshake failed: {e}"))
}
