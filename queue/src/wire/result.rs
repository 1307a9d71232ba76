//! What a job produced: the candidate's [`Scores`] or why there are none
//! ([`Outcome`]), recorded by the queue as a [`JobResult`] in the search's
//! result log, read a [`ResultPage`] at a time.

use super::{malformed, validate_job_id, validate_search_id, WireError, SCHEMA_VERSION};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// The largest job result, in bytes of JSON, as the envelope's payload.
/// Scores are a few hundred bytes; what could grow is a reason, which
/// [`cut_reason`] keeps far below this.
pub const MAX_RESULT_BYTES: usize = 64 * 1024;

/// The longest failure reason the queue records (a dead job's result, the
/// dead-letter list); longer ones are cut by [`cut_reason`].
pub const MAX_REASON_BYTES: usize = 4 * 1024;

/// `reason`, cut at a character boundary to at most [`MAX_REASON_BYTES`]
/// (a marker included) so that the result recording it stays small.
pub fn cut_reason(reason: &str) -> Cow<'_, str> {
    const MARK: &str = " [cut]";
    if reason.len() <= MAX_REASON_BYTES {
        return Cow::Borrowed(reason);
    }
    let mut end = MAX_REASON_BYTES - MARK.len();
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}{MARK}", &reason[..end]))
}

/// Scores of an evaluated candidate.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Scores {
    /// The search's objective on validation data, higher is better:
    /// accuracy in percent for classification, 100 × R² for regression.
    pub val_acc: f64,
    /// Validation loss, where measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_loss: Option<f64>,
    /// The objective on the test set (accuracy, or 100 × R²), for final
    /// evaluations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_acc: Option<f64>,
    /// Regression: validation root mean squared error, in the target's
    /// units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_rmse: Option<f64>,
    /// Regression: validation R².
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_r2: Option<f64>,
    /// Regression: test root mean squared error, for final evaluations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_rmse: Option<f64>,
    /// Regression: test R², for final evaluations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_r2: Option<f64>,
    /// Parameter count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<u64>,
    /// Training time in seconds (simulated for table lookups).
    #[serde(default)]
    pub train_seconds: f64,
    /// Training throughput.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images_per_s: Option<f64>,
    /// Epochs trained.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epochs: Option<f64>,
    /// Multi-fidelity jobs: the epochs of the lower rung's checkpoint the
    /// run continued from (absent: it trained from scratch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resumed_from: Option<f64>,
    /// Seconds spent loading that checkpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume_seconds: Option<f64>,
    /// Where it ran (cpu, cuda:0, table).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// Where the trained weights were saved (safetensors), for final
    /// evaluations on trainers with an artifacts folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<String>,
    /// The architecture a search derived, as canonical text in its space
    /// (DARTS jobs: the genotype derived from α at the end of the search).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub genotype: Option<String>,
}

/// How a job ended.
// One outcome per job result: boxing the scores would buy an allocation
// per result and nothing else.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Evaluated.
    Ok(Scores),
    /// Training diverged (NaN or infinite loss): a result, not a retry.
    Diverged {
        /// What diverged, and when.
        reason: String,
    },
    /// Gave up: the job is in the dead-letter list.
    Dead {
        /// The last failure.
        reason: String,
    },
}

/// A job's result, as recorded by the queue and read by the scheduler.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobResult {
    /// Schema version.
    pub v: u32,
    /// The job.
    pub job_id: String,
    /// Its search.
    pub search_id: String,
    /// The attempt that produced this result.
    pub attempt: u32,
    /// The worker that produced it (empty for reaped jobs of unknown worker).
    pub worker: String,
    /// When it was recorded, ms since the Unix epoch.
    pub finished_ms: u64,
    /// How it ended.
    pub outcome: Outcome,
}

impl JobResult {
    /// Encode, refusing a result that decode would refuse: bad ids, or
    /// over [`MAX_RESULT_BYTES`] (the error names the job).
    pub fn encode(&self) -> Result<String, WireError> {
        self.check_ids()?;
        let text =
            serde_json::to_string(self).map_err(|e| malformed("job result", e.to_string()))?;
        if text.len() > MAX_RESULT_BYTES {
            return Err(malformed(
                "job result",
                format!(
                    "job {}: {} bytes is over the {MAX_RESULT_BYTES}-byte limit",
                    self.job_id,
                    text.len()
                ),
            ));
        }
        Ok(text)
    }

    /// Decode and validate; text over [`MAX_RESULT_BYTES`] is refused
    /// before it is parsed.
    pub fn decode(text: &str) -> Result<Self, WireError> {
        if text.len() > MAX_RESULT_BYTES {
            return Err(malformed(
                "job result",
                format!(
                    "{} bytes is over the {MAX_RESULT_BYTES}-byte limit",
                    text.len()
                ),
            ));
        }
        let r: JobResult =
            serde_json::from_str(text).map_err(|e| malformed("job result", e.to_string()))?;
        if r.v != SCHEMA_VERSION {
            return Err(WireError::UnknownVersion { found: r.v.into() });
        }
        r.check_ids()?;
        Ok(r)
    }

    fn check_ids(&self) -> Result<(), WireError> {
        validate_job_id("job result", &self.job_id)?;
        validate_search_id("job result", &self.search_id)
    }
}

/// An entry of a search's result log that does not decode as a
/// [`JobResult`] (written by a broken or newer producer): set aside by its
/// reader rather than failing the whole log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Undecodable {
    /// Its index in the log.
    pub index: u64,
    /// The job it names, if it is JSON with a valid `job_id`.
    pub job_id: Option<String>,
    /// Why it does not decode.
    pub reason: String,
    /// The entry as stored.
    pub raw: String,
}

/// One entry of a search's result log, in log order (see [`ResultPage`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LogEntry<'a> {
    /// A result that decodes.
    Result(&'a JobResult),
    /// One that does not.
    Undecodable(&'a Undecodable),
}

/// A page of a search's result log, as `Queue::results` reads it: the
/// results that decode, and those that do not set aside, so that one bad
/// entry hides none of the others.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResultPage {
    /// The log index of the page's first entry.
    pub from: u64,
    /// The entries that decode, in log order.
    pub results: Vec<JobResult>,
    /// The entries that do not, in log order.
    pub undecodable: Vec<Undecodable>,
}

impl ResultPage {
    /// Decode the log entries `raw`, the first of them at index `from`.
    pub fn decode<S: AsRef<str>>(from: u64, raw: impl IntoIterator<Item = S>) -> Self {
        let mut page = ResultPage {
            from,
            ..ResultPage::default()
        };
        for (i, text) in raw.into_iter().enumerate() {
            let text = text.as_ref();
            match JobResult::decode(text) {
                Ok(r) => page.results.push(r),
                Err(e) => page.undecodable.push(Undecodable {
                    index: from + i as u64,
                    job_id: named_job(text),
                    reason: e.to_string(),
                    raw: text.to_string(),
                }),
            }
        }
        page
    }

    /// How many log entries the page holds, decodable or not: the reader's
    /// cursor moves on by this much.
    pub fn len(&self) -> usize {
        self.results.len() + self.undecodable.len()
    }

    /// True if the page holds no entry (the reader is at the log's end).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every entry, in log order.
    pub fn entries(&self) -> impl Iterator<Item = LogEntry<'_>> {
        let mut results = self.results.iter();
        let mut bad = self.undecodable.iter().peekable();
        (self.from..self.from + self.len() as u64).filter_map(move |i| {
            match bad.next_if(|u| u.index == i) {
                Some(u) => Some(LogEntry::Undecodable(u)),
                None => results.next().map(LogEntry::Result),
            }
        })
    }
}

/// The job an undecodable entry names, if it is a JSON object with a
/// valid `job_id`.
fn named_job(text: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    let id = v.get("job_id")?.as_str()?;
    validate_job_id("job result", id).ok()?;
    Some(id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_serialize_as_the_lua_dead_event_does() {
        // reap.lua and fail.lua write dead events with cjson in this shape.
        let lua = r#"{"v":1,"job_id":"s.0000000001","search_id":"s","attempt":3,"worker":"w","finished_ms":1764403200123,"outcome":{"dead":{"reason":"boom"}}}"#;
        let r = JobResult::decode(lua).unwrap();
        assert_eq!(
            r.outcome,
            Outcome::Dead {
                reason: "boom".into()
            }
        );
        let ok = JobResult {
            outcome: Outcome::Ok(Scores {
                val_acc: 91.5,
                ..Default::default()
            }),
            ..r
        };
        let back = JobResult::decode(&serde_json::to_string(&ok).unwrap()).unwrap();
        assert_eq!(back, ok);
    }

    /// Issue 15, defect 8: a result had no size cap.
    #[test]
    fn oversized_results_are_refused_when_decoded() {
        let big = JobResult {
            v: SCHEMA_VERSION,
            job_id: "s.0000000001".into(),
            search_id: "s".into(),
            attempt: 1,
            worker: "w".into(),
            finished_ms: 5,
            outcome: Outcome::Diverged {
                reason: "x".repeat(70 * 1024),
            },
        };
        let text = serde_json::to_string(&big).unwrap();
        let err = JobResult::decode(&text).unwrap_err().to_string();
        assert!(err.starts_with("malformed job result:"), "{err}");
        assert!(err.contains("-byte limit"), "{err}");
        let err = big.encode().unwrap_err().to_string();
        assert!(err.contains("job s.0000000001: "), "{err}");
        assert!(err.contains("over the 65536-byte limit"), "{err}");
        let fits = JobResult {
            outcome: Outcome::Diverged {
                reason: cut_reason(&"é".repeat(70 * 1024)).into_owned(),
            },
            ..big
        };
        assert_eq!(JobResult::decode(&fits.encode().unwrap()).unwrap(), fits);
    }

    #[test]
    fn reasons_are_cut_at_a_character_boundary() {
        assert_eq!(cut_reason("short"), "short");
        let long = "é".repeat(MAX_REASON_BYTES);
        let cut = cut_reason(&long);
        assert!(cut.len() <= MAX_REASON_BYTES, "{}", cut.len());
        assert!(cut.ends_with("é [cut]"), "{cut:.20}");
    }

    #[test]
    fn a_page_sets_undecodable_entries_aside_in_log_order() {
        let good = |n: u32| {
            format!(
                r#"{{"v":1,"job_id":"s.{n:010}","search_id":"s","attempt":1,"worker":"w","finished_ms":1,"outcome":{{"dead":{{"reason":"x"}}}}}}"#
            )
        };
        let newer = good(2).replace(r#""v":1"#, r#""v":2"#);
        let raw = [good(1), newer, "not json".into(), good(4)];
        let page = ResultPage::decode(10, &raw);
        assert_eq!((page.len(), page.results.len()), (4, 2));
        let u = &page.undecodable;
        assert_eq!(
            (u[0].index, u[0].job_id.as_deref()),
            (11, Some("s.0000000002"))
        );
        assert!(u[0].reason.contains("version 2"), "{}", u[0].reason);
        assert_eq!((u[1].index, u[1].job_id.as_deref()), (12, None));
        assert_eq!(u[1].raw, "not json");
        let order: Vec<String> = page
            .entries()
            .map(|e| match e {
                LogEntry::Result(r) => r.job_id.clone(),
                LogEntry::Undecodable(u) => format!("bad {}", u.index),
            })
            .collect();
        assert_eq!(order, ["s.0000000001", "bad 11", "bad 12", "s.0000000004"]);
        assert!(ResultPage::decode(0, Vec::<String>::new()).is_empty());
    }

    #[test]
    fn scores_carry_a_derived_genotype_only_when_there_is_one() {
        let old = r#"{"val_acc":50.0,"train_seconds":1.0}"#;
        let m: Scores = serde_json::from_str(old).unwrap();
        assert_eq!(m.genotype, None);
        assert!(!serde_json::to_string(&m).unwrap().contains("genotype"));
        let with = Scores {
            genotype: Some("|skip_connect~0|+|none~0|none~1|+|none~0|none~1|none~2|".into()),
            ..m
        };
        let back: Scores = serde_json::from_str(&serde_json::to_string(&with).unwrap()).unwrap();
        assert_eq!(back, with);
    }
}
