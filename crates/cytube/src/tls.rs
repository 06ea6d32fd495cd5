//! TLS for `wss://` channels: the connector on the process's one rustls configuration
//! ([`rosey_net::tls::client_config`], shared with the IRC client).
//!
//! Without a connector, tokio-tungstenite builds a configuration per connection — the roots
//! parsed and held again by every channel, and no TLS session resumption across reconnects.
//! Plain `ws://` channels never build it.

use tokio_tungstenite::Connector;

pub use rosey_net::tls::client_config;

/// The connector for a `wss://` connection: the shared [`client_config`].
pub fn connector() -> Connector {
    Connector::Rustls(client_config())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn every_connection_gets_the_same_configuration() {
        let (Connector::Rustls(c), Connector::Rustls(d)) = (connector(), connector()) else {
            panic!("a rustls connector");
        };
        assert!(Arc::ptr_eq(&c, &d) && Arc::ptr_eq(&c, &client_config()));
    }
}
