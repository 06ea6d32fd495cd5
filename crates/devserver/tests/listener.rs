//! The devserver's HTTP listener (issue 25, item 6): a connection whose request header never
//! finishes is closed within the header timeout, and a whole request is still served.

use std::time::Duration;

use rosey_devserver::listen::HEADER_TIMEOUT;
use rosey_devserver::{DevServer, DevServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test]
async fn a_half_sent_request_is_closed_within_the_header_timeout() {
    let server = DevServer::start(DevServerConfig::default())
        .await
        .expect("devserver starts");
    let mut half = TcpStream::connect(server.addr()).await.unwrap();
    half.write_all(b"GET /socketconfig/c.json HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let closed = async {
        let mut buf = [0u8; 256];
        loop {
            match half.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(HEADER_TIMEOUT + Duration::from_secs(5), closed)
        .await
        .expect("the half-sent request's connection is closed");

    let mut whole = TcpStream::connect(server.addr()).await.unwrap();
    whole
        .write_all(b"GET /socketconfig/c.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(5), whole.read_to_string(&mut answer))
        .await
        .expect("answered")
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    server.shutdown().await;
}
