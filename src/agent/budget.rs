//! Budgets: steps, tokens, cost and wall time.

use std::time::Duration;

use crate::protocol::BudgetKind;
use crate::session::SessionState;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Budgets {
    pub max_steps: Option<u64>,
    pub max_tokens: Option<u64>,
    pub max_cost: Option<f64>,
    pub max_time: Option<Duration>,
}

/// Fraction of a budget at which a warning is recorded.
pub const WARN_AT: f64 = 0.8;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BudgetReading {
    pub kind: BudgetKind,
    pub used: f64,
    pub limit: f64,
}

impl Budgets {
    /// Current use against each configured limit. `elapsed` is the session's wall time so far.
    pub fn readings(&self, s: &SessionState, elapsed: Duration) -> Vec<BudgetReading> {
        let mut out = Vec::new();
        if let Some(l) = self.max_steps {
            out.push(BudgetReading { kind: BudgetKind::Steps, used: s.step as f64, limit: l as f64 });
        }
        if let Some(l) = self.max_tokens {
            out.push(BudgetReading { kind: BudgetKind::Tokens, used: s.usage.tokens() as f64, limit: l as f64 });
        }
        if let Some(l) = self.max_cost {
            out.push(BudgetReading { kind: BudgetKind::Cost, used: s.usage.cost_usd, limit: l });
        }
        if let Some(l) = self.max_time {
            out.push(BudgetReading { kind: BudgetKind::Time, used: elapsed.as_secs_f64(), limit: l.as_secs_f64() });
        }
        out
    }
}

/// Budgets shared by several sessions (a workflow run's caps over its subagents): each reads
/// them at its step boundaries like its own. `own` is the reading session's state, so its
/// latest usage counts even before the others hear of it.
pub trait SharedBudget: Send + Sync {
    fn readings(&self, own: &SessionState) -> Vec<BudgetReading>;
}

impl BudgetReading {
    pub fn exhausted(&self) -> bool {
        self.used >= self.limit
    }
    pub fn nearly(&self) -> bool {
        self.used >= self.limit * WARN_AT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_follow_state() {
        let b = Budgets { max_steps: Some(10), max_cost: Some(1.0), ..Default::default() };
        let mut s = SessionState::default();
        s.step = 8;
        s.usage.cost_usd = 1.5;
        let r = b.readings(&s, Duration::ZERO);
        assert_eq!(r.len(), 2);
        assert!(r[0].nearly() && !r[0].exhausted());
        assert!(r[1].exhausted());
    }
}
