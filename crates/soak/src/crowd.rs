//! The crowd: real CyTube clients of the devserver.
//!
//! Each channel has `chatters` guests; guest 0 stays for the whole run and watches the
//! channel (is the bot there?), the others leave now and then and come back. Lines are
//! tagged `soak-<n>`, unique over the run; a line counts as broadcast when the server
//! echoes it to its sender (it then went to everyone in the channel). A registered
//! moderator in the first channel PMs the bot's shell (`stats`) every few seconds: a PM
//! the server delivered (its echo) is answered when the bot's reply comes back.
//!
//! Two more parts: in each channel an abusive guest (`c<i>bad`) says now and then a tagged
//! line with the banned word ([`ABUSE_WORD`]) — only while the world is calm (no fault under
//! way or about to start), so the moderator sees each one — and is warned by PM; and a DJ
//! (a registered rank-2 user) adds a media item (`soakm<n>`) every [`MEDIA_EVERY`] and
//! plays it next, each start (`changeMedia`) noted with whether the bot was there.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng, rngs::StdRng};
use rosey_cytube::{ClientConfig, CytubeEvent, Login, QueuePosition, QueueRequest, ServerEvent};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::SoakError;
use crate::world::{ABUSE_WORD, BOT, MODERATOR, PASSWORD, dj};

/// How often the moderator asks the shell.
const PM_EVERY: Duration = Duration::from_secs(7);
/// How often each channel's DJ adds and plays an item.
pub const MEDIA_EVERY: Duration = Duration::from_secs(15);
/// One line in this many is the abusive part's (while calm).
const ABUSE_ONE_IN: u32 = 25;

/// What the crowd saw.
#[derive(Default)]
pub struct Crowd {
    pub stop: CancellationToken,
    /// Tagged lines the server echoed to their sender: line → (channel, when).
    broadcast: Mutex<HashMap<String, (String, Instant)>>,
    /// Lines handed to a connected chatter.
    pub sent: AtomicU64,
    /// Per channel: is the bot there (as its watcher sees it), and the gaps without one.
    presence: Mutex<HashMap<String, Presence>>,
    pub pm_delivered: AtomicU64,
    pub pm_answered: AtomicU64,
    pub leaves: AtomicU64,
    /// No fault under way or due soon: the abusive part may speak.
    pub calm: std::sync::atomic::AtomicBool,
    /// The abusive lines the server echoed (a subset of `broadcast`).
    abuse: Mutex<std::collections::HashSet<String>>,
    /// Warnings (PMs from the bot) the abusive part received.
    pub warnings: AtomicU64,
    /// Media items started (`changeMedia`): id → (channel, was the bot in the channel).
    plays: Mutex<HashMap<String, (String, bool)>>,
    /// Media items the DJs asked to add.
    pub media_added: AtomicU64,
}

#[derive(Default, Clone, Copy)]
struct Presence {
    here: bool,
    /// When the bot was last seen going (while absent).
    since: Option<Instant>,
    longest: Duration,
}

impl Crowd {
    fn set_present(&self, channel: &str, here: bool) {
        let mut map = self.presence.lock().unwrap_or_else(|e| e.into_inner());
        let p = map.entry(channel.to_string()).or_default();
        let now = Instant::now();
        match (p.here, here) {
            (true, false) => p.since = Some(now),
            (false, true) => {
                if let Some(s) = p.since.take() {
                    p.longest = p.longest.max(now - s);
                }
            }
            _ => {}
        }
        p.here = here;
    }

    /// Channels whose watcher sees the bot.
    pub fn covered(&self, channels: &[String]) -> usize {
        let map = self.presence.lock().unwrap_or_else(|e| e.into_inner());
        channels
            .iter()
            .filter(|c| map.get(*c).is_some_and(|p| p.here))
            .count()
    }

    /// The longest time each channel was without a bot (a gap still open counts to now).
    pub fn longest_gaps(&self) -> Vec<(String, f64)> {
        let map = self.presence.lock().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<_> = map
            .iter()
            .map(|(c, p)| {
                let open = p.since.map_or(Duration::ZERO, |s| s.elapsed());
                (c.clone(), p.longest.max(open).as_secs_f64())
            })
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    pub fn broadcast_count(&self) -> usize {
        self.broadcast
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    /// The abusive lines broadcast.
    pub fn abuse(&self) -> Vec<String> {
        let set = self.abuse.lock().unwrap_or_else(|e| e.into_inner());
        set.iter().cloned().collect()
    }

    /// Media items started: (id, channel, bot present then).
    pub fn plays(&self) -> Vec<(String, String, bool)> {
        let map = self.plays.lock().unwrap_or_else(|e| e.into_inner());
        map.iter()
            .map(|(id, (c, b))| (id.clone(), c.clone(), *b))
            .collect()
    }

    fn bot_here(&self, channel: &str) -> bool {
        let map = self.presence.lock().unwrap_or_else(|e| e.into_inner());
        map.get(channel).is_some_and(|p| p.here)
    }

    /// Every broadcast line with its channel and time.
    pub fn broadcast(&self) -> Vec<(String, String, Instant)> {
        let map = self.broadcast.lock().unwrap_or_else(|e| e.into_inner());
        map.iter()
            .map(|(l, (c, t))| (l.clone(), c.clone(), *t))
            .collect()
    }

    /// Waits until every channel's watcher sees the bot.
    pub async fn wait_bots_everywhere(
        &self,
        channels: &[String],
        within: Duration,
    ) -> Result<(), SoakError> {
        let deadline = Instant::now() + within;
        while self.covered(channels) < channels.len() {
            if Instant::now() > deadline {
                return Err(SoakError::Setup(format!(
                    "the bots are in {} of {} channels after {within:?}",
                    self.covered(channels),
                    channels.len()
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }
}

/// What a chatter is told to do.
enum Order {
    Say(String),
    /// Leave, and come back a moment later.
    Wander,
}

/// Starts the crowd; the returned task ends when `crowd.stop` is cancelled.
pub fn start(
    crowd: std::sync::Arc<Crowd>,
    base_url: String,
    channels: Vec<String>,
    chatters: usize,
    rate: f64,
    seed: u64,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut mouths = Vec::new();
        let mut tasks = Vec::new();
        for (ci, ch) in channels.iter().enumerate() {
            for k in 0..chatters.max(1) {
                let (tx, rx) = mpsc::unbounded_channel();
                mouths.push(tx);
                tasks.push(tokio::spawn(chatter(
                    crowd.clone(),
                    base_url.clone(),
                    ch.clone(),
                    format!("c{ci}g{k}"),
                    k == 0,
                    rx,
                )));
            }
        }
        let mut abusers = Vec::new();
        for (ci, ch) in channels.iter().enumerate() {
            let (tx, rx) = mpsc::unbounded_channel();
            abusers.push(tx);
            tasks.push(tokio::spawn(chatter(
                crowd.clone(),
                base_url.clone(),
                ch.clone(),
                format!("c{ci}bad"),
                false,
                rx,
            )));
            tasks.push(tokio::spawn(disc_jockey(
                crowd.clone(),
                base_url.clone(),
                ch.clone(),
                ci,
                seed,
            )));
        }
        tasks.push(tokio::spawn(moderator(
            crowd.clone(),
            base_url.clone(),
            channels[0].clone(),
        )));
        let mut rng = StdRng::seed_from_u64(seed ^ 0x00c0_ffee);
        let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate.max(0.1)));
        let mut n = 0u64;
        loop {
            tokio::select! {
                _ = crowd.stop.cancelled() => break,
                _ = tick.tick() => {}
            }
            let who = rng.random_range(0..mouths.len());
            // Now and then someone (never a watcher) leaves and comes back.
            if who % chatters.max(1) != 0 && rng.random_ratio(1, 40) {
                let _ = mouths[who].send(Order::Wander);
                continue;
            }
            n += 1;
            if crowd.calm.load(Relaxed) && rng.random_ratio(1, ABUSE_ONE_IN) {
                let bad = rng.random_range(0..abusers.len());
                let _ = abusers[bad].send(Order::Say(format!("soak-{n} {ABUSE_WORD}")));
                continue;
            }
            let _ = mouths[who].send(Order::Say(format!("soak-{n}")));
        }
        drop(mouths);
        drop(abusers);
        for t in tasks {
            let _ = t.await;
        }
    })
}

fn client(base_url: &str, channel: &str, login: Login) -> ClientConfig {
    let mut cfg = ClientConfig::new(base_url, channel, login);
    cfg.backoff.base = Duration::from_millis(200);
    cfg.backoff.cap = Duration::from_secs(2);
    cfg
}

/// One chatter: says what it is told while joined; a watcher also follows the bot.
async fn chatter(
    crowd: std::sync::Arc<Crowd>,
    base_url: String,
    channel: String,
    name: String,
    watcher: bool,
    mut orders: mpsc::UnboundedReceiver<Order>,
) {
    'session: loop {
        let (handle, mut events) =
            rosey_cytube::connect(client(&base_url, &channel, Login::Guest(name.clone())));
        let mut joined = false;
        loop {
            tokio::select! {
                _ = crowd.stop.cancelled() => {
                    handle.shutdown().await;
                    return;
                }
                e = events.recv() => {
                    let Some(e) = e else { break };
                    match e {
                        CytubeEvent::Joined { .. } => joined = true,
                        CytubeEvent::Disconnected { .. } => {
                            joined = false;
                            if watcher {
                                crowd.set_present(&channel, false);
                            }
                        }
                        CytubeEvent::Server(ServerEvent::ChatMsg(m))
                            if m.from_self && !m.history && m.text.starts_with("soak-") =>
                        {
                            if m.text.contains(ABUSE_WORD) {
                                crowd
                                    .abuse
                                    .lock()
                                    .unwrap_or_else(|e| e.into_inner())
                                    .insert(m.text.clone());
                            }
                            crowd
                                .broadcast
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .insert(m.text, (channel.clone(), Instant::now()));
                        }
                        CytubeEvent::Server(ServerEvent::Pm(pm))
                            if !pm.from_self && pm.username.eq_ignore_ascii_case(BOT) =>
                        {
                            crowd.warnings.fetch_add(1, Relaxed);
                        }
                        CytubeEvent::Server(ServerEvent::Userlist(users)) if watcher => {
                            let here = users.iter().any(|u| u.name.eq_ignore_ascii_case(BOT));
                            crowd.set_present(&channel, here);
                        }
                        CytubeEvent::Server(ServerEvent::AddUser(u))
                            if watcher && u.name.eq_ignore_ascii_case(BOT) =>
                        {
                            crowd.set_present(&channel, true)
                        }
                        CytubeEvent::Server(ServerEvent::UserLeave { name })
                            if watcher && name.eq_ignore_ascii_case(BOT) =>
                        {
                            crowd.set_present(&channel, false)
                        }
                        _ => {}
                    }
                }
                o = orders.recv() => match o {
                    None => {
                        handle.shutdown().await;
                        return;
                    }
                    Some(Order::Say(line)) if joined => {
                        if handle.chat(&line).is_ok() {
                            crowd.sent.fetch_add(1, Relaxed);
                        }
                    }
                    Some(Order::Say(_)) => {}
                    Some(Order::Wander) => {
                        crowd.leaves.fetch_add(1, Relaxed);
                        handle.shutdown().await;
                        tokio::time::sleep(Duration::from_secs(2)).await;
                        continue 'session;
                    }
                }
            }
        }
        handle.shutdown().await;
    }
}

/// A DJ: every [`MEDIA_EVERY`] adds an item and plays it next (the first one on an empty
/// playlist starts by itself); notes every soak item that starts.
async fn disc_jockey(
    crowd: std::sync::Arc<Crowd>,
    base_url: String,
    channel: String,
    ci: usize,
    seed: u64,
) {
    let login = Login::Registered {
        name: dj(ci),
        password: PASSWORD.into(),
    };
    let (handle, mut events) = rosey_cytube::connect(client(&base_url, &channel, login));
    // Channels' DJs do not all add at the same moment.
    let offset = Duration::from_millis(
        StdRng::seed_from_u64(seed ^ ci as u64).random_range(0..MEDIA_EVERY.as_millis() as u64),
    );
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + offset, MEDIA_EVERY);
    let mut playing = false;
    let mut n = 0u64;
    loop {
        tokio::select! {
            _ = crowd.stop.cancelled() => break,
            _ = tick.tick() => {
                if handle.is_joined() {
                    n += 1;
                    let id = format!("soakm{ci}x{n}");
                    let pos = if playing { QueuePosition::Next } else { QueuePosition::End };
                    if handle.queue(QueueRequest::new(id, "yt", pos)).is_ok() {
                        crowd.media_added.fetch_add(1, Relaxed);
                        if playing {
                            let _ = handle.play_next();
                        }
                    }
                }
            }
            e = events.recv() => match e {
                None => break,
                Some(CytubeEvent::Disconnected { .. }) => playing = false,
                Some(CytubeEvent::Server(ServerEvent::ChangeMedia(m))) => {
                    playing = !m.media.id.is_empty();
                    if m.media.id.starts_with("soakm") {
                        let here = crowd.bot_here(&channel);
                        crowd
                            .plays
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .entry(m.media.id)
                            .or_insert((channel.clone(), here));
                    }
                }
                Some(_) => {}
            }
        }
    }
    handle.shutdown().await;
}

/// The moderator: PMs the bot's shell and waits for the answer.
async fn moderator(crowd: std::sync::Arc<Crowd>, base_url: String, channel: String) {
    let login = Login::Registered {
        name: MODERATOR.into(),
        password: PASSWORD.into(),
    };
    let (handle, mut events) = rosey_cytube::connect(client(&base_url, &channel, login));
    let mut tick = tokio::time::interval(PM_EVERY);
    let mut waiting = false;
    loop {
        tokio::select! {
            _ = crowd.stop.cancelled() => break,
            _ = tick.tick() => {
                if handle.is_joined() {
                    let _ = handle.pm(BOT, "stats");
                }
            }
            e = events.recv() => match e {
                None => break,
                Some(CytubeEvent::Server(ServerEvent::Pm(pm))) => {
                    if pm.from_self {
                        crowd.pm_delivered.fetch_add(1, Relaxed);
                        waiting = true;
                    } else if pm.username.eq_ignore_ascii_case(BOT) && waiting {
                        crowd.pm_answered.fetch_add(1, Relaxed);
                        waiting = false;
                    }
                }
                Some(_) => {}
            }
        }
    }
    handle.shutdown().await;
}
