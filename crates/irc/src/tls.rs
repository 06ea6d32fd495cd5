//! TLS for the connection (rustls, ring): the server's certificate is checked against the
//! web PKI roots plus any `tls_ca` file of the configuration. Without `tls_ca` the process's
//! one configuration ([`rosey_net::tls::client_config`]) serves every connection.

use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::{TlsConnector, client::TlsStream};

use crate::config::IrcConfig;

/// Wraps `tcp` in TLS to `cfg.server`.
pub(crate) async fn connect(
    cfg: &IrcConfig,
    tcp: TcpStream,
) -> Result<TlsStream<TcpStream>, String> {
    // The process's one configuration, or with `tls_ca` one of this connection's own.
    let config = rosey_net::tls::with_ca_file(cfg.tls_ca.as_deref())?;
    let name = ServerName::try_from(cfg.server.clone())
        .map_err(|e| format!("`{}` is not a TLS server name: {e}", cfg.server))?;
    TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS handshake failed: {e}"))
}
