//! The automated moderator (`rosey moderator`): rules that catch flooding, spam and evasion
//! in the chat events on the bus, answered in escalating steps through the bot's actions,
//! every decision recorded.
//!
//! # Layout
//! - [`normalize`]: text folding (compatibility forms, confusables, zero-width and combining
//!   characters) and the skeleton the word rules compare (spaced-out letters joined,
//!   repeated letters squeezed).
//! - [`rules`]: a channel's compiled rule set ([`rules::Compiled`]) and the rules that judge
//!   one line alone: banned words and patterns, links, length, mentions, caps.
//! - [`engine`]: one channel's members and recent history, the history rules (flood,
//!   repeats, raids), the escalation ladder; pure, driven by event time.
//! - [`lifts`]: timed mutes and bans still to undo, in a JetStream key-value bucket.
//! - [`ladder`]: each user's place on the ladder (offences in the window), in the same
//!   bucket, so a restart does not start a repeat offender over.
//! - [`metrics`]: decisions by rule, action and outcome, lines judged, evaluation time.
//! - [`bench`]: `rosey bench --moderation`, the cost of judging a line with many patterns.
//! - [`service`]: the bus side: events in, bot commands and `rosey.db.moderation.action`
//!   records out, the lift timer, `rosey.moderation.reload` and `rosey.moderation.state`.
//!
//! ```text
//! rosey.events.<ch>.* ─▶ engine (rules, ladder) ─▶ worker ─▶ rosey.commands.<ch>.moderate|pm
//!                                                     └─▶ rosey.db.moderation.action, lifts,
//!                                                         ladder positions
//! ```
//!
//! Dependencies point one way: `service` → `engine` → `rules` → `normalize`; the
//! configuration types come from `rosey_config::moderation`.

pub mod bench;
pub mod engine;
pub mod ladder;
pub mod lifts;
pub mod metrics;
pub mod normalize;
pub mod rules;
pub mod service;

pub use engine::{Channel, Decision, Line};
pub use rules::{Compiled, Rule};
pub use service::{Moderator, Reloader, compile};
