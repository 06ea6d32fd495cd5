//! The service on the bus: follows `rosey.events.<channel>.*`, judges chat lines with the
//! engine, acts through the bot's `moderate` and `pm` commands (one action at a time, in
//! order), records every decision on `rosey.db.moderation.action`, lifts timed mutes and
//! bans when due (from the key-value bucket, so a restart loses none), stores each
//! offender's ladder position there too (loaded at start, so a restart does not start a
//! repeat offender over), and answers `rosey.moderation.reload` and `rosey.moderation.state`.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use rosey_config::moderation::ModerationConfig;
use rosey_model::payload::{CommandReply, ModerateCommand, ModerationAction, PmCommandRequest};
use rosey_model::{EventBody, NormalizedEvent, decode, encode, subjects};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::engine::{Channel, Decision, Line};
use crate::ladder::{Position, Positions};
use crate::lifts::{Lift, Lifts, undo_of};
use crate::metrics::ModeratorMetrics;
use crate::rules::Compiled;

/// Reads the moderation section again (from the configuration file) for a reload.
pub type Reloader = Arc<dyn Fn() -> Result<ModerationConfig, String> + Send + Sync>;

/// Actions waiting for the worker; past this, decisions are recorded as dropped.
const QUEUE: usize = 4096;

/// Compiles every listed channel's rules, or says everything that is wrong.
pub fn compile(cfg: &ModerationConfig) -> Result<BTreeMap<String, Arc<Compiled>>, String> {
    if !cfg.enabled {
        return Ok(BTreeMap::new());
    }
    let sets = cfg.all_rules().map_err(|e| e.join("; "))?;
    let mut out = BTreeMap::new();
    let mut errors = Vec::new();
    for (channel, set) in sets {
        match Compiled::new(set) {
            Ok(c) => {
                out.insert(channel, Arc::new(c));
            }
            Err(e) => errors.push(format!("moderation.channels.{channel}: {e}")),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors.join("; "))
    }
}

struct Core {
    config: ModerationConfig,
    channels: BTreeMap<String, Channel>,
}

impl Core {
    /// Puts the stored ladder positions back (those of channels moderated now).
    async fn restore(&mut self, positions: &Positions) {
        let t = now();
        match positions.load(t).await {
            Ok(stored) => {
                let mut restored = 0usize;
                for p in stored {
                    if let Some(c) = self.channels.get_mut(&p.channel) {
                        c.restore_offences(&p.user, &p.offences, t);
                        restored += 1;
                    }
                }
                tracing::info!(restored, "Ladder positions loaded.");
            }
            Err(e) => {
                tracing::warn!(error = %e, "Cannot read the stored ladder positions; every user starts at the first step.");
            }
        }
    }

    fn apply(&mut self, config: ModerationConfig, rules: BTreeMap<String, Arc<Compiled>>) {
        self.channels.retain(|name, _| rules.contains_key(name));
        for (name, r) in rules {
            match self.channels.get_mut(&name) {
                Some(c) => c.set_rules(r),
                None => {
                    self.channels.insert(name, Channel::new(r));
                }
            }
        }
        self.config = config;
    }
}

/// One decision to carry out, and the offender's ladder position after it (to store).
struct Job {
    channel: String,
    decision: Decision,
    position: Position,
}

/// `user`'s place on `channel`'s ladder now, for the store.
fn position_of(channel: &Channel, name: &str, user: &str) -> Position {
    let offences = channel.offences_of(user);
    let last = offences.last().copied().unwrap_or(0.0);
    Position {
        channel: name.to_string(),
        user: user.to_lowercase(),
        offences,
        expires: last + channel.window(),
    }
}

/// What an action came to: `done`, `failed`, `skipped` or `dry_run`, and the words.
#[derive(Debug, Clone)]
struct Outcome {
    outcome: &'static str,
    answer: String,
}

#[derive(Clone)]
struct Actor {
    client: async_nats::Client,
    metrics: Arc<ModeratorMetrics>,
    lifts: Lifts,
    positions: Positions,
    name: String,
    timeout: Duration,
}

/// What the service's tasks share: the rules and channel state, the counters, the reloader.
pub struct Inner {
    core: Mutex<Core>,
    pub metrics: Arc<ModeratorMetrics>,
    reloader: Option<Reloader>,
}

/// The running moderator; dropping it (or [`Moderator::stop`]) ends its tasks.
pub struct Moderator {
    inner: Arc<Inner>,
    tasks: Vec<JoinHandle<()>>,
}

impl Moderator {
    /// Starts the service: opens the lift bucket, subscribes, starts the worker and the lift
    /// timer. Fails when the rules do not compile or the bus refuses.
    pub async fn start(
        client: async_nats::Client,
        config: ModerationConfig,
        reloader: Option<Reloader>,
    ) -> Result<Moderator, String> {
        let rules = compile(&config)?;
        let lifts = Lifts::open(&client, &config.bucket).await?;
        let positions = Positions::new(lifts.store());
        let metrics = Arc::new(ModeratorMetrics::default());
        let actor = Actor {
            client: client.clone(),
            metrics: Arc::clone(&metrics),
            lifts: lifts.clone(),
            positions: positions.clone(),
            name: config.name.clone(),
            timeout: config.action_timeout(),
        };
        let interval = config.lift_interval();
        let mut core = Core {
            config: config.clone(),
            channels: BTreeMap::new(),
        };
        core.apply(config, rules);
        core.restore(&positions).await;
        let inner = Arc::new(Inner {
            core: Mutex::new(core),
            metrics: Arc::clone(&metrics),
            reloader,
        });
        let sub = |s: &str| {
            let client = client.clone();
            let s = s.to_string();
            async move { client.subscribe(s).await.map_err(|e| e.to_string()) }
        };
        let events = sub(&format!("{}.>", subjects::EVENTS_PREFIX)).await?;
        let reload_sub = sub(subjects::MODERATION_RELOAD).await?;
        let state_sub = sub(subjects::MODERATION_STATE).await?;
        let (tx, rx) = mpsc::channel(QUEUE);
        let tasks = vec![
            tokio::spawn(follow(events, Arc::clone(&inner), tx)),
            tokio::spawn(work(rx, actor.clone())),
            tokio::spawn(lift_when_due(actor, interval)),
            tokio::spawn(answer_reloads(
                reload_sub,
                client.clone(),
                Arc::clone(&inner),
            )),
            tokio::spawn(answer_state(
                state_sub,
                client.clone(),
                Arc::clone(&inner),
                lifts,
            )),
        ];
        client.flush().await.map_err(|e| e.to_string())?;
        inner.seed_from_bots(&client).await;
        Ok(Moderator { inner, tasks })
    }

    /// The shared part (reload, state, counters), for the process's signal handler.
    pub fn handle(&self) -> Arc<Inner> {
        Arc::clone(&self.inner)
    }

    pub fn metrics(&self) -> Arc<ModeratorMetrics> {
        Arc::clone(&self.inner.metrics)
    }

    /// The channels moderated now.
    pub fn channels(&self) -> Vec<String> {
        self.inner.channels()
    }

    /// See [`Inner::reload`].
    pub fn reload(&self) -> Result<Vec<String>, String> {
        self.inner.reload()
    }

    /// Ends every task of the service.
    pub fn stop(&self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Drop for Moderator {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, Core> {
        self.core.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The channels moderated now.
    pub fn channels(&self) -> Vec<String> {
        self.lock().channels.keys().cloned().collect()
    }

    /// Reads the rules again. On any problem the old rules stay and the error says why.
    pub fn reload(&self) -> Result<Vec<String>, String> {
        let result = (|| {
            let reloader = self
                .reloader
                .as_ref()
                .ok_or("no configuration file to reload from")?;
            let config = reloader()?;
            let rules = compile(&config)?;
            let names: Vec<String> = rules.keys().cloned().collect();
            self.lock().apply(config, rules);
            Ok::<_, String>(names)
        })();
        match &result {
            Ok(names) => tracing::info!(channels = ?names, "Moderation rules reloaded."),
            Err(e) => {
                self.metrics.reloads_failed.fetch_add(1, Relaxed);
                tracing::warn!(error = %e, "Moderation reload refused; the old rules stay.");
            }
        }
        result
    }

    /// Asks the bots for the channels' users and ranks (their user lists went by before
    /// the moderator listened); without an answer, ranks come from the next joins and user
    /// lists.
    async fn seed_from_bots(&self, client: &async_nats::Client) {
        let ask = client.request(subjects::BOT_STATUS, "{}".into());
        let status: Value = match tokio::time::timeout(Duration::from_secs(2), ask).await {
            Ok(Ok(m)) => serde_json::from_slice(&m.payload).unwrap_or(Value::Null),
            _ => {
                tracing::info!("No bot status; ranks come from the next user lists and joins.");
                return;
            }
        };
        let mut core = self.lock();
        for ch in status["channels"].as_array().into_iter().flatten() {
            let Some(channel) = ch["channel"]
                .as_str()
                .and_then(|name| core.channels.get_mut(name))
            else {
                continue;
            };
            channel.seed(
                ch["users"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|u| Some((u["name"].as_str()?, u["rank"].as_f64().unwrap_or(0.0)))),
            );
        }
    }

    /// The state as `rosey.moderation.state` answers it (without the pending lifts).
    pub fn state(&self, channel: Option<&str>, now: f64) -> Value {
        let core = self.lock();
        let channels: Vec<Value> = core
            .channels
            .iter()
            .filter(|(name, _)| channel.is_none_or(|c| c == name.as_str()))
            .map(|(name, c)| {
                let set = &c.rules.set;
                json!({
                    "channel": name,
                    "enabled": set.enabled,
                    "dry_run": set.dry_run,
                    "moderator_rank": set.moderator_rank,
                    "ladder": set.ladder.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                    "rules": enabled_rules(set),
                    "window": set.window,
                    "offenders": c.offenders(now).into_iter()
                        .map(|(u, n)| json!({"user": u, "offences": n})).collect::<Vec<_>>(),
                })
            })
            .collect();
        json!({
            "success": true,
            "name": core.config.name,
            "enabled": core.config.enabled,
            "channels": channels,
            "lines": self.metrics.lines.load(Relaxed),
            "decisions": self.metrics.all().into_iter()
                .map(|(r, a, o, n)| json!({"rule": r, "action": a, "outcome": o, "count": n}))
                .collect::<Vec<_>>(),
        })
    }
}

/// The rules a channel's set has switched on, by name (`repeats` also catches raids).
fn enabled_rules(set: &rosey_config::moderation::RuleSet) -> Vec<&'static str> {
    [
        ("flood", set.flood.enabled),
        ("repeats", set.repeats.enabled),
        ("caps", set.caps.enabled),
        ("links", set.links.enabled),
        ("words", set.words.enabled),
        ("mentions", set.mentions.enabled),
        ("length", set.length.enabled),
    ]
    .into_iter()
    .filter_map(|(name, on)| on.then_some(name))
    .collect()
}

pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Reads the events, keeps the members up to date, judges chat lines.
async fn follow(mut events: async_nats::Subscriber, inner: Arc<Inner>, tx: mpsc::Sender<Job>) {
    let metrics = &inner.metrics;
    while let Some(m) = events.next().await {
        let kind = m.subject.rsplit('.').next().unwrap_or("");
        if !matches!(
            kind,
            "message" | "user_join" | "user_leave" | "user_list" | "rank_change"
        ) {
            continue;
        }
        let event: NormalizedEvent = match decode(&m.payload) {
            Ok(e) => e,
            Err(e) => {
                metrics.bad_events.fetch_add(1, Relaxed);
                tracing::debug!(subject = %m.subject, error = %e, "Unreadable event; skipped.");
                continue;
            }
        };
        let decisions = {
            let mut core = inner.lock();
            let Some(channel) = core.channels.get_mut(&event.channel) else {
                continue;
            };
            match &event.body {
                EventBody::UserList { users, .. } => {
                    channel.user_list(users.iter().map(|u| (u.username.as_str(), u.rank)));
                    continue;
                }
                EventBody::UserJoin { user, user_data } => {
                    channel.join(user, user_data.rank, event.ts);
                    continue;
                }
                EventBody::UserLeave { user } => {
                    channel.leave(user);
                    continue;
                }
                EventBody::RankChange { user, rank } => {
                    channel.set_rank(user, *rank);
                    continue;
                }
                EventBody::Message {
                    user,
                    content,
                    history: false,
                    ..
                } => {
                    let started = Instant::now();
                    let d = channel.observe(Line {
                        user,
                        text: content,
                        ts: event.ts,
                        event_id: &event.id,
                    });
                    metrics.eval.observe_duration(started.elapsed());
                    metrics.lines.fetch_add(1, Relaxed);
                    d.into_iter()
                        .map(|decision| {
                            let position = position_of(channel, &event.channel, &decision.user);
                            (decision, position)
                        })
                        .collect::<Vec<_>>()
                }
                _ => continue,
            }
        };
        for (decision, position) in decisions {
            let job = Job {
                channel: event.channel.clone(),
                decision,
                position,
            };
            if let Err(e) = tx.try_send(job) {
                metrics.dropped.fetch_add(1, Relaxed);
                let job = match e {
                    mpsc::error::TrySendError::Full(j) | mpsc::error::TrySendError::Closed(j) => j,
                };
                tracing::warn!(channel = %job.channel, user = %job.decision.user,
                    "Moderation queue full; decision dropped.");
            }
        }
    }
}

/// Carries out decisions one at a time, in order.
async fn work(mut rx: mpsc::Receiver<Job>, actor: Actor) {
    while let Some(job) = rx.recv().await {
        // The position first: a moderator killed while acting still counts the offence.
        if let Err(e) = actor.positions.put(&job.position).await {
            tracing::warn!(error = %e, user = %job.decision.user, "Could not store the ladder position.");
        }
        let outcome = actor.act(&job.channel, &job.decision).await;
        let d = &job.decision;
        actor
            .record(
                &job.channel,
                d.rule.name(),
                &d.user,
                &d.reason,
                &d.evidence,
                &d.step.to_string(),
                &d.step.action,
                &outcome,
                d.dry_run,
            )
            .await;
    }
}

impl Actor {
    async fn act(&self, channel: &str, d: &Decision) -> Outcome {
        if d.dry_run {
            return Outcome {
                outcome: "dry_run",
                answer: format!("dry run: would {}", d.step),
            };
        }
        let reason = format!("{} ({})", d.reason, d.rule.name());
        // A timed step's lift is stored before the step is taken: a moderator killed right
        // after the server acted still lifts it (an unneeded lift of a step that failed is
        // dropped below).
        let lift = match (d.step.seconds, undo_of(&d.step.action)) {
            (Some(secs), Some(undo)) => {
                let lift = Lift {
                    channel: channel.to_string(),
                    user: d.user.clone(),
                    action: undo.to_string(),
                    due: now() + secs as f64,
                    rule: d.rule.name().to_string(),
                };
                if let Err(e) = self.lifts.put(&lift).await {
                    tracing::error!(error = %e, user = %d.user, "Could not store the pending lift.");
                }
                Some(lift)
            }
            _ => None,
        };
        let reply = if d.step.action == "warn" {
            let message = d
                .warning
                .replace("{user}", &d.user)
                .replace("{reason}", &reason);
            let pm = PmCommandRequest {
                to: d.user.clone(),
                message,
            };
            self.command(channel, subjects::COMMAND_PM, encode(&pm))
                .await
        } else {
            let cmd = ModerateCommand {
                action: d.step.action.clone(),
                user: d.user.clone(),
                reason: Some(reason),
                seconds: d.step.seconds,
                event_id: (!d.event_id.is_empty()).then(|| d.event_id.clone()),
                by: Some(self.name.clone()),
            };
            self.command(channel, subjects::COMMAND_MODERATE, encode(&cmd))
                .await
        };
        // Unanswered, the step may still have been taken: the lift stays then.
        let answered = reply.is_ok();
        let outcome = classify(reply);
        if let Some(lift) = &lift
            && answered
            && outcome.outcome != "done"
            && let Err(e) = self.lifts.remove(lift).await
        {
            tracing::warn!(error = %e, user = %d.user, "Could not drop the unneeded lift.");
        }
        outcome
    }

    /// A bot command with its reply, within the timeout.
    async fn command(
        &self,
        channel: &str,
        action: &str,
        payload: Vec<u8>,
    ) -> Result<CommandReply, String> {
        let subject = subjects::command_subject(channel, action);
        match tokio::time::timeout(self.timeout, self.client.request(subject, payload.into())).await
        {
            Err(_) => Err(format!("the bot did not answer within {:?}", self.timeout)),
            Ok(Err(e)) => Err(format!("the bot did not answer: {e}")),
            Ok(Ok(m)) => decode::<CommandReply>(&m.payload)
                .map_err(|e| format!("unreadable answer from the bot: {e}")),
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn record(
        &self,
        channel: &str,
        rule: &'static str,
        user: &str,
        reason: &str,
        evidence: &str,
        step: &str,
        action: &str,
        outcome: &Outcome,
        dry_run: bool,
    ) {
        self.metrics.decision(rule, action, outcome.outcome);
        tracing::info!(channel, rule, user, step, outcome = outcome.outcome,
            answer = %outcome.answer, dry_run, reason, "Moderation decision.");
        let row = ModerationAction {
            rule: rule.to_string(),
            username: user.to_string(),
            reason: reason.to_string(),
            evidence: evidence.to_string(),
            step: step.to_string(),
            outcome: outcome.outcome.to_string(),
            answer: outcome.answer.clone(),
            dry_run,
            channel: Some(channel.to_string()),
            ts: Some(now()),
            id: None,
        };
        if let Err(e) = self
            .client
            .publish(subjects::MODERATION_ACTION, encode(&row).into())
            .await
        {
            tracing::warn!(error = %e, "Could not publish the moderation record.");
        }
    }
}

/// The bot's reply as an outcome: a platform without the action is a skip, not a failure.
fn classify(reply: Result<CommandReply, String>) -> Outcome {
    match reply {
        Ok(r) if r.success => Outcome {
            outcome: "done",
            answer: r.message.unwrap_or_else(|| "ok".into()),
        },
        Ok(r) => {
            let text = r.error.or(r.message).unwrap_or_else(|| "refused".into());
            let outcome = if text.contains("not supported") {
                "skipped"
            } else {
                "failed"
            };
            Outcome {
                outcome,
                answer: text,
            }
        }
        Err(e) => Outcome {
            outcome: "failed",
            answer: e,
        },
    }
}

/// Lifts the timed mutes and bans that are due; kept for the next look while the bot does
/// not answer.
async fn lift_when_due(actor: Actor, interval: Duration) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut quiet: HashMap<String, Instant> = HashMap::new();
    loop {
        tick.tick().await;
        let pending = match actor.lifts.all().await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "Cannot read the pending lifts.");
                continue;
            }
        };
        let t = now();
        for lift in pending.into_iter().filter(|l| l.due <= t) {
            let cmd = ModerateCommand {
                action: lift.action.clone(),
                user: lift.user.clone(),
                reason: Some("time is up".into()),
                seconds: None,
                event_id: None,
                by: Some(actor.name.clone()),
            };
            let reply = actor
                .command(&lift.channel, subjects::COMMAND_MODERATE, encode(&cmd))
                .await;
            if let Err(e) = &reply {
                // The bot is away: try again at the next look (warn once a minute).
                let key = lift.key();
                if quiet
                    .get(&key)
                    .is_none_or(|t| t.elapsed() > Duration::from_secs(60))
                {
                    tracing::warn!(user = %lift.user, channel = %lift.channel, error = %e,
                        "Lift not answered; will retry.");
                    quiet.insert(key, Instant::now());
                }
                continue;
            }
            quiet.remove(&lift.key());
            let outcome = classify(reply);
            if let Err(e) = actor.lifts.remove(&lift).await {
                tracing::warn!(error = %e, "Could not remove a done lift.");
            }
            actor
                .record(
                    &lift.channel,
                    "lift",
                    &lift.user,
                    &format!("the {} step's time is up", lift.rule),
                    "",
                    &lift.action,
                    &lift.action,
                    &outcome,
                    false,
                )
                .await;
        }
    }
}

async fn answer_reloads(
    mut sub: async_nats::Subscriber,
    client: async_nats::Client,
    me: Arc<Inner>,
) {
    while let Some(m) = sub.next().await {
        let reply = match me.reload() {
            Ok(channels) => json!({"success": true, "channels": channels}),
            Err(e) => json!({"success": false, "error": e}),
        };
        if let Some(to) = m.reply {
            let _ = client.publish(to, encode(&reply).into()).await;
        }
    }
}

async fn answer_state(
    mut sub: async_nats::Subscriber,
    client: async_nats::Client,
    me: Arc<Inner>,
    lifts: Lifts,
) {
    while let Some(m) = sub.next().await {
        let ask: Value = serde_json::from_slice(&m.payload).unwrap_or(Value::Null);
        let channel = ask.get("channel").and_then(Value::as_str);
        let mut state = me.state(channel, now());
        let pending: Vec<Value> = lifts
            .all()
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|l| channel.is_none_or(|c| c == l.channel))
            .map(
                |l| json!({"channel": l.channel, "user": l.user, "action": l.action, "due": l.due}),
            )
            .collect();
        state["pending_lifts"] = Value::Array(pending);
        if let Some(to) = m.reply {
            let _ = client.publish(to, encode(&state).into()).await;
        }
    }
}
