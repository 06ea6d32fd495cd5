//! Errors of the development server's public API.

use std::net::SocketAddr;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum DevServerError {
    /// The listen address could not be bound (in use, no permission, …).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address that was asked for.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The bound socket has no local address (should not happen on TCP).
    #[error("cannot read the local address of the listener on {addr}: {source}")]
    LocalAddr {
        /// The address that was asked for.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
}
