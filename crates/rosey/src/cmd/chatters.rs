//! Simulated chatters for `rosey demo`: guests who talk, one who leaves and comes back, and
//! a moderator who asks the bot for statistics by PM. They are real CyTube clients talking
//! to the devserver over a real socket, exactly like people in a browser would.

use std::time::Duration;

use rand::{Rng, SeedableRng, rngs::StdRng};
use rosey_cytube::{ClientConfig, CytubeEvent, CytubeHandle, Login, ServerEvent, connect};
use tokio_util::sync::CancellationToken;

const LINES: &[&str] = &[
    "hi everyone",
    "this song is great",
    "who queued this? :D",
    "brb, getting snacks",
    "lol",
    "can we watch something with subtitles next?",
    "the <b>best</b> part is coming & it's loud",
    "agreed",
    "has anyone seen the sequel?",
    "good evening from the other side of the world",
];

/// Connects `name` as a guest (or a registered user when `password` is given).
fn client(
    base_url: &str,
    channel: &str,
    name: &str,
    password: Option<&str>,
) -> (CytubeHandle, rosey_cytube::EventStream) {
    let login = match password {
        Some(pw) => Login::Registered {
            name: name.to_string(),
            password: pw.to_string(),
        },
        None => Login::Guest(name.to_string()),
    };
    let mut cfg = ClientConfig::new(base_url, channel, login);
    cfg.backoff.base = Duration::from_millis(200);
    cfg.backoff.cap = Duration::from_secs(2);
    connect(cfg)
}

/// Waits until the client has joined (or gives up after a while).
async fn joined(events: &mut rosey_cytube::EventStream) -> bool {
    let wait = async {
        while let Some(e) = events.recv().await {
            if matches!(e, CytubeEvent::Joined { .. }) {
                return true;
            }
        }
        false
    };
    tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .unwrap_or(false)
}

/// One guest: chats at random intervals; `wanders` makes it leave and come back.
pub async fn guest(
    base_url: String,
    channel: String,
    name: String,
    seed: u64,
    wanders: bool,
    stop: CancellationToken,
) {
    let mut rng = StdRng::seed_from_u64(seed);
    loop {
        let (handle, mut events) = client(&base_url, &channel, &name, None);
        if !joined(&mut events).await {
            handle.shutdown().await;
            return;
        }
        let drain = tokio::spawn(async move { while events.recv().await.is_some() {} });
        let stay = if wanders {
            rng.random_range(8..15)
        } else {
            u32::MAX
        };
        for _ in 0..stay {
            let pause = Duration::from_millis(rng.random_range(600..2_500));
            tokio::select! {
                _ = stop.cancelled() => { handle.shutdown().await; return; }
                _ = tokio::time::sleep(pause) => {}
            }
            let line = LINES[rng.random_range(0..LINES.len())];
            let _ = handle.chat(line);
        }
        handle.shutdown().await;
        drain.abort();
        // Away for a little while, then back.
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(rng.random_range(3..6))) => {}
        }
    }
}

/// The moderator: every `every`, PMs the bot `stats` and prints the answer.
pub async fn moderator(
    base_url: String,
    channel: String,
    name: String,
    password: String,
    bot_name: String,
    every: Duration,
    stop: CancellationToken,
) {
    let (handle, mut events) = client(&base_url, &channel, &name, Some(&password));
    if !joined(&mut events).await {
        handle.shutdown().await;
        return;
    }
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tick.tick() => { let _ = handle.pm(&bot_name, "stats"); }
            e = events.recv() => match e {
                Some(CytubeEvent::Server(ServerEvent::Pm(pm))) if !pm.from_self => {
                    super::demo::note(&format!("[PM {} → {}] {}", pm.username, name, pm.text));
                }
                Some(_) => {}
                None => break,
            }
        }
    }
    handle.shutdown().await;
}

/// The demo playlist: raw-file items, whose titles the server keeps as given.
const DEMO_PLAYLIST: &[(&str, &str)] = &[
    ("https://demo.invalid/opening.mp4", "Opening titles"),
    (
        "https://demo.invalid/lofi.mp4",
        "Lo-fi beats to test bots to",
    ),
    (
        "https://demo.invalid/talk.mp4",
        "A talk about message buses",
    ),
    ("https://demo.invalid/cats.mp4", "Cats, compiled"),
    ("https://demo.invalid/credits.mp4", "Closing credits"),
];

/// A moderator who plays the demo playlist: queues it once joined, then moves to the next
/// item every `every` (the devserver never advances on its own) and puts the item that
/// just ended back at the end, so the playlist plays round forever.
pub async fn dj(
    base_url: String,
    channel: String,
    name: String,
    password: String,
    every: Duration,
    stop: CancellationToken,
) {
    use rosey_cytube::{QueuePosition, QueueRequest};
    let (handle, mut events) = client(&base_url, &channel, &name, Some(&password));
    if !joined(&mut events).await {
        handle.shutdown().await;
        return;
    }
    let request = |i: usize| {
        let (url, title) = DEMO_PLAYLIST[i % DEMO_PLAYLIST.len()];
        let mut q = QueueRequest::new(url, "fi", QueuePosition::End);
        q.title = Some(title.to_owned());
        q
    };
    for i in 0..DEMO_PLAYLIST.len() {
        let _ = handle.queue(request(i));
    }
    let mut next = DEMO_PLAYLIST.len();
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tick.tick() => {
                // Temporary items leave the playlist once played: queue one at the end first.
                let _ = handle.queue(request(next));
                next += 1;
                let _ = handle.play_next();
            }
            e = events.recv() => if e.is_none() { break },
        }
    }
    handle.shutdown().await;
}
