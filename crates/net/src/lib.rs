//! What the chat-network clients (`rosey-cytube`, `rosey-irc`, `rosey-matrix`) share, so none
//! of them depends on another: the reconnect [`Backoff`] and the process's one TLS client
//! configuration ([`tls`]).
//!
//! # Layout
//! - `backoff.rs`: reconnect delays (exponential, jitter, cap).
//! - [`tls`]: the process's rustls client configuration (web PKI roots, the ring provider),
//!   and one with extra CA certificates from a PEM file.

mod backoff;
pub mod tls;

pub use backoff::Backoff;
