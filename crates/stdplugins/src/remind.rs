//! `!remind <duration> <message>`: said back in the channel after the duration. Reminders
//! live in this process's memory only (a restart forgets them; `!tell` is the persistent
//! one); at most [`MAX_PER_USER`] per user and [`MAX_DELAY`] ahead.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rosey_plugin::{CommandSpec, Plugin, Reply};

use crate::text::{duration, parse_duration};
use crate::{BusTools, VERSION};

pub const MAX_DELAY: Duration = Duration::from_secs(7 * 86_400);
pub const MAX_PER_USER: usize = 5;

pub fn plugin(tools: &BusTools) -> Plugin {
    let tools = tools.clone();
    let pending: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    Plugin::new("remind", VERSION)
        .description("Reminders: !remind <duration> <message>")
        .command(
            CommandSpec::new(
                "remind",
                "Reminds you of something later (10m, 1h30m, 90s).",
            )
            .usage("!remind <duration> <message>"),
            move |req| {
                let (tools, pending) = (tools.clone(), pending.clone());
                async move {
                    let usage = || {
                        Reply::error(format!(
                            "Usage: {}remind <duration> <message>, e.g. {}remind 10m tea",
                            req.prefix, req.prefix
                        ))
                    };
                    let Some((when, message)) = req.args.trim().split_once(char::is_whitespace)
                    else {
                        return usage();
                    };
                    let Some(delay) = parse_duration(when).filter(|d| !d.is_zero()) else {
                        return usage();
                    };
                    if delay > MAX_DELAY {
                        return Reply::error("That is too far ahead (at most 7 days).");
                    }
                    let key = format!("{}/{}", req.channel, req.user.to_lowercase());
                    {
                        let mut p = pending.lock().unwrap_or_else(|e| e.into_inner());
                        let n = p.entry(key.clone()).or_default();
                        if *n >= MAX_PER_USER {
                            return Reply::error(format!(
                                "You already have {MAX_PER_USER} reminders waiting."
                            ));
                        }
                        *n += 1;
                    }
                    let line = format!("{}: reminder: {}", req.user, message.trim());
                    let channel = req.channel.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(delay).await;
                        if let Some(n) = pending
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .get_mut(&key)
                        {
                            *n = n.saturating_sub(1);
                        }
                        if let Err(e) = tools.say(&channel, &line).await {
                            tracing::warn!(error = %e, %channel, "Could not send a reminder.");
                        }
                    });
                    Reply::chat(format!(
                        "{}: I'll remind you in {}.",
                        req.user,
                        duration(delay.as_secs().max(1))
                    ))
                }
            },
        )
}
