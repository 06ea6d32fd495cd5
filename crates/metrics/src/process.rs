//! Process metrics with the names every Prometheus client uses (`process_cpu_seconds_total`,
//! `process_resident_memory_bytes`, `process_open_fds`, …), read from `/proc/self` through
//! the `procfs` crate at scrape time. `prometheus-client` has no process collector of its own.

use std::fmt;

use crate::source::{Out, Source};

pub(crate) struct ProcessSource {
    ticks: f64,
    page: u64,
    boot: Option<u64>,
}

impl ProcessSource {
    pub fn new() -> Self {
        ProcessSource {
            ticks: procfs::ticks_per_second() as f64,
            page: procfs::page_size(),
            boot: procfs::boot_time_secs().ok(),
        }
    }
}

impl Source for ProcessSource {
    fn collect(&self, out: &mut Out<'_>) -> fmt::Result {
        let Ok(me) = procfs::process::Process::myself() else {
            return Ok(());
        };
        if let Ok(stat) = me.stat() {
            let cpu = (stat.utime + stat.stime) as f64 / self.ticks;
            out.counter_value(
                "process_cpu_seconds",
                "Total user and system CPU time spent in seconds.",
                cpu,
            )?;
            out.gauge_value(
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                stat.rss * self.page,
            )?;
            out.gauge_value(
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
                stat.vsize,
            )?;
            out.gauge_value(
                "process_threads",
                "Number of OS threads in the process.",
                stat.num_threads,
            )?;
            if let Some(boot) = self.boot {
                let start = boot as f64 + stat.starttime as f64 / self.ticks;
                out.gauge_value(
                    "process_start_time_seconds",
                    "Start time of the process since unix epoch in seconds.",
                    start,
                )?;
            }
        }
        if let Ok(n) = me.fd_count() {
            out.gauge_value(
                "process_open_fds",
                "Number of open file descriptors.",
                n as i64,
            )?;
        }
        if let Ok(limits) = me.limits()
            && let procfs::process::LimitValue::Value(max) = limits.max_open_files.soft_limit
        {
            out.gauge_value(
                "process_max_fds",
                "Maximum number of open file descriptors.",
                max as i64,
            )?;
        }
        Ok(())
    }
}
