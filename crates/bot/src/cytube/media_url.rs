//! Turns a media URL into CyTube's `(type, id)` pair for `queue` (SPEC §5 `add`).
//! Pure parsing; the server does the metadata lookup.

/// A media reference CyTube understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaRef {
    pub media_type: String,
    pub id: String,
}

fn media(t: &str, id: &str) -> Option<MediaRef> {
    let id = id.trim();
    if id.is_empty() {
        return None;
    }
    Some(MediaRef {
        media_type: t.to_string(),
        id: id.to_string(),
    })
}

/// The part of `s` before any of `?`, `#`, `&`, `/`.
fn until_delim(s: &str) -> &str {
    let end = s.find(['?', '#', '&', '/']).unwrap_or(s.len());
    &s[..end]
}

/// The value of query parameter `key`.
fn query_param<'a>(url: &'a str, key: &str) -> Option<&'a str> {
    let q = url.split_once('?')?.1;
    let q = q.split('#').next().unwrap_or(q);
    q.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then_some(v)
    })
}

/// Parses a URL (or an explicit `type:id`). Returns `None` for what cannot be queued.
pub fn parse(input: &str) -> Option<MediaRef> {
    let url = input.trim();
    // Explicit `xx:id` (two-letter type code, not a URL scheme).
    if let Some((t, id)) = url.split_once(':')
        && t.len() == 2
        && t.chars().all(|c| c.is_ascii_lowercase())
        && !id.starts_with("//")
    {
        return media(t, id);
    }
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("rtmp://") {
        return media("rt", url);
    }
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))?;
    let original_rest = &url[url.len() - rest.len()..];
    let host_end = rest.find('/').unwrap_or(rest.len());
    let host = rest[..host_end]
        .trim_start_matches("www.")
        .trim_start_matches("m.");
    let path = &original_rest[host_end..];
    let path_lower = &rest[host_end..];
    let path_only = path_lower.split(['?', '#']).next().unwrap_or("");

    match host {
        "youtube.com" | "music.youtube.com" => {
            if let Some(v) = query_param(path, "v") {
                return media("yt", until_delim(v));
            }
            if let Some(list) = query_param(path, "list") {
                return media("yp", until_delim(list));
            }
            for prefix in ["/shorts/", "/live/", "/embed/"] {
                if let Some(id) = path.strip_prefix(prefix) {
                    return media("yt", until_delim(id));
                }
            }
            None
        }
        "youtu.be" => media("yt", until_delim(path.trim_start_matches('/'))),
        "vimeo.com" | "player.vimeo.com" => {
            let id = path
                .trim_start_matches('/')
                .trim_start_matches("video/")
                .split(['/', '?', '#'])
                .next()?;
            if id.chars().all(|c| c.is_ascii_digit()) {
                media("vi", id)
            } else {
                None
            }
        }
        "dailymotion.com" => path
            .strip_prefix("/video/")
            .and_then(|id| media("dm", until_delim(id).split('_').next().unwrap_or(""))),
        "dai.ly" => media("dm", until_delim(path.trim_start_matches('/'))),
        "soundcloud.com" => media("sc", url),
        "twitch.tv" | "clips.twitch.tv" => {
            let p = path.trim_start_matches('/');
            if host == "clips.twitch.tv" {
                return media("tc", until_delim(p));
            }
            if let Some(id) = p.strip_prefix("videos/") {
                return media("tv", &format!("v{}", until_delim(id)));
            }
            if let Some((_, clip)) = p.split_once("/clip/") {
                return media("tc", until_delim(clip));
            }
            media("tw", until_delim(p))
        }
        _ if path_only.ends_with(".m3u8") => media("hl", url),
        _ if path_only.ends_with(".json") => media("cm", url),
        _ if [
            ".mp4", ".webm", ".ogg", ".ogv", ".mp3", ".m4a", ".flac", ".mov", ".mkv",
        ]
        .iter()
        .any(|ext| path_only.ends_with(ext)) =>
        {
            media("fi", url)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(u: &str) -> Option<(String, String)> {
        parse(u).map(|m| (m.media_type, m.id))
    }

    fn pair(t: &str, id: &str) -> Option<(String, String)> {
        Some((t.to_string(), id.to_string()))
    }

    #[test]
    fn youtube() {
        assert_eq!(
            p("https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=3"),
            pair("yt", "dQw4w9WgXcQ")
        );
        assert_eq!(
            p("https://youtu.be/dQw4w9WgXcQ?t=1"),
            pair("yt", "dQw4w9WgXcQ")
        );
        assert_eq!(p("https://youtube.com/shorts/abc123"), pair("yt", "abc123"));
        assert_eq!(
            p("https://www.youtube.com/playlist?list=PL123"),
            pair("yp", "PL123")
        );
    }

    #[test]
    fn other_hosts() {
        assert_eq!(p("https://vimeo.com/123456"), pair("vi", "123456"));
        assert_eq!(
            p("https://www.dailymotion.com/video/x7tgad0_title"),
            pair("dm", "x7tgad0")
        );
        assert_eq!(
            p("https://soundcloud.com/a/b"),
            pair("sc", "https://soundcloud.com/a/b")
        );
        assert_eq!(
            p("https://www.twitch.tv/somechannel"),
            pair("tw", "somechannel")
        );
        assert_eq!(
            p("https://www.twitch.tv/videos/12345"),
            pair("tv", "v12345")
        );
        assert_eq!(
            p("https://clips.twitch.tv/FunnyClip"),
            pair("tc", "FunnyClip")
        );
        assert_eq!(
            p("https://cdn.example/live/index.m3u8"),
            pair("hl", "https://cdn.example/live/index.m3u8")
        );
        assert_eq!(
            p("rtmp://live.example/app/key"),
            pair("rt", "rtmp://live.example/app/key")
        );
        assert_eq!(
            p("https://files.example/movie.mp4"),
            pair("fi", "https://files.example/movie.mp4")
        );
        assert_eq!(
            p("https://files.example/manifest.json"),
            pair("cm", "https://files.example/manifest.json")
        );
    }

    #[test]
    fn explicit_and_rejected() {
        assert_eq!(p("yt:dQw4w9WgXcQ"), pair("yt", "dQw4w9WgXcQ"));
        assert_eq!(p("rt:anything"), pair("rt", "anything"));
        assert_eq!(p("https://example.com/page"), None);
        assert_eq!(p("not a url"), None);
        assert_eq!(p("yt:"), None);
    }
}
