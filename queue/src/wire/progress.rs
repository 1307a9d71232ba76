//! Progress notes: how far a running job has got, as its trainer reports it
//! ([`crate::Queue::progress`], fenced by the lease) and `nas status` shows
//! it. Only the latest note of a job is kept. A note is JSON with a `kind`:
//! `train` (a training run's step) or `darts` (a DARTS search's epoch, α and
//! current cell); a note of any other kind (a trainer of another version,
//! a user's own trainer) is kept and shown as it came.

use super::{malformed, WireError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The largest progress note a job may record.
pub const MAX_PROGRESS_BYTES: usize = 16 * 1024;

/// A running job's latest progress.
#[derive(Debug, Clone, PartialEq)]
pub enum ProgressNote {
    /// A training run's step.
    Train(TrainProgress),
    /// A DARTS search's epoch.
    Darts(DartsProgress),
    /// A note of a kind this build does not know, as JSON.
    Other(serde_json::Value),
}

/// Where a training run is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainProgress {
    /// Optimizer steps done.
    pub step: u64,
    /// Steps planned.
    pub steps: u64,
    /// The last step's training loss (NaN once it diverged).
    #[serde(deserialize_with = "nan_from_null")]
    pub loss: f64,
}

/// Where a DARTS search is, after an epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DartsProgress {
    /// Epochs done, from 1.
    pub epoch: u32,
    /// Epochs planned.
    pub epochs: u32,
    /// Mean training loss of the epoch's weight steps.
    #[serde(deserialize_with = "nan_from_null")]
    pub train_loss: f64,
    /// Training accuracy of the weight steps, percent.
    #[serde(deserialize_with = "nan_from_null")]
    pub train_acc: f64,
    /// Mean validation loss the α steps saw.
    #[serde(deserialize_with = "nan_from_null")]
    pub arch_loss: f64,
    /// The cell α stands for now, canonical text.
    pub genotype: String,
    /// The op names, in α's column order.
    pub ops: Vec<String>,
    /// The edge labels, in α's row order.
    pub edges: Vec<String>,
    /// softmax(α) per edge, `[edges][ops]`, by α name (`normal`, `reduce`;
    /// `cell`).
    pub alphas: BTreeMap<String, Vec<Vec<f64>>>,
}

/// JSON has no NaN: serde_json writes a non-finite number as `null`, so a
/// diverged run's loss comes back as NaN.
fn nan_from_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// The wire form of the known kinds.
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Known {
    Train(TrainProgress),
    Darts(DartsProgress),
}

impl ProgressNote {
    /// The note as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        let known = match self {
            Self::Train(p) => Known::Train(p.clone()),
            Self::Darts(p) => Known::Darts(p.clone()),
            Self::Other(v) => return v.clone(),
        };
        serde_json::to_value(known).expect("a progress note serializes")
    }

    /// Encode, refusing a note over [`MAX_PROGRESS_BYTES`].
    pub fn encode(&self) -> Result<String, WireError> {
        let text = self.to_json().to_string();
        check_size(&text)?;
        Ok(text)
    }

    /// Decode a note. A note of an unknown kind, or of a known kind in a
    /// shape this build does not read, is [`ProgressNote::Other`]; only
    /// text that is not JSON, or is too large, is an error.
    pub fn decode(text: &str) -> Result<Self, WireError> {
        check_size(text)?;
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| malformed("progress note", format!("not JSON: {e}")))?;
        Ok(match serde_json::from_value::<Known>(value.clone()) {
            Ok(Known::Train(p)) => Self::Train(p),
            Ok(Known::Darts(p)) => Self::Darts(p),
            Err(_) => Self::Other(value),
        })
    }

    /// Check a note as the queue receives it: JSON, at most
    /// [`MAX_PROGRESS_BYTES`].
    pub fn validate(text: &str) -> Result<(), WireError> {
        Self::decode(text).map(|_| ())
    }
}

impl Serialize for ProgressNote {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

fn check_size(text: &str) -> Result<(), WireError> {
    if text.len() > MAX_PROGRESS_BYTES {
        return Err(malformed(
            "progress note",
            format!(
                "{} bytes is over the {MAX_PROGRESS_BYTES}-byte limit",
                text.len()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_round_trip_by_kind() {
        let train = ProgressNote::Train(TrainProgress {
            step: 3,
            steps: 10,
            loss: 1.5,
        });
        let text = train.encode().unwrap();
        assert_eq!(text, r#"{"kind":"train","loss":1.5,"step":3,"steps":10}"#);
        assert_eq!(ProgressNote::decode(&text).unwrap(), train);
        let darts = ProgressNote::Darts(DartsProgress {
            epoch: 1,
            epochs: 3,
            train_loss: 2.0,
            train_acc: 30.0,
            arch_loss: 2.1,
            genotype: "|skip_connect~0|+|none~0|none~1|+|none~0|none~1|none~2|".into(),
            ops: vec!["none".into(), "skip_connect".into()],
            edges: vec!["1<-0".into()],
            alphas: BTreeMap::from([("cell".into(), vec![vec![0.4, 0.6]])]),
        });
        assert_eq!(
            ProgressNote::decode(&darts.encode().unwrap()).unwrap(),
            darts
        );
    }

    #[test]
    fn a_diverged_loss_comes_back_as_nan() {
        let note = ProgressNote::Train(TrainProgress {
            step: 1,
            steps: 2,
            loss: f64::NAN,
        });
        let text = note.encode().unwrap();
        assert!(text.contains(r#""loss":null"#), "{text}");
        let ProgressNote::Train(back) = ProgressNote::decode(&text).unwrap() else {
            panic!("a train note decodes as one")
        };
        assert!(back.loss.is_nan());
    }

    #[test]
    fn other_kinds_are_kept_and_bad_notes_refused() {
        let mine = r#"{"kind":"mine","batch":7}"#;
        let note = ProgressNote::decode(mine).unwrap();
        assert_eq!(
            note,
            ProgressNote::Other(serde_json::json!({"kind": "mine", "batch": 7}))
        );
        let back: serde_json::Value = serde_json::from_str(&note.encode().unwrap()).unwrap();
        assert_eq!(back, serde_json::json!({"kind": "mine", "batch": 7}));
        let err = ProgressNote::decode("not json").unwrap_err().to_string();
        assert!(
            err.starts_with("malformed progress note: not JSON"),
            "{err}"
        );
        let big = format!("\"{}\"", "a".repeat(MAX_PROGRESS_BYTES));
        let err = ProgressNote::validate(&big).unwrap_err().to_string();
        assert!(err.contains("-byte limit"), "{err}");
    }
}
