//! Finding the socket.io server of a channel: `GET <domain>/socketconfig/<channel>.json`
//! (cytube-protocol.md §1.1), choosing an entry like the browser does, and building the
//! Engine.IO websocket URL.

use serde::Deserialize;
use url::Url;

/// Errors from discovery; each says what was asked for.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error("invalid domain {domain:?}: {reason}")]
    BadDomain { domain: String, reason: String },
    #[error("invalid channel name {0:?} (CyTube allows 1-30 of a-z, A-Z, 0-9, _ and -)")]
    BadChannel(String),
    #[error("GET {url} failed: {source}")]
    Http { url: String, source: reqwest::Error },
    #[error("GET {url} answered {status}: {body}")]
    Status {
        url: String,
        status: u16,
        body: String,
    },
    #[error("GET {url} answered something that is not a socketconfig: {reason}")]
    BadBody { url: String, reason: String },
    #[error("GET {url} returned no usable server")]
    NoServers { url: String },
    #[error("server URL {url:?} from socketconfig is not usable: {reason}")]
    BadServerUrl { url: String, reason: String },
}

/// One entry of `servers`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ServerEntry {
    pub url: String,
    #[serde(default)]
    pub secure: bool,
    #[serde(default)]
    pub ipv6: bool,
}

#[derive(Debug, Deserialize)]
struct SocketConfig {
    #[serde(default)]
    servers: Vec<ServerEntry>,
}

/// CyTube's channel name rule, `^[\w-]{1,30}$` (JavaScript `\w` is ASCII only).
pub fn is_valid_channel_name(name: &str) -> bool {
    (1..=30).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// `<domain>/socketconfig/<channel>.json`; `domain` is `http(s)://host[:port]`.
pub fn socketconfig_url(domain: &str, channel: &str) -> Result<Url, DiscoveryError> {
    if !is_valid_channel_name(channel) {
        return Err(DiscoveryError::BadChannel(channel.to_owned()));
    }
    let bad = |reason: String| DiscoveryError::BadDomain {
        domain: domain.to_owned(),
        reason,
    };
    let base = Url::parse(domain).map_err(|e| bad(e.to_string()))?;
    if !matches!(base.scheme(), "http" | "https") {
        return Err(bad("the scheme must be http or https".into()));
    }
    base.join(&format!("/socketconfig/{channel}.json"))
        .map_err(|e| bad(e.to_string()))
}

/// The browser's choice: the first secure entry, else the first entry; IPv6-only entries are
/// skipped when there is anything else (CyTube lists them with a wrong URL anyway).
pub fn choose_server(servers: &[ServerEntry]) -> Option<&ServerEntry> {
    let candidates: Vec<&ServerEntry> = {
        let v4: Vec<&ServerEntry> = servers.iter().filter(|s| !s.ipv6).collect();
        if v4.is_empty() {
            servers.iter().collect()
        } else {
            v4
        }
    };
    candidates
        .iter()
        .find(|s| s.secure)
        .or_else(|| candidates.first())
        .copied()
}

/// The Engine.IO 4 websocket URL for a socket.io server URL such as `http://host:1337`.
pub fn websocket_url(server_url: &str) -> Result<Url, DiscoveryError> {
    let bad = |reason: &str| DiscoveryError::BadServerUrl {
        url: server_url.to_owned(),
        reason: reason.to_owned(),
    };
    let mut url = Url::parse(server_url).map_err(|e| bad(&e.to_string()))?;
    let scheme = match url.scheme() {
        "http" | "ws" => "ws",
        "https" | "wss" => "wss",
        _ => return Err(bad("the scheme must be http(s) or ws(s)")),
    };
    url.set_scheme(scheme)
        .map_err(|()| bad("cannot change the scheme"))?;
    url.set_path("/socket.io/");
    url.set_query(Some("EIO=4&transport=websocket"));
    url.set_fragment(None);
    Ok(url)
}

/// Fetches the socketconfig and returns the websocket URL of the chosen server.
pub async fn discover(
    http: &reqwest::Client,
    domain: &str,
    channel: &str,
) -> Result<Url, DiscoveryError> {
    let url = socketconfig_url(domain, channel)?;
    let http_err = |source| DiscoveryError::Http {
        url: url.to_string(),
        source,
    };
    let response = http.get(url.clone()).send().await.map_err(http_err)?;
    let status = response.status().as_u16();
    let body = response.bytes().await.map_err(http_err)?;
    read_socketconfig(url.as_str(), status, &body)
}

/// The answer to `GET <url>` (a socketconfig) → the websocket URL of the chosen server.
/// Pure, so that whatever a server answers is fuzzed (`fuzz/`) without a network.
pub fn read_socketconfig(url: &str, status: u16, body: &[u8]) -> Result<Url, DiscoveryError> {
    if !(200..300).contains(&status) {
        // The start of the body says what went wrong; cut on a character boundary.
        let body: String = String::from_utf8_lossy(body).chars().take(200).collect();
        return Err(DiscoveryError::Status {
            url: url.to_string(),
            status,
            body,
        });
    }
    let config: SocketConfig =
        serde_json::from_slice(body).map_err(|e| DiscoveryError::BadBody {
            url: url.to_string(),
            reason: e.to_string(),
        })?;
    let server = choose_server(&config.servers).ok_or_else(|| DiscoveryError::NoServers {
        url: url.to_string(),
    })?;
    websocket_url(&server.url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(url: &str, secure: bool, ipv6: bool) -> ServerEntry {
        ServerEntry {
            url: url.into(),
            secure,
            ipv6,
        }
    }

    #[test]
    fn an_error_body_is_cut_on_a_character_boundary() {
        // 199 ASCII bytes, then a two-byte character across byte 200: a byte cut panicked.
        let body = format!("{}é and more", "x".repeat(199));
        let err =
            read_socketconfig("http://h/socketconfig/c.json", 503, body.as_bytes()).unwrap_err();
        let DiscoveryError::Status { status, body, .. } = err else {
            panic!("{err}")
        };
        assert_eq!((status, body.chars().count()), (503, 200));
        assert!(body.ends_with('é'));
    }

    #[test]
    fn a_socketconfig_body_picks_the_server() {
        let body = br#"{"servers":[{"url":"http://a:1","secure":false},{"url":"https://b:2","secure":true}]}"#;
        let url = read_socketconfig("u", 200, body).unwrap();
        assert_eq!(
            url.as_str(),
            "wss://b:2/socket.io/?EIO=4&transport=websocket"
        );
        assert!(matches!(
            read_socketconfig("u", 200, b"<html>"),
            Err(DiscoveryError::BadBody { .. })
        ));
    }

    #[test]
    fn prefers_secure_and_skips_ipv6() {
        let servers = [
            entry("http://a:1337", false, false),
            entry("https://v6:8443", true, true),
            entry("https://b:8443", true, false),
        ];
        assert_eq!(choose_server(&servers).unwrap().url, "https://b:8443");
        let plain = [entry("http://a:1337", false, false)];
        assert_eq!(choose_server(&plain).unwrap().url, "http://a:1337");
        assert!(choose_server(&[]).is_none());
    }

    #[test]
    fn builds_engineio_urls() {
        assert_eq!(
            websocket_url("https://cytu.be:10443").unwrap().as_str(),
            "wss://cytu.be:10443/socket.io/?EIO=4&transport=websocket"
        );
        assert_eq!(
            websocket_url("http://127.0.0.1:1337").unwrap().as_str(),
            "ws://127.0.0.1:1337/socket.io/?EIO=4&transport=websocket"
        );
        assert!(websocket_url("ftp://x").is_err());
    }

    #[test]
    fn validates_channel_and_domain() {
        assert_eq!(
            socketconfig_url("http://127.0.0.1:8080", "my_chan-1")
                .unwrap()
                .as_str(),
            "http://127.0.0.1:8080/socketconfig/my_chan-1.json"
        );
        assert!(matches!(
            socketconfig_url("http://h", "bad name"),
            Err(DiscoveryError::BadChannel(_))
        ));
        assert!(matches!(
            socketconfig_url("http://h", &"a".repeat(31)),
            Err(DiscoveryError::BadChannel(_))
        ));
        assert!(matches!(
            socketconfig_url("h:1", "c"),
            Err(DiscoveryError::BadDomain { .. })
        ));
    }
}
