//! The progress bar: one step per measured phase, with the phase's name. Drawn on stdout only
//! when the caller asks (it asks when stdout is a terminal); hidden otherwise, so a report
//! piped to a file stays clean.

use std::borrow::Cow;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    pub fn new(visible: bool, steps: u64) -> Progress {
        if !visible {
            return Progress {
                bar: ProgressBar::hidden(),
            };
        }
        let bar = ProgressBar::with_draw_target(Some(steps), ProgressDrawTarget::stdout());
        if let Ok(style) =
            ProgressStyle::with_template("{elapsed_precise} [{bar:30.cyan/blue}] {pos}/{len} {msg}")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        Progress { bar }
    }

    /// Names the phase now running.
    pub fn phase(&self, what: impl Into<Cow<'static, str>>) {
        self.bar.set_message(what);
    }

    /// One step done.
    pub fn step(&self) {
        self.bar.inc(1);
    }

    /// Moves to step `pos` (a run measured in seconds: the seconds done).
    pub fn set(&self, pos: u64) {
        self.bar.set_position(pos);
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
