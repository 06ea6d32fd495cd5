//! Liveness and readiness. `/healthz` answers 200 while the process serves HTTP at all;
//! `/readyz` runs every named check and answers 200 only when all pass, with a JSON body
//! that says which failed and why.

use std::sync::{Arc, RwLock};
use std::time::Instant;

use serde::Serialize;

/// The result of one readiness check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub ok: bool,
    /// Why (not) ready, for the operator: `connected`, `2 of 3 channels joined`, …
    pub detail: String,
}

impl Check {
    pub fn ready(detail: impl Into<String>) -> Self {
        Check {
            ok: true,
            detail: detail.into(),
        }
    }

    pub fn not_ready(detail: impl Into<String>) -> Self {
        Check {
            ok: false,
            detail: detail.into(),
        }
    }
}

type CheckFn = Arc<dyn Fn() -> Check + Send + Sync>;

/// The named checks behind `/readyz`. Cloning shares them.
#[derive(Clone)]
pub struct Health {
    checks: Arc<RwLock<Vec<(String, CheckFn)>>>,
    started: Instant,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            checks: Arc::default(),
            started: Instant::now(),
        }
    }
}

/// One check in the `/readyz` body.
#[derive(Debug, Clone, Serialize)]
pub struct NamedCheck {
    pub name: String,
    #[serde(flatten)]
    pub check: Check,
}

/// The `/readyz` body.
#[derive(Debug, Clone, Serialize)]
pub struct Readiness {
    pub ready: bool,
    pub checks: Vec<NamedCheck>,
}

/// The `/healthz` body.
#[derive(Debug, Clone, Serialize)]
pub struct Liveness {
    pub status: &'static str,
    pub uptime_seconds: u64,
}

impl Health {
    /// Adds a check; it runs on every `/readyz` request, so it must be quick (read state,
    /// never wait on I/O).
    pub fn add(&self, name: &str, check: impl Fn() -> Check + Send + Sync + 'static) {
        self.checks
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push((name.to_string(), Arc::new(check)));
    }

    /// Runs every check. With none registered yet (still starting), not ready.
    pub fn readiness(&self) -> Readiness {
        let checks: Vec<(String, CheckFn)> = self
            .checks
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let checks: Vec<NamedCheck> = checks
            .into_iter()
            .map(|(name, f)| NamedCheck { name, check: f() })
            .collect();
        Readiness {
            ready: !checks.is_empty() && checks.iter().all(|c| c.check.ok),
            checks,
        }
    }

    pub fn liveness(&self) -> Liveness {
        Liveness {
            status: "ok",
            uptime_seconds: self.started.elapsed().as_secs(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_when_every_check_passes() {
        let h = Health::default();
        assert!(!h.readiness().ready, "no checks yet = still starting");
        h.add("a", || Check::ready("fine"));
        assert!(h.readiness().ready);
        h.add("b", || Check::not_ready("down"));
        let r = h.readiness();
        assert!(!r.ready);
        assert_eq!(r.checks[1].name, "b");
        assert_eq!(r.checks[1].check.detail, "down");
    }
}
