//! Multi-fidelity search: candidates climb a ladder of rungs (epochs
//! `min`, `min·η`, `min·η²`, …, `max`), and only the best of each rung
//! train on at the next, continuing from where they stopped.
//!
//! [`Rungs`] is the rung scheduler, a pure state machine beside the
//! strategy (which proposes the candidates, any strategy): it places each
//! new candidate in a bracket at the bracket's first rung, and says which
//! candidates to promote as results come in.
//!
//! - `asha`, asynchronous successive halving (Li et al. 2020): one bracket
//!   without end; a candidate is promoted from rung k as soon as it is in
//!   the top 1/η of the results rung k has so far. Nobody waits for
//!   stragglers, which is what a queue of trainers of unequal speed needs.
//! - `sh`, synchronous successive halving: brackets of η^(rungs−1)
//!   candidates; rung k of a bracket promotes its top 1/η once every
//!   candidate that reached it has its result. The next bracket fills while
//!   one waits, so trainers do not idle.
//! - `hyperband` (Li et al. 2018): synchronous brackets in turn, from the
//!   most aggressive (many candidates starting at the lowest rung) to plain
//!   full-fidelity training (few candidates starting at the top rung).
//!
//! The strategy is told each candidate's result at its first rung; the
//! search's best is the best result at the highest rung reached.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How rungs promote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RungScheduler {
    /// Asynchronous successive halving.
    #[default]
    Asha,
    /// Synchronous successive halving.
    #[serde(alias = "successive_halving")]
    Sh,
    /// Hyperband: brackets of successive halving from every first rung.
    Hyperband,
}

impl RungScheduler {
    /// Every scheduler's name, as a spec writes it.
    pub const NAMES: [&'static str; 3] = ["asha", "sh", "hyperband"];

    /// The name as a spec writes it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Asha => "asha",
            Self::Sh => "sh",
            Self::Hyperband => "hyperband",
        }
    }
}

impl std::str::FromStr for RungScheduler {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "asha" => Ok(Self::Asha),
            "sh" | "successive_halving" => Ok(Self::Sh),
            "hyperband" => Ok(Self::Hyperband),
            other => Err(format!(
                "fidelity scheduler {other:?}: expected one of {}",
                Self::NAMES.join(", ")
            )),
        }
    }
}

/// Most rungs a ladder may have.
pub const MAX_RUNGS: usize = 8;

/// A spec's `[fidelity]` section.
///
/// ```toml
/// [fidelity]
/// resource = "epochs"   # what a rung gives more of
/// min = 1               # the lowest rung's epochs
/// max = 27              # the top rung's: the whole schedule
/// eta = 3               # 1/eta of a rung goes on to the next
/// scheduler = "asha"    # asha, sh or hyperband
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FidelitySpec {
    /// What rungs give more of; `epochs` is the one resource.
    #[serde(default = "default_resource")]
    pub resource: String,
    /// The lowest rung's epochs.
    pub min: f64,
    /// The top rung's epochs: the length of the learning-rate schedule.
    pub max: f64,
    /// The reduction factor η.
    #[serde(default = "default_eta")]
    pub eta: u32,
    /// How rungs promote.
    #[serde(default)]
    pub scheduler: RungScheduler,
}

fn default_resource() -> String {
    "epochs".into()
}

fn default_eta() -> u32 {
    3
}

impl FidelitySpec {
    /// The default ladder with `scheduler`: 1, 3, 9, 27 epochs, η = 3.
    pub fn new(scheduler: RungScheduler, min: f64, max: f64) -> Self {
        Self {
            resource: default_resource(),
            min,
            max,
            eta: default_eta(),
            scheduler,
        }
    }

    /// Check the section; the error names the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.resource != "epochs" {
            return Err(format!(
                "fidelity: resource {:?}: only \"epochs\" is supported",
                self.resource
            ));
        }
        if !(self.min.is_finite() && self.min > 0.0) {
            return Err(format!("fidelity: min {} must be above 0", self.min));
        }
        if !(self.max.is_finite() && self.max > self.min) {
            return Err(format!(
                "fidelity: max {} must be above min {}",
                self.max, self.min
            ));
        }
        if self.eta < 2 {
            return Err(format!("fidelity: eta {} must be at least 2", self.eta));
        }
        let rungs = self.levels().len();
        if rungs > MAX_RUNGS {
            return Err(format!(
                "fidelity: min {} to max {} with eta {} makes {rungs} rungs; at most {MAX_RUNGS}",
                self.min, self.max, self.eta
            ));
        }
        Ok(())
    }

    /// Each rung's epochs: `min·η^k` below `max`, then `max`.
    pub fn levels(&self) -> Vec<f64> {
        let mut levels = Vec::new();
        let mut r = self.min;
        while r < self.max * (1.0 - 1e-9) && levels.len() <= MAX_RUNGS {
            levels.push(r);
            r *= self.eta as f64;
        }
        levels.push(self.max);
        levels
    }
}

/// A bracket: candidates that start at rung `start`, `size` of them
/// (`None`: without end, ASHA's one bracket).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Bracket {
    start: u32,
    size: Option<usize>,
    /// Hashes, in the order they came in.
    members: Vec<String>,
}

impl Bracket {
    fn is_full(&self) -> bool {
        self.size.is_some_and(|n| self.members.len() >= n)
    }
}

/// One candidate's climb.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Track {
    /// Canonical text.
    pub genotype: String,
    bracket: usize,
    /// Results by rung: the validation accuracy, `None` when it failed.
    pub results: BTreeMap<u32, Option<f64>>,
    /// The rung it is training at now.
    pub pending: Option<u32>,
}

impl Track {
    /// The highest rung it has reached (a result, or under way).
    fn reached(&self) -> Option<u32> {
        let done = self.results.keys().next_back().copied();
        done.max(self.pending)
    }

    /// Its first rung.
    pub fn entry(&self) -> Option<u32> {
        let done = self.results.keys().next().copied();
        match (done, self.pending) {
            (Some(d), Some(p)) => Some(d.min(p)),
            (d, p) => d.or(p),
        }
    }
}

/// A job to enqueue for a rung.
#[derive(Debug, Clone, PartialEq)]
pub struct RungJob {
    /// The candidate's hash.
    pub hash: String,
    /// Canonical text.
    pub genotype: String,
    /// The rung.
    pub rung: u32,
    /// Its accuracy at the rung it is promoted from (the queue priority).
    pub from_acc: f64,
}

/// The rung scheduler's state, persisted with the search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rungs {
    spec: FidelitySpec,
    levels: Vec<f64>,
    brackets: Vec<Bracket>,
    /// No candidate comes in any more: brackets are as full as they get.
    closed: bool,
    candidates: BTreeMap<String, Track>,
}

impl Rungs {
    /// A fresh ladder for a checked spec.
    pub fn new(spec: FidelitySpec) -> Self {
        let levels = spec.levels();
        Self {
            spec,
            levels,
            brackets: Vec::new(),
            closed: false,
            candidates: BTreeMap::new(),
        }
    }

    /// Each rung's epochs.
    pub fn levels(&self) -> &[f64] {
        &self.levels
    }

    /// The top rung.
    pub fn top(&self) -> u32 {
        (self.levels.len() - 1) as u32
    }

    /// Every candidate's climb, by hash.
    pub fn tracks(&self) -> &BTreeMap<String, Track> {
        &self.candidates
    }

    /// The bracket the next candidate goes in, opened if need be.
    fn open_bracket(&mut self) -> usize {
        if let Some(i) = self.brackets.iter().position(|b| !b.is_full()) {
            return i;
        }
        let top = self.top();
        let eta = self.spec.eta as f64;
        let bracket = match self.spec.scheduler {
            RungScheduler::Asha => Bracket {
                start: 0,
                size: None,
                members: Vec::new(),
            },
            RungScheduler::Sh => Bracket {
                start: 0,
                size: Some(eta.powi(top as i32) as usize),
                members: Vec::new(),
            },
            RungScheduler::Hyperband => {
                // s from s_max down to 0, round after round.
                let s = top - (self.brackets.len() as u32 % (top + 1));
                let n = ((top + 1) as f64 / (s + 1) as f64 * eta.powi(s as i32)).ceil();
                Bracket {
                    start: top - s,
                    size: Some(n as usize),
                    members: Vec::new(),
                }
            }
        };
        self.brackets.push(bracket);
        self.brackets.len() - 1
    }

    /// Take in a new candidate; the rung it starts at.
    pub fn admit(&mut self, hash: &str, genotype: &str) -> u32 {
        let b = self.open_bracket();
        let start = self.brackets[b].start;
        self.brackets[b].members.push(hash.to_string());
        self.candidates.insert(
            hash.to_string(),
            Track {
                genotype: genotype.to_string(),
                bracket: b,
                results: BTreeMap::new(),
                pending: Some(start),
            },
        );
        start
    }

    /// No new candidate will come: brackets that are not full stay as
    /// they are, and their rungs promote from what they have.
    pub fn close(&mut self) {
        if self.closed {
            return;
        }
        self.closed = true;
        for b in &mut self.brackets {
            b.size = Some(b.members.len());
        }
    }

    /// Take in the result of `hash` at `rung` (`None`: it failed). True
    /// if it is the candidate's first result (what the strategy is told).
    pub fn record(&mut self, hash: &str, rung: u32, acc: Option<f64>) -> bool {
        let Some(t) = self.candidates.get_mut(hash) else {
            return false;
        };
        let first = t.results.is_empty();
        t.results.insert(rung, acc.filter(|a| a.is_finite()));
        if t.pending == Some(rung) {
            t.pending = None;
        }
        first
    }

    /// Epochs of the rung `hash` continues from when it trains at `rung`:
    /// its highest successful rung below.
    pub fn resume_from(&self, hash: &str, rung: u32) -> Option<f64> {
        let t = self.candidates.get(hash)?;
        let below = t
            .results
            .range(..rung)
            .rev()
            .find(|(_, acc)| acc.is_some())
            .map(|(r, _)| *r)?;
        self.levels.get(below as usize).copied()
    }

    /// Candidates to promote now, at most `max`, higher rungs first; each
    /// is marked as training at its new rung.
    pub fn promotions(&mut self, max: usize) -> Vec<RungJob> {
        let mut out = Vec::new();
        let sync = self.spec.scheduler != RungScheduler::Asha;
        let eta = self.spec.eta as usize;
        for b in 0..self.brackets.len() {
            let bracket = &self.brackets[b];
            if sync && !bracket.is_full() {
                continue;
            }
            for k in (bracket.start..self.top()).rev() {
                if out.len() >= max {
                    return out;
                }
                let at_k: Vec<&String> = (bracket.members.iter())
                    .filter(|h| self.candidates[*h].reached().is_some_and(|r| r >= k))
                    .collect();
                let done: Vec<(&String, Option<f64>)> = (at_k.iter())
                    .filter_map(|h| (self.candidates[*h].results.get(&k)).map(|acc| (*h, *acc)))
                    .collect();
                if sync && done.len() < at_k.len() {
                    continue;
                }
                let n = match sync {
                    true => at_k.len() / eta,
                    false => done.len() / eta,
                };
                let mut ranked: Vec<(&String, f64)> = (done.iter())
                    .filter_map(|(h, a)| a.map(|a| (*h, a)))
                    .collect();
                ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
                for (h, acc) in ranked.into_iter().take(n) {
                    let t = &self.candidates[h];
                    if t.reached().is_some_and(|r| r > k) || t.pending.is_some() {
                        continue;
                    }
                    out.push(RungJob {
                        hash: h.clone(),
                        genotype: t.genotype.clone(),
                        rung: k + 1,
                        from_acc: acc,
                    });
                    if out.len() >= max {
                        break;
                    }
                }
            }
        }
        for j in &out {
            if let Some(t) = self.candidates.get_mut(&j.hash) {
                t.pending = Some(j.rung);
            }
        }
        out
    }

    /// The ladder for people: one line of totals per rung, then the climb
    /// of the `top` candidates that got highest (best first), each rung's
    /// accuracy in turn: what `nas status` shows.
    pub fn history_lines(&self, top: usize) -> Vec<String> {
        let epochs = |r: u32| format!("{}e", short(self.levels[r as usize]));
        let per_rung: Vec<String> = (0..self.levels.len() as u32)
            .map(|r| {
                let done = (self.candidates.values())
                    .filter(|t| t.results.contains_key(&r))
                    .count();
                let busy = (self.candidates.values())
                    .filter(|t| t.pending == Some(r))
                    .count();
                match busy {
                    0 => format!("{} {done}", epochs(r)),
                    _ => format!("{} {done} (+{busy} training)", epochs(r)),
                }
            })
            .collect();
        let mut lines = vec![format!(
            "rungs ({}, eta {}): {}; {} epochs trained",
            self.spec.scheduler.name(),
            self.spec.eta,
            per_rung.join(", "),
            short(self.epochs_spent())
        )];
        let standing = |t: &Track| {
            let (r, acc) = (t.results.iter())
                .filter_map(|(r, a)| a.map(|a| (*r, a)))
                .next_back()
                .unwrap_or((0, f64::NEG_INFINITY));
            (r, acc)
        };
        let mut order: Vec<&Track> = self
            .candidates
            .values()
            .filter(|t| !t.results.is_empty())
            .collect();
        order.sort_by(|a, b| {
            let (ra, aa) = standing(a);
            let (rb, ab) = standing(b);
            rb.cmp(&ra).then(ab.total_cmp(&aa))
        });
        for t in order.into_iter().take(top) {
            let mut steps: Vec<String> = (t.results.iter())
                .map(|(r, a)| match a {
                    Some(a) => format!("{} {a:.2}", epochs(*r)),
                    None => format!("{} failed", epochs(*r)),
                })
                .collect();
            if let Some(r) = t.pending {
                steps.push(format!("{} training", epochs(r)));
            }
            lines.push(format!("{}: {}", t.genotype, steps.join(" -> ")));
        }
        lines
    }

    /// Every result with an accuracy, each rung of each candidate, as
    /// (genotype text, accuracy, fidelity: the rung's epochs over the top
    /// rung's), by hash then rung: what the surrogate learns from.
    pub fn observations(&self) -> Vec<(&str, f64, f64)> {
        let max = self.levels.last().copied().unwrap_or(1.0);
        (self.candidates.values())
            .flat_map(|t| {
                (t.results.iter()).filter_map(move |(r, a)| {
                    a.map(|a| (t.genotype.as_str(), a, self.levels[*r as usize] / max))
                })
            })
            .collect()
    }

    /// Epochs of every rung's jobs so far, done or under way, each
    /// counted from where it continued: the trainer time the ladder spent,
    /// in epochs.
    pub fn epochs_spent(&self) -> f64 {
        (self.candidates.iter())
            .map(|(h, t)| {
                (t.results.keys().copied().chain(t.pending))
                    .map(|r| self.levels[r as usize] - self.resume_from(h, r).unwrap_or(0.0))
                    .sum::<f64>()
            })
            .sum()
    }
}

/// A number of epochs as people write it: 3, 0.33, 2.5.
fn short(x: f64) -> String {
    let t = format!("{x:.2}");
    t.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(s: RungScheduler) -> FidelitySpec {
        FidelitySpec::new(s, 1.0, 27.0)
    }

    #[test]
    fn ladders_and_their_checks() {
        assert_eq!(spec(RungScheduler::Asha).levels(), [1.0, 3.0, 9.0, 27.0]);
        let odd = FidelitySpec::new(RungScheduler::Asha, 1.0, 20.0);
        assert_eq!(odd.levels(), [1.0, 3.0, 9.0, 20.0]);
        let mut bad = spec(RungScheduler::Asha);
        bad.resource = "data".into();
        assert!(bad.validate().unwrap_err().contains("resource \"data\""));
        let bad = FidelitySpec::new(RungScheduler::Asha, 4.0, 2.0);
        assert!(bad.validate().unwrap_err().contains("max 2"));
        let mut bad = spec(RungScheduler::Asha);
        bad.eta = 1;
        assert!(bad.validate().unwrap_err().contains("eta 1"));
        let bad = FidelitySpec::new(RungScheduler::Asha, 1e-6, 1e6);
        assert!(bad.validate().unwrap_err().contains("rungs"));
        assert!("bohb"
            .parse::<RungScheduler>()
            .unwrap_err()
            .contains("asha"));
    }

    /// ASHA promotes the top third of a rung as soon as its results are in,
    /// without waiting for the rest, and never promotes twice.
    #[test]
    fn asha_promotes_the_top_third_without_waiting() {
        let mut r = Rungs::new(spec(RungScheduler::Asha));
        for i in 0..9 {
            assert_eq!(r.admit(&format!("h{i}"), "g"), 0);
        }
        r.record("h0", 0, Some(50.0));
        r.record("h1", 0, Some(60.0));
        assert!(r.promotions(8).is_empty(), "2 results: top 1/3 is none");
        r.record("h2", 0, Some(40.0));
        let p = r.promotions(8);
        assert_eq!(p.len(), 1);
        assert_eq!((p[0].hash.as_str(), p[0].rung), ("h1", 1));
        assert!(r.promotions(8).is_empty(), "promoted once");
        for (i, acc) in [(3, 70.0), (4, 10.0), (5, 20.0)] {
            r.record(&format!("h{i}"), 0, Some(acc));
        }
        let p: Vec<_> = r.promotions(8).into_iter().map(|j| j.hash).collect();
        assert_eq!(p, ["h3"], "6 results: the top 2 are h3 and h1 (already up)");
        assert_eq!(r.resume_from("h3", 1), Some(1.0));
        r.record("h1", 1, Some(80.0));
        r.record("h3", 1, Some(85.0));
        assert!(r.promotions(8).is_empty(), "2 results at rung 1");
        // A failure counts as a result at its rung, and is never promoted.
        r.record("h6", 0, None);
        r.record("h7", 0, Some(1.0));
        r.record("h8", 0, Some(2.0));
        let p: Vec<_> = r.promotions(8).into_iter().map(|j| j.hash).collect();
        assert_eq!(p, ["h0"], "9 results: top 3 are h3, h1, h0");
        r.record("h0", 1, Some(90.0));
        let p = r.promotions(8);
        assert_eq!((p[0].hash.as_str(), p[0].rung), ("h0", 2));
        assert_eq!(r.resume_from("h0", 2), Some(3.0));
        let lines = r.history_lines(2);
        assert!(
            lines[0].starts_with("rungs (asha, eta 3): 1e 9, 3e 3, 9e 0 (+1 training), 27e 0;"),
            "{}",
            lines[0]
        );
        assert_eq!(lines[1], "g: 1e 50.00 -> 3e 90.00 -> 9e training");
        assert_eq!(lines.len(), 3);
    }

    /// Synchronous successive halving waits for the whole rung of a bracket,
    /// then promotes a third of it; a closed bracket promotes from what it
    /// has.
    #[test]
    fn sh_waits_for_the_whole_rung() {
        let mut r = Rungs::new(FidelitySpec::new(RungScheduler::Sh, 1.0, 9.0));
        assert_eq!(r.levels(), [1.0, 3.0, 9.0]);
        for i in 0..9 {
            r.admit(&format!("h{i}"), "g");
        }
        for i in 0..8 {
            r.record(&format!("h{i}"), 0, Some(i as f64));
        }
        assert!(r.promotions(8).is_empty(), "h8 is still training");
        r.record("h8", 0, Some(8.0));
        let mut p: Vec<_> = r.promotions(8).into_iter().map(|j| j.hash).collect();
        p.sort();
        assert_eq!(p, ["h6", "h7", "h8"]);
        // A second bracket opens for the next candidate.
        r.admit("x0", "g");
        r.admit("x1", "g");
        r.record("x0", 0, Some(1.0));
        r.record("x1", 0, Some(2.0));
        assert!(r.promotions(8).is_empty());
        r.close();
        assert!(
            r.promotions(8).is_empty(),
            "2 // 3 is 0: the closed bracket ends at rung 0"
        );
        for (h, a) in [("h6", 5.0), ("h7", 7.0), ("h8", 6.0)] {
            r.record(h, 1, Some(a));
        }
        let p = r.promotions(8);
        assert_eq!((p[0].hash.as_str(), p[0].rung), ("h7", 2));
    }

    /// Hyperband's brackets go from the lowest first rung to the top one.
    #[test]
    fn hyperband_brackets_start_ever_higher() {
        let mut r = Rungs::new(FidelitySpec::new(RungScheduler::Hyperband, 1.0, 9.0));
        let mut starts = Vec::new();
        for i in 0..(9 + 5 + 3 + 1) {
            starts.push(r.admit(&format!("h{i}"), "g"));
        }
        let count = |s: u32| starts.iter().filter(|&&x| x == s).count();
        assert_eq!(&starts[..9], [0; 9]);
        assert_eq!(&starts[9..14], [1; 5]);
        assert_eq!(&starts[14..17], [2; 3]);
        assert_eq!(starts[17], 0, "then the round starts again");
        assert_eq!((count(0), count(1), count(2)), (10, 5, 3));
    }

    #[test]
    fn the_state_round_trips_through_json() {
        let mut r = Rungs::new(spec(RungScheduler::Asha));
        r.admit("h0", "g0");
        r.record("h0", 0, Some(3.5));
        let back: Rungs = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back, r);
    }
}
