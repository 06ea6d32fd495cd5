//! NATS subject syntax: validation and wildcard matching (`*` = one token, `>` = one or
//! more trailing tokens). Pure functions, used by the embedded bus.

/// Is `subject` a valid subject to publish to (no wildcards, no empty tokens)?
pub fn valid_publish_subject(subject: &str) -> bool {
    !subject.is_empty()
        && subject
            .split('.')
            .all(|t| !t.is_empty() && t != "*" && t != ">" && !t.contains(char::is_whitespace))
}

/// Is `pattern` a valid subscription subject (`>` only as the last token)?
pub fn valid_pattern(pattern: &str) -> bool {
    if pattern.is_empty() {
        return false;
    }
    let tokens: Vec<&str> = pattern.split('.').collect();
    tokens.iter().enumerate().all(|(i, t)| {
        !t.is_empty() && !t.contains(char::is_whitespace) && (*t != ">" || i == tokens.len() - 1)
    })
}

/// Does `subject` match `pattern`?
pub fn matches(pattern: &str, subject: &str) -> bool {
    let mut p = pattern.split('.');
    let mut s = subject.split('.');
    loop {
        match (p.next(), s.next()) {
            (Some(">"), Some(_)) => return true,
            (Some("*"), Some(_)) => {}
            (Some(pt), Some(st)) if pt == st => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(matches("rosey.db.>", "rosey.db.user.joined"));
        assert!(matches("rosey.db.>", "rosey.db.x"));
        assert!(!matches("rosey.db.>", "rosey.db"));
        assert!(matches("rosey.*.x", "rosey.a.x"));
        assert!(!matches("rosey.*.x", "rosey.a.b.x"));
        assert!(matches("a.b", "a.b"));
        assert!(!matches("a.b", "a.b.c"));
        assert!(!matches("a.b.c", "a.b"));
        assert!(matches(">", "a"));
        assert!(matches("*.*", "a.b"));
    }

    #[test]
    fn validity() {
        assert!(valid_publish_subject("a.b"));
        assert!(!valid_publish_subject("a.*"));
        assert!(!valid_publish_subject("a..b"));
        assert!(!valid_publish_subject(""));
        assert!(!valid_publish_subject("a b"));
        assert!(valid_pattern("a.*.>"));
        assert!(!valid_pattern("a.>.b"));
        assert!(!valid_pattern("a."));
    }
}
