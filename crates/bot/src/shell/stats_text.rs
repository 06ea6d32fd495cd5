//! The text of the `stats` and `user` replies (SPEC §5, the original's wording), shared by
//! the PM shell and `rosey stats`. Pure functions over the model's reply types.

use rosey_model::payload::{ChannelStatsReply, Peak, UserStatsReply};

use super::format::{hours_minutes, timestamp};

/// What the shell says when the database service does not answer in time.
pub const STATS_UNAVAILABLE: &str = "Stats unavailable (DatabaseService timeout - is it running?)";
/// The same for the database part of `user <name>`.
pub const USER_STATS_UNAVAILABLE: &str =
    "Database statistics unavailable (DatabaseService timeout - is it running?)";

fn peak(p: &Peak) -> String {
    match p.timestamp {
        Some(ts) => format!("{} ({})", p.users, timestamp(ts)),
        None => p.users.to_string(),
    }
}

/// `=== Channel Statistics ===` … `=== Top Chatters ===` …
pub fn channel_stats(r: &ChannelStatsReply) -> Vec<String> {
    let mut lines = vec![
        "=== Channel Statistics ===".to_string(),
        format!("Peak chat users: {}", peak(&r.high_water_mark)),
        format!("Peak connected viewers: {}", peak(&r.high_water_connected)),
        format!("Total unique users: {}", r.total_users_seen),
    ];
    if !r.top_chatters.is_empty() {
        lines.push("=== Top Chatters ===".to_string());
        for (i, c) in r.top_chatters.iter().enumerate() {
            lines.push(format!(
                "{}. {}: {} messages",
                i + 1,
                c.username,
                c.chat_lines
            ));
        }
    }
    lines
}

/// `--- Database Statistics ---` … for one user.
pub fn user_stats(r: &UserStatsReply) -> Vec<String> {
    match r {
        UserStatsReply::Found(u) => {
            let mut lines = vec![
                "--- Database Statistics ---".to_string(),
                format!("Chat messages: {}", u.total_chat_lines),
                format!("Time connected: {}", hours_minutes(u.total_time_connected)),
                format!("First seen: {}", timestamp(u.first_seen)),
                format!("Last seen: {}", timestamp(u.last_seen)),
            ];
            if u.current_session_start.is_some() {
                lines.push("Status: Currently connected".to_string());
            }
            lines
        }
        UserStatsReply::NotFound(n) => vec![n.message.clone()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rosey_model::payload::{CurrentCounts, TopChatter, UserStatsFound, UserStatsNotFound};

    #[test]
    fn channel_stats_text() {
        let r = ChannelStatsReply {
            success: true,
            high_water_mark: Peak {
                users: 12,
                timestamp: Some(1_700_000_000),
            },
            high_water_connected: Peak {
                users: 30,
                timestamp: None,
            },
            top_chatters: vec![
                TopChatter {
                    username: "ann".into(),
                    chat_lines: 9,
                },
                TopChatter {
                    username: "bob".into(),
                    chat_lines: 4,
                },
            ],
            total_users_seen: 42,
            current: CurrentCounts {
                chat_users: 3,
                connected_users: 5,
            },
        };
        assert_eq!(
            channel_stats(&r),
            vec![
                "=== Channel Statistics ===",
                "Peak chat users: 12 (2023-11-14 22:13)",
                "Peak connected viewers: 30",
                "Total unique users: 42",
                "=== Top Chatters ===",
                "1. ann: 9 messages",
                "2. bob: 4 messages",
            ]
        );
    }

    #[test]
    fn user_stats_text() {
        let found = UserStatsReply::Found(UserStatsFound {
            success: true,
            found: true,
            username: "ann".into(),
            first_seen: 0,
            last_seen: 60,
            total_chat_lines: 7,
            total_time_connected: 3_660,
            current_session_start: Some(10),
        });
        let lines = user_stats(&found);
        assert_eq!(lines[1], "Chat messages: 7");
        assert_eq!(lines[2], "Time connected: 1h 1m");
        assert_eq!(lines.last().unwrap(), "Status: Currently connected");
        let nf = UserStatsReply::NotFound(UserStatsNotFound::new("zed"));
        assert_eq!(user_stats(&nf), vec!["No statistics found for user 'zed'"]);
    }
}
