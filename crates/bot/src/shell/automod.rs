//! `automod`: the automated moderator's state for this channel, in a few lines — on or off,
//! dry run, its rules and ladder, its recent actions and its pending lifts. Asked over the
//! bus (`rosey.moderation.state {channel}`, answered by `rosey moderator`) with the shell
//! timeout; when no moderator answers, one line says so and names the subject.
//!
//! A shell command like the others (a moderator's PM on any platform), but not in `help`:
//! the standard help does not list it (issue 27). Only the reply's figures are read here;
//! this module never changes the moderator's state.

use rosey_model::{decode, encode, subjects};
use serde_json::{Value, json};

use super::ShellContext;
use crate::format::duration;
use crate::platform::{Asker, Failure, fail};
use crate::publisher::now;

/// How many names a line lists before "…".
const NAMES: usize = 5;

/// The `automod` answer for `asker` in the context's channel.
pub async fn answer(ctx: &ShellContext, asker: &Asker) -> Result<Vec<String>, Failure> {
    let channel = ctx.publisher.channel().to_string();
    let bus = ctx.publisher.bus();
    let body = json!({"channel": channel});
    let reply = match bus
        .request(subjects::MODERATION_STATE, encode(&body), ctx.timeout)
        .await
    {
        Ok(m) => m,
        Err(e) => {
            tracing::debug!(error = %e, "No moderator answered the state request.");
            return Err(fail(format!(
                "automod: no moderator service answered on {}",
                subjects::MODERATION_STATE
            )));
        }
    };
    let state: Value = decode(&reply.payload).map_err(|e| {
        fail(format!(
            "automod: unreadable reply from the moderator ({e})"
        ))
    })?;
    lines(&state, &channel, asker, now())
}

/// The lines for `state` (a `rosey.moderation.state` reply) at time `now`.
fn lines(state: &Value, channel: &str, asker: &Asker, now: f64) -> Result<Vec<String>, Failure> {
    if state["success"] == json!(false) {
        let why = state["error"].as_str().unwrap_or("no reason given");
        return Err(fail(format!("automod: the moderator refused: {why}")));
    }
    if state["enabled"] == json!(false) {
        return Ok(vec![
            "Automod is off (moderation.enabled is false).".to_string(),
        ]);
    }
    let Some(ch) = state["channels"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["channel"].as_str() == Some(channel))
    else {
        return Ok(vec![format!("Automod has no rules for {channel}.")]);
    };
    if let Some(rank) = ch["moderator_rank"].as_f64()
        && asker.rank < rank
    {
        return Err(fail(format!(
            "automod: needs rank {rank} here (yours is {})",
            asker.rank
        )));
    }
    let on = if ch["enabled"] == json!(false) {
        "off"
    } else if ch["dry_run"] == json!(true) {
        "on, dry run (decides and logs, acts on nothing)"
    } else {
        "on"
    };
    let rules = strings(&ch["rules"]);
    let ladder = strings(&ch["ladder"]);
    let mut out = vec![format!(
        "Automod in {channel}: {on}. {} rules: {}. Ladder: {}.",
        rules.len(),
        list(&rules),
        if ladder.is_empty() {
            "none".to_string()
        } else {
            ladder.join(" → ")
        }
    )];
    // Offences inside the window: each one is a step the ladder took.
    let offenders: Vec<(String, u64)> = ch["offenders"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| Some((o["user"].as_str()?.to_string(), o["offences"].as_u64()?)))
        .collect();
    let recent: u64 = offenders.iter().map(|(_, n)| n).sum();
    let window = ch["window"]
        .as_f64()
        .map(|w| format!(" in the last {}", duration(w as i64)))
        .unwrap_or_default();
    let who: Vec<String> = offenders.iter().map(|(u, n)| format!("{u} ×{n}")).collect();
    out.push(if recent == 0 {
        format!("Recent actions{window}: none.")
    } else {
        format!("Recent actions{window}: {recent} ({}).", list(&who))
    });
    let lifts: Vec<String> = state["pending_lifts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|l| l["channel"].as_str() == Some(channel))
        .map(|l| {
            let left = (l["due"].as_f64().unwrap_or(now) - now).max(0.0);
            format!(
                "{} {} in {}",
                l["action"].as_str().unwrap_or("lift"),
                l["user"].as_str().unwrap_or("?"),
                duration(left.ceil() as i64)
            )
        })
        .collect();
    out.push(if lifts.is_empty() {
        "Pending lifts: none.".to_string()
    } else {
        format!("Pending lifts: {} ({}).", lifts.len(), list(&lifts))
    });
    Ok(out)
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect()
}

/// The first [`NAMES`] items, comma-separated, "…" when there are more; "none" for none.
fn list(items: &[String]) -> String {
    if items.is_empty() {
        return "none".into();
    }
    let mut s = items[..items.len().min(NAMES)].join(", ");
    if items.len() > NAMES {
        s.push_str(", …");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asker(rank: f64) -> Asker {
        Asker {
            name: "mod".into(),
            rank,
        }
    }

    fn state() -> Value {
        json!({
            "success": true, "name": "automod", "enabled": true, "lines": 40,
            "channels": [
                {"channel": "other", "enabled": true, "dry_run": false, "moderator_rank": 2.0,
                 "ladder": [], "rules": [], "offenders": []},
                {"channel": "lobby", "enabled": true, "dry_run": true, "moderator_rank": 2.0,
                 "ladder": ["warn", "smute 5m", "kick"], "window": 3600.0,
                 "rules": ["flood", "caps", "links"],
                 "offenders": [{"user": "gus", "offences": 2}, {"user": "amy", "offences": 1}]}
            ],
            "decisions": [],
            "pending_lifts": [
                {"channel": "lobby", "user": "gus", "action": "unmute", "due": 1090.0},
                {"channel": "other", "user": "x", "action": "unban", "due": 2000.0}
            ]
        })
    }

    #[test]
    fn the_channels_state_in_three_lines() {
        let out = lines(&state(), "lobby", &asker(2.0), 1000.0).unwrap();
        assert_eq!(
            out,
            vec![
                "Automod in lobby: on, dry run (decides and logs, acts on nothing). 3 rules: \
                 flood, caps, links. Ladder: warn → smute 5m → kick."
                    .to_string(),
                format!(
                    "Recent actions in the last {}: 3 (gus ×2, amy ×1).",
                    duration(3600)
                ),
                format!("Pending lifts: 1 (unmute gus in {}).", duration(90)),
            ]
        );
    }

    #[test]
    fn unknown_channels_low_ranks_and_refusals() {
        let none = lines(&state(), "elsewhere", &asker(3.0), 0.0).unwrap();
        assert_eq!(none, vec!["Automod has no rules for elsewhere."]);
        let low = lines(&state(), "lobby", &asker(1.0), 0.0).unwrap_err();
        assert_eq!(low.reply, vec!["automod: needs rank 2 here (yours is 1)"]);
        let refused = lines(
            &json!({"success": false, "error": "busy"}),
            "lobby",
            &asker(3.0),
            0.0,
        )
        .unwrap_err();
        assert_eq!(refused.reply, vec!["automod: the moderator refused: busy"]);
        let off = lines(
            &json!({"success": true, "enabled": false}),
            "lobby",
            &asker(3.0),
            0.0,
        );
        assert_eq!(
            off.unwrap(),
            vec!["Automod is off (moderation.enabled is false)."]
        );
    }
}
