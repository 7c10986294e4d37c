//! Numbers out of a run: percentiles, per-second series, the report.

use serde::Serialize;

/// Percentiles of a set of latencies, in milliseconds.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
    pub count: usize,
}

impl Percentiles {
    /// Nearest-rank percentiles of `samples` (milliseconds, any order).
    pub fn of(mut samples: Vec<f64>) -> Self {
        if samples.is_empty() {
            return Percentiles::default();
        }
        samples.sort_by(f64::total_cmp);
        let at = |q: f64| {
            let rank = ((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len());
            samples[rank - 1]
        };
        Percentiles { p50: at(0.50), p90: at(0.90), p99: at(0.99), max: at(1.0), count: samples.len() }
    }
}

/// One second of the run.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Second {
    pub second: usize,
    pub accepted: usize,
    pub settled: usize,
    /// p99 accept latency of the requests sent in this second, ms.
    pub accept_p99_ms: f64,
}

/// Everything a run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub scenario: super::Scenario,
    pub mode: String,
    pub accounts: usize,
    pub sent: usize,
    pub accepted: usize,
    /// Non-202 answers and transport errors, by kind.
    pub errors: Vec<(String, usize)>,
    pub done: usize,
    pub failed_by_reason: Vec<(String, usize)>,
    /// Payments still pending when the wait for settlement ended.
    pub not_settled: usize,
    pub send_seconds: f64,
    pub accepted_per_second: f64,
    /// Terminal payments over the span from the first accept to the last
    /// terminal update.
    pub settled_per_second: f64,
    pub accept_latency_ms: Percentiles,
    pub accept_to_terminal_ms: Percentiles,
    pub audit_ok: bool,
    pub per_second: Vec<Second>,
}

impl Report {
    /// The table printed at the end of a run.
    pub fn table(&self) -> String {
        let p = |l: &Percentiles| format!("{:>8.1} {:>8.1} {:>8.1} {:>8.1}", l.p50, l.p90, l.p99, l.max);
        let pairs = |v: &[(String, usize)]| {
            if v.is_empty() {
                "none".to_owned()
            } else {
                v.iter().map(|(k, n)| format!("{k} {n}")).collect::<Vec<_>>().join(", ")
            }
        };
        format!(
            "scenario {:?}, {} over {} accounts\n\
             sent {}, accepted {}, errors: {}\n\
             done {}, failed: {}, not settled {}\n\
             accepted/s {:>10.0}   (over {:.1} s of sending)\n\
             settled/s  {:>10.0}   (first accept to last terminal)\n\
             latency ms                 p50      p90      p99      max\n\
             accept (from intended) {}\n\
             accept to terminal     {}\n\
             audit: {}",
            self.scenario,
            self.mode,
            self.accounts,
            self.sent,
            self.accepted,
            pairs(&self.errors),
            self.done,
            pairs(&self.failed_by_reason),
            self.not_settled,
            self.accepted_per_second,
            self.send_seconds,
            self.settled_per_second,
            p(&self.accept_latency_ms),
            p(&self.accept_to_terminal_ms),
            if self.audit_ok { "all invariants hold" } else { "INVARIANTS VIOLATED" },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::Percentiles;

    #[test]
    fn nearest_rank_percentiles() {
        let p = Percentiles::of((1..=100).rev().map(f64::from).collect());
        assert_eq!((p.p50, p.p90, p.p99, p.max, p.count), (50.0, 90.0, 99.0, 100.0, 100));
        let one = Percentiles::of(vec![3.0]);
        assert_eq!((one.p50, one.p99, one.max), (3.0, 3.0, 3.0));
        assert_eq!(Percentiles::of(Vec::new()), Percentiles::default());
    }
}
