//! Power level → the bot's rank, like IRC's `op_rank`: [`RankMap`] holds thresholds, highest
//! first; a user gets the rank of the first threshold their power reaches, else
//! [`RankMap::base`]. By default power ≥ 50 (Matrix's "moderator") is rank 2, the shell's
//! moderator rank, and everyone else 0. Room creators in room versions with unlimited
//! creator power (12 and later) reach every threshold.

/// Thresholds `(power, rank)`; see the module doc.
#[derive(Debug, Clone, PartialEq)]
pub struct RankMap {
    levels: Vec<(i64, f64)>,
    base: f64,
}

/// The power level Matrix clients call "moderator".
pub const MODERATOR_POWER: i64 = 50;

/// The shell's moderator rank (IRC's default `op_rank`).
pub const MODERATOR_RANK: f64 = 2.0;

impl Default for RankMap {
    fn default() -> Self {
        RankMap::new(vec![(MODERATOR_POWER, MODERATOR_RANK)], 0.0)
    }
}

impl RankMap {
    /// `levels` in any order; `base` for power below all of them.
    pub fn new(mut levels: Vec<(i64, f64)>, base: f64) -> RankMap {
        levels.sort_by_key(|l| std::cmp::Reverse(l.0));
        RankMap { levels, base }
    }

    /// The IRC-like shape: power ≥ 50 gets `op_rank`, everyone else 0.
    pub fn op_rank(op_rank: f64) -> RankMap {
        RankMap::new(vec![(MODERATOR_POWER, op_rank)], 0.0)
    }

    /// The rank for this power level.
    pub fn rank(&self, power: i64) -> f64 {
        self.levels
            .iter()
            .find(|(p, _)| power >= *p)
            .map_or(self.base, |(_, r)| *r)
    }

    pub fn base(&self) -> f64 {
        self.base
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moderator_by_default() {
        let m = RankMap::default();
        assert_eq!(m.rank(0), 0.0);
        assert_eq!(m.rank(49), 0.0);
        assert_eq!(m.rank(50), 2.0);
        assert_eq!(m.rank(100), 2.0);
        assert_eq!(m.rank(i64::MAX), 2.0);
    }

    #[test]
    fn thresholds_in_any_order() {
        let m = RankMap::new(vec![(50, 2.0), (100, 3.0), (1, 1.0)], 0.0);
        assert_eq!(m.rank(100), 3.0);
        assert_eq!(m.rank(75), 2.0);
        assert_eq!(m.rank(1), 1.0);
        assert_eq!(m.rank(-5), 0.0);
        assert_eq!(RankMap::op_rank(4.0).rank(60), 4.0);
    }
}
