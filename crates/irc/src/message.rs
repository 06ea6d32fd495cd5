//! One IRC protocol line ↔ [`Message`]: IRCv3 tags (with their value escaping), the source
//! prefix, the command (a word or a three-digit numeric) and the parameters, the last one
//! possibly a `:`-introduced trailing parameter (RFC 1459 §2.3.1, RFC 2812 §2.3, IRCv3
//! message-tags). Pure; property-tested (what [`Message::to_line`] writes, [`Message::parse`]
//! reads back unchanged).

use std::fmt::Write as _;

/// The longest line a server accepts, CR LF included (without the tags part).
pub const MAX_LINE_BYTES: usize = 512;

/// One protocol message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    /// IRCv3 tags: key and (unescaped) value, in the order they came.
    pub tags: Vec<(String, Option<String>)>,
    /// `nick!user@host` or a server name, without the leading `:`.
    pub prefix: Option<String>,
    /// The command, upper-cased (`PRIVMSG`, `001`, …).
    pub command: String,
    pub params: Vec<String>,
}

/// Why a line is not a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("empty line")]
    Empty,
    #[error("no command in the line")]
    NoCommand,
}

impl Message {
    /// A message without tags or prefix.
    pub fn new(command: &str, params: &[&str]) -> Message {
        Message {
            tags: Vec::new(),
            prefix: None,
            command: command.to_string(),
            params: params.iter().map(|p| p.to_string()).collect(),
        }
    }

    /// Parses one line (any trailing CR/LF is ignored).
    pub fn parse(line: &str) -> Result<Message, ParseError> {
        let mut rest = line.trim_end_matches(['\r', '\n']);
        if rest.trim().is_empty() {
            return Err(ParseError::Empty);
        }
        let mut msg = Message::default();
        if let Some(after) = rest.strip_prefix('@') {
            let (tags, tail) = after.split_once(' ').unwrap_or((after, ""));
            msg.tags = tags
                .split(';')
                .filter(|t| !t.is_empty())
                .map(|t| match t.split_once('=') {
                    Some((k, v)) => (k.to_string(), Some(unescape_tag(v))),
                    None => (t.to_string(), None),
                })
                .collect();
            rest = tail.trim_start_matches(' ');
        }
        if let Some(after) = rest.strip_prefix(':') {
            let (prefix, tail) = after.split_once(' ').unwrap_or((after, ""));
            msg.prefix = Some(prefix.to_string());
            rest = tail.trim_start_matches(' ');
        }
        let (command, mut rest) = rest.split_once(' ').unwrap_or((rest, ""));
        if command.is_empty() {
            return Err(ParseError::NoCommand);
        }
        msg.command = command.to_ascii_uppercase();
        loop {
            rest = rest.trim_start_matches(' ');
            if rest.is_empty() {
                break;
            }
            if let Some(trailing) = rest.strip_prefix(':') {
                msg.params.push(trailing.to_string());
                break;
            }
            let (param, tail) = rest.split_once(' ').unwrap_or((rest, ""));
            msg.params.push(param.to_string());
            rest = tail;
        }
        Ok(msg)
    }

    /// The line to send, CR LF included. The last parameter is written as a trailing one
    /// when it has to be (empty, contains a space or starts with `:`). CR, LF and NUL in
    /// parameters would end or corrupt the line, so they become spaces.
    pub fn to_line(&self) -> String {
        let mut out = String::new();
        if !self.tags.is_empty() {
            out.push('@');
            for (i, (k, v)) in self.tags.iter().enumerate() {
                if i > 0 {
                    out.push(';');
                }
                out.push_str(k);
                if let Some(v) = v {
                    out.push('=');
                    out.push_str(&escape_tag(v));
                }
            }
            out.push(' ');
        }
        if let Some(p) = &self.prefix {
            let _ = write!(out, ":{p} ");
        }
        out.push_str(&self.command);
        let last = self.params.len().saturating_sub(1);
        for (i, p) in self.params.iter().enumerate() {
            let clean: String = p
                .chars()
                .map(|c| {
                    if matches!(c, '\r' | '\n' | '\0') {
                        ' '
                    } else {
                        c
                    }
                })
                .collect();
            out.push(' ');
            if i == last && (clean.is_empty() || clean.contains(' ') || clean.starts_with(':')) {
                out.push(':');
            }
            out.push_str(&clean);
        }
        out.push_str("\r\n");
        out
    }

    /// The nick of the source (`nick` of `nick!user@host`), if any.
    pub fn source_nick(&self) -> Option<&str> {
        let p = self.prefix.as_deref()?;
        Some(p.split(['!', '@']).next().unwrap_or(p))
    }

    /// The value of a tag, if present with a value.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|(k, _)| k == key)
            .and_then(|(_, v)| v.as_deref())
    }

    /// Parameter `i`, or `""`.
    pub fn param(&self, i: usize) -> &str {
        self.params.get(i).map(String::as_str).unwrap_or("")
    }
}

fn unescape_tag(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(':') => out.push(';'),
            Some('s') => out.push(' '),
            Some('r') => out.push('\r'),
            Some('n') => out.push('\n'),
            Some(other) => out.push(other),
            // A lone trailing backslash is dropped (IRCv3 message-tags).
            None => {}
        }
    }
    out
}

fn escape_tag(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            ';' => out.push_str("\\:"),
            ' ' => out.push_str("\\s"),
            '\\' => out.push_str("\\\\"),
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_a_tagged_privmsg() {
        let m = Message::parse(
            "@time=2026-11-30T07:48:12.123Z;msgid=a\\sb\\:c;+draft/x :nick!u@h PRIVMSG #rosey :hello there\r\n",
        )
        .unwrap();
        assert_eq!(m.tag("time"), Some("2026-11-30T07:48:12.123Z"));
        assert_eq!(m.tag("msgid"), Some("a b;c"));
        assert_eq!(m.tags[2], ("+draft/x".into(), None));
        assert_eq!(m.source_nick(), Some("nick"));
        assert_eq!(m.command, "PRIVMSG");
        assert_eq!(m.params, vec!["#rosey", "hello there"]);
    }

    #[test]
    fn parses_numerics_and_middle_params() {
        let m = Message::parse(":irc.test 353 bot = #rosey :@op +voice plain").unwrap();
        assert_eq!(m.source_nick(), Some("irc.test"));
        assert_eq!(m.command, "353");
        assert_eq!(m.params, vec!["bot", "=", "#rosey", "@op +voice plain"]);
        let ping = Message::parse("ping :abc").unwrap();
        assert_eq!((ping.command.as_str(), ping.param(0)), ("PING", "abc"));
        assert_eq!(Message::parse("  \r\n"), Err(ParseError::Empty));
        assert_eq!(Message::parse(":prefix-only"), Err(ParseError::NoCommand));
    }

    #[test]
    fn writes_trailing_only_when_needed() {
        assert_eq!(
            Message::new("PRIVMSG", &["#c", "two words"]).to_line(),
            "PRIVMSG #c :two words\r\n"
        );
        assert_eq!(Message::new("NICK", &["rosey"]).to_line(), "NICK rosey\r\n");
        assert_eq!(
            Message::new("PRIVMSG", &["#c", ":)"]).to_line(),
            "PRIVMSG #c ::)\r\n"
        );
        assert_eq!(
            Message::new("PRIVMSG", &["#c", "a\r\nQUIT"]).to_line(),
            "PRIVMSG #c :a  QUIT\r\n"
        );
    }

    fn word() -> impl Strategy<Value = String> {
        "[A-Za-z0-9#&@!.\\-_\\[\\]]{1,12}"
    }

    proptest! {
        #[test]
        fn round_trips(
            tags in proptest::collection::vec(("[a-z+/.-]{1,8}", proptest::option::of("[^\r\n\0]{0,12}")), 0..3),
            prefix in proptest::option::of(word()),
            command in "[A-Z]{1,8}|[0-9]{3}",
            middle in proptest::collection::vec(word(), 0..4),
            trailing in proptest::option::of("[^\r\n\0]{0,40}"),
        ) {
            let mut params = middle;
            if let Some(t) = trailing { params.push(t); }
            let m = Message { tags, prefix, command, params };
            prop_assert_eq!(Message::parse(&m.to_line()).unwrap(), m);
        }
    }
}
