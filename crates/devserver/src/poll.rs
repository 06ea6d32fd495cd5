//! Polls, as CyTube does them (`src/channel/poll.js`, `src/poll.js`): `newPoll`, `vote`,
//! `closePoll`, the `/poll` and `/hpoll` chat commands, the poll in the join burst, and votes
//! dropped when the voter leaves. Hidden polls show counts as `"?"`, or `"N?"` to viewers
//! with `viewhiddenpoll`. One vote per socket (CyTube counts one per IP; every local client
//! shares 127.0.0.1). Poll timeouts are not implemented (the devserver has no timers).

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::state::{ConnId, Outbox, World, now_ms};
use crate::text;

/// CyTube's `poll.max-options`.
pub const MAX_OPTIONS: usize = 50;
/// Longest title and option, in characters.
const MAX_LEN: usize = 255;

/// The open poll of a channel.
#[derive(Debug, Clone)]
pub struct ActivePoll {
    /// Title as sent (escaped).
    pub title: String,
    /// Options as sent (escaped).
    pub options: Vec<String>,
    /// Votes per option.
    pub counts: Vec<u64>,
    /// Which option each socket voted for.
    pub votes: HashMap<ConnId, usize>,
    /// Hidden counts.
    pub obscured: bool,
    /// Who opened it.
    pub initiator: String,
    /// When, in ms since the epoch.
    pub timestamp: u64,
}

impl ActivePoll {
    fn new(initiator: &str, title: &str, options: &[String], obscured: bool) -> Self {
        ActivePoll {
            title: text::escape_text(title),
            options: options.iter().map(|o| text::escape_text(o)).collect(),
            counts: vec![0; options.len()],
            votes: HashMap::new(),
            obscured,
            initiator: initiator.to_owned(),
            timestamp: now_ms(),
        }
    }

    /// The `newPoll`/`updatePoll` payload; hidden counts unless `show_hidden`.
    pub fn pack(&self, show_hidden: bool) -> Value {
        let counts: Vec<Value> = self
            .counts
            .iter()
            .map(|n| match (self.obscured, show_hidden) {
                (false, _) => json!(n),
                (true, true) => json!(format!("{n}?")),
                (true, false) => json!("?"),
            })
            .collect();
        json!({
            "title": self.title,
            "options": self.options,
            "counts": counts,
            "initiator": self.initiator,
            "timestamp": self.timestamp,
        })
    }
}

/// CyTube's `validatePollInput`: the refusal text, if any.
fn validate(title: &str, options: &[Value]) -> Result<Vec<String>, String> {
    if title.chars().count() > MAX_LEN {
        return Err("Poll title must be no more than 255 characters long.".into());
    }
    if options.len() > MAX_OPTIONS {
        return Err(format!(
            "Polls are limited to a maximum of {MAX_OPTIONS} options."
        ));
    }
    options
        .iter()
        .map(|o| {
            let o = o.as_str().ok_or("Poll options must be strings.")?;
            let n = o.chars().count();
            if n == 0 || n > MAX_LEN {
                return Err("Poll options must be 1-255 characters long.".to_owned());
            }
            Ok(o.to_owned())
        })
        .collect()
}

fn member_channel(w: &World, id: ConnId) -> Option<String> {
    w.conns.get(&id).and_then(|c| c.channel.clone())
}

/// Sends the poll to every member (`newPoll` after a `closePoll`, or `updatePoll`), each
/// with the counts it may see.
fn broadcast_poll(w: &World, out: &mut Outbox, channel: &str, is_new: bool) {
    let Some(poll) = w.channels.get(channel).and_then(|c| c.poll.as_ref()) else {
        return;
    };
    if is_new {
        w.broadcast(out, channel, "closePoll", Value::Null);
    }
    let view = w.channels[channel].perm("viewhiddenpoll");
    let (open, hidden) = (poll.pack(true), poll.pack(false));
    let event = if is_new { "newPoll" } else { "updatePoll" };
    for m in w.members(channel) {
        let packed = if w.rank(m) >= view { &open } else { &hidden };
        out.emit(m, event, packed.clone());
    }
}

fn open_poll(
    w: &mut World,
    out: &mut Outbox,
    id: ConnId,
    title: &str,
    opts: &[String],
    hidden: bool,
) {
    let Some(channel) = member_channel(w, id) else {
        return;
    };
    let initiator = w.name(id).unwrap_or_default().to_owned();
    w.channel_mut(&channel).poll = Some(ActivePoll::new(&initiator, title, opts, hidden));
    broadcast_poll(w, out, &channel, true);
}

/// `newPoll {title, opts, obscured, timeout?}` (needs `pollctl`). Without an ack the
/// refusal comes as `errorMsg`, as CyTube's `ackOrErrorMsg` does.
pub fn new_poll(w: &mut World, out: &mut Outbox, id: ConnId, data: &Value) {
    let Some(channel) = member_channel(w, id) else {
        return;
    };
    let (Some(title), Some(opts), Some(obscured)) = (
        data.get("title").and_then(Value::as_str),
        data.get("opts").and_then(Value::as_array),
        data.get("obscured").and_then(Value::as_bool),
    ) else {
        out.error(
            id,
            "Unexpected error for message newPoll: title must be a string, opts an array \
             and obscured a boolean",
        );
        return;
    };
    if !w.channels[&channel].can("pollctl", w.rank(id)) {
        return;
    }
    match validate(title, opts) {
        Ok(opts) => open_poll(w, out, id, title, &opts, obscured),
        Err(msg) => out.error(id, msg),
    }
}

/// `/poll title,opt1,opt2…` and `/hpoll …` (hidden). `rest` is the text after the command.
pub fn poll_command(w: &mut World, out: &mut Outbox, id: ConnId, rest: &str, hidden: bool) {
    let Some(channel) = member_channel(w, id) else {
        return;
    };
    if !w.channels[&channel].can("pollctl", w.rank(id)) {
        return;
    }
    let mut parts = rest.split(',');
    let title = parts.next().unwrap_or_default().to_owned();
    let opts: Vec<Value> = parts.map(|p| json!(p)).collect();
    match validate(&title, &opts) {
        Ok(opts) => open_poll(w, out, id, &title, &opts, hidden),
        Err(msg) => out.error(id, format!("Error creating poll: {msg}")),
    }
}

/// `vote {option}` (needs `pollvote`); one vote per socket, out-of-range options ignored.
pub fn vote(w: &mut World, out: &mut Outbox, id: ConnId, data: &Value) {
    let Some(channel) = member_channel(w, id) else {
        return;
    };
    let Some(option) = data.get("option").and_then(Value::as_u64) else {
        out.error(
            id,
            "Unexpected error for message vote: option must be a number",
        );
        return;
    };
    if !w.channels[&channel].can("pollvote", w.rank(id)) {
        return;
    }
    let Some(poll) = w.channel_mut(&channel).poll.as_mut() else {
        return;
    };
    let option = option as usize;
    if option >= poll.counts.len() || poll.votes.contains_key(&id) {
        return;
    }
    poll.votes.insert(id, option);
    poll.counts[option] += 1;
    broadcast_poll(w, out, &channel, false);
}

/// `closePoll` (needs `pollctl`): a hidden poll is revealed with a last `updatePoll`, then
/// everyone gets `closePoll`.
pub fn close_poll(w: &mut World, out: &mut Outbox, id: ConnId) {
    let Some(channel) = member_channel(w, id) else {
        return;
    };
    if !w.channels[&channel].can("pollctl", w.rank(id)) {
        return;
    }
    let Some(mut poll) = w.channel_mut(&channel).poll.take() else {
        return;
    };
    if poll.obscured {
        poll.obscured = false;
        w.broadcast(out, &channel, "updatePoll", poll.pack(true));
    }
    w.broadcast(out, &channel, "closePoll", Value::Null);
}

/// The open poll for a joining socket (join burst, step 8).
pub fn send_poll(w: &World, out: &mut Outbox, channel: &str, to: ConnId) {
    let ch = &w.channels[channel];
    if let Some(poll) = &ch.poll {
        out.emit(to, "closePoll", Value::Null);
        let show = w.rank(to) >= ch.perm("viewhiddenpoll");
        out.emit(to, "newPoll", poll.pack(show));
    }
}

/// A member left: its vote no longer counts.
pub fn unvote(w: &mut World, out: &mut Outbox, channel: &str, id: ConnId) {
    let Some(poll) = w.channels.get_mut(channel).and_then(|c| c.poll.as_mut()) else {
        return;
    };
    if let Some(option) = poll.votes.remove(&id) {
        poll.counts[option] = poll.counts[option].saturating_sub(1);
    }
    broadcast_poll(w, out, channel, false);
}
