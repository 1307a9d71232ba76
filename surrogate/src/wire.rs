//! The ranking service's messages on Redis: [`RankRequest`] (pushed on
//! `<prefix>:surrogate:requests`) and [`RankReply`] (pushed on the request's
//! reply key, which expires). Both are versioned JSON; the service checks
//! every request before it fits anything and answers a bad one with an
//! error reply that says what is wrong.
//!
//! Requests carry their training pairs: a replica needs nothing but the
//! request to answer it, so replicas are stateless (their model cache is an
//! optimisation) and a replica that dies mid-request loses nothing that the
//! client's retry does not send again.

use crate::{PredictorKind, Ranking};
use queue::keys::Keys;
use serde::{Deserialize, Serialize};
use space::{Genotype, Space};

/// The schema version this build writes and reads.
pub const SURROGATE_SCHEMA_VERSION: u32 = 1;

/// The largest request, in bytes of JSON.
pub const MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;

/// The most candidates a request may carry, unless the service is
/// configured lower.
pub const MAX_CANDIDATES: usize = 20_000;

/// The most training pairs a request may carry.
pub const MAX_TRAINING: usize = 20_000;

/// The largest reply, in bytes of JSON: sized for the largest ranking a
/// request may ask for, [`MAX_CANDIDATES`] scores and as many spreads at
/// their widest (`-2.2250738585072014e-308,`: 25 bytes each), with room
/// for the ids and field names. Error replies carry a reason cut to
/// [`queue::wire::MAX_REASON_BYTES`].
pub const MAX_REPLY_BYTES: usize = 1024 * 1024;

const _: () = assert!(MAX_CANDIDATES * 2 * 25 + 16 * 1024 <= MAX_REPLY_BYTES);

/// One training result: a genotype's text, its accuracy in percent and,
/// from a multi-fidelity search, the fidelity it was trained at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingPair {
    /// The genotype's canonical text form.
    pub genotype: String,
    /// Its accuracy in percent.
    pub accuracy: f64,
    /// Its share of full fidelity (its rung's epochs over the top rung's),
    /// in (0, 1]; absent: full fidelity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fidelity: Option<f64>,
}

/// Rank `candidates` by a surrogate fitted on `training`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RankRequest {
    /// Schema version, [`SURROGATE_SCHEMA_VERSION`].
    pub v: u32,
    /// The caller's id for this request, echoed in the reply.
    pub request_id: String,
    /// Where to push the reply: `<prefix>:surrogate:reply:<request id>`
    /// ([`Keys::surrogate_reply`]); the service refuses any other key.
    pub reply_key: String,
    /// The search the candidates belong to; models are cached per search.
    pub search_id: String,
    /// The space of every genotype.
    pub space: Space,
    /// Which predictor to fit.
    #[serde(default)]
    pub predictor: PredictorKind,
    /// Seed of the fit; the same request gives the same scores.
    #[serde(default)]
    pub seed: u64,
    /// The results to fit on; the model version is their number.
    pub training: Vec<TrainingPair>,
    /// The genotypes to score, as text.
    pub candidates: Vec<String>,
    /// When the caller stops waiting (ms since the epoch by the Redis
    /// server's clock): a replica that pops the request later drops it
    /// unanswered. The client sets it at each push.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_ms: Option<u64>,
}

/// What a reply says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ReplyBody {
    /// The candidates' scores, in request order.
    Ok {
        /// Predicted accuracy in percent, one per candidate.
        scores: Vec<f64>,
        /// The ensemble's spread, one per candidate (0 for the LSTM).
        spreads: Vec<f64>,
        /// Number of results the model was fitted on.
        version: usize,
    },
    /// The request could not be answered, and why.
    Error {
        /// What was wrong, naming the field or candidate.
        reason: String,
    },
}

/// The answer to one [`RankRequest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankReply {
    /// Schema version, [`SURROGATE_SCHEMA_VERSION`].
    pub v: u32,
    /// The request's id (empty when the request was too broken to have one).
    pub request_id: String,
    /// The answer.
    #[serde(flatten)]
    pub body: ReplyBody,
}

impl RankReply {
    /// A successful reply.
    pub fn ok(request_id: &str, ranking: Ranking) -> Self {
        Self {
            v: SURROGATE_SCHEMA_VERSION,
            request_id: request_id.to_string(),
            body: ReplyBody::Ok {
                scores: ranking.scores,
                spreads: ranking.spreads,
                version: ranking.version,
            },
        }
    }

    /// An error reply; a reason over [`queue::wire::MAX_REASON_BYTES`] is
    /// cut to that, so that an error reply always fits.
    pub fn error(request_id: &str, reason: impl Into<String>) -> Self {
        let reason = reason.into();
        Self {
            v: SURROGATE_SCHEMA_VERSION,
            request_id: request_id.to_string(),
            body: ReplyBody::Error {
                reason: queue::wire::cut_reason(&reason).into_owned(),
            },
        }
    }
}

/// Where a request was wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RequestError {
    /// Over [`MAX_REQUEST_BYTES`].
    #[error("request of {bytes} bytes is over the {MAX_REQUEST_BYTES}-byte limit")]
    TooLarge {
        /// Size of the request's JSON.
        bytes: usize,
    },
    /// A reply over [`MAX_REPLY_BYTES`], refused by its encoder.
    #[error(
        "reply to request {request_id} of {bytes} bytes is over the {MAX_REPLY_BYTES}-byte limit"
    )]
    ReplyTooLarge {
        /// The request it answers.
        request_id: String,
        /// Size of the reply's JSON.
        bytes: usize,
    },
    /// Not a request this build reads, or a field out of bounds.
    #[error("malformed request: {0}")]
    Malformed(String),
    /// A genotype that does not parse or is not in the space.
    #[error("{what} {index}: {reason}")]
    Genotype {
        /// `candidate` or `training result`.
        what: &'static str,
        /// Its position in the request.
        index: usize,
        /// Why, from the space crate.
        reason: String,
    },
}

/// The fields an error reply needs, read from a request that may be
/// malformed or oversized (the rest of the JSON is skipped, not kept).
#[derive(Debug, Default, Deserialize)]
pub struct ReplyAddress {
    /// The request's id, if it has a string one.
    #[serde(default)]
    pub request_id: Option<String>,
    /// The reply key, if it has a string one.
    #[serde(default)]
    pub reply_key: Option<String>,
}

impl ReplyAddress {
    /// Read the address of `raw`, if it has a usable one: a valid request id
    /// and the reply key [`Keys::surrogate_reply`] gives for it.
    pub fn of(raw: &[u8], keys: &Keys) -> Option<(String, String)> {
        let addr: ReplyAddress = serde_json::from_slice(raw).ok()?;
        let (id, key) = (addr.request_id?, addr.reply_key?);
        (queue::wire::validate_id("surrogate request", &id).is_ok()
            && key == keys.surrogate_reply(&id))
        .then_some((id, key))
    }
}

/// A checked request, its genotypes parsed.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The request, as sent.
    pub request: RankRequest,
    /// The training pairs, parsed.
    pub training: Vec<(Genotype, f64)>,
    /// Each pair's fidelity, 1 where absent; empty when no pair has one.
    pub fidelity: Vec<f64>,
    /// The candidates, parsed.
    pub candidates: Vec<Genotype>,
}

impl RankRequest {
    /// Encode, refusing what the service would refuse.
    pub fn encode(&self, keys: &Keys, max_candidates: usize) -> Result<Vec<u8>, RequestError> {
        self.check_fields(keys, max_candidates)?;
        let bytes = serde_json::to_vec(self).map_err(|e| RequestError::Malformed(e.to_string()))?;
        if bytes.len() > MAX_REQUEST_BYTES {
            return Err(RequestError::TooLarge { bytes: bytes.len() });
        }
        Ok(bytes)
    }

    /// Decode and check a request as popped from Redis, parsing every
    /// genotype.
    pub fn decode(raw: &[u8], keys: &Keys, max_candidates: usize) -> Result<Checked, RequestError> {
        if raw.len() > MAX_REQUEST_BYTES {
            return Err(RequestError::TooLarge { bytes: raw.len() });
        }
        let request: RankRequest =
            serde_json::from_slice(raw).map_err(|e| RequestError::Malformed(e.to_string()))?;
        request.check_fields(keys, max_candidates)?;
        let parse = |what, index, text: &str| {
            request
                .space
                .parse(text)
                .map_err(|e| RequestError::Genotype {
                    what,
                    index,
                    reason: e.to_string(),
                })
        };
        let mut training = Vec::with_capacity(request.training.len());
        for (i, pair) in request.training.iter().enumerate() {
            training.push((parse("training result", i, &pair.genotype)?, pair.accuracy));
        }
        let mut candidates = Vec::with_capacity(request.candidates.len());
        for (i, text) in request.candidates.iter().enumerate() {
            candidates.push(parse("candidate", i, text)?);
        }
        let fidelity = if request.training.iter().any(|p| p.fidelity.is_some()) {
            (request.training.iter())
                .map(|p| p.fidelity.unwrap_or(1.0))
                .collect()
        } else {
            Vec::new()
        };
        Ok(Checked {
            request,
            training,
            fidelity,
            candidates,
        })
    }

    /// Check everything but the genotypes' text.
    fn check_fields(&self, keys: &Keys, max_candidates: usize) -> Result<(), RequestError> {
        let bad = |reason: String| Err(RequestError::Malformed(reason));
        if self.v != SURROGATE_SCHEMA_VERSION {
            return bad(format!(
                "unknown schema version {} (this build reads version {SURROGATE_SCHEMA_VERSION})",
                self.v
            ));
        }
        queue::wire::validate_id("surrogate request", &self.request_id)
            .and_then(|()| queue::wire::validate_search_id("surrogate request", &self.search_id))
            .map_err(|e| RequestError::Malformed(e.to_string()))?;
        if self.reply_key != keys.surrogate_reply(&self.request_id) {
            return bad(format!(
                "reply key {:?} is not {:?}",
                self.reply_key,
                keys.surrogate_reply(&self.request_id)
            ));
        }
        if let Err(e) = self.space.validate() {
            return bad(format!("space: {e}"));
        }
        let max = max_candidates.min(MAX_CANDIDATES);
        if self.candidates.len() > max {
            return bad(format!(
                "{} candidates is over the limit of {max}",
                self.candidates.len()
            ));
        }
        if self.training.len() > MAX_TRAINING {
            return bad(format!(
                "{} training results is over the limit of {MAX_TRAINING}",
                self.training.len()
            ));
        }
        if let Some((i, p)) = self
            .training
            .iter()
            .enumerate()
            .find(|(_, p)| !(p.accuracy.is_finite() && (0.0..=100.0).contains(&p.accuracy)))
        {
            return bad(format!(
                "training result {i}: accuracy {} is not a percentage between 0 and 100",
                p.accuracy
            ));
        }
        if let Some((i, f)) = (self.training.iter().enumerate())
            .filter_map(|(i, p)| p.fidelity.map(|f| (i, f)))
            .find(|(_, f)| !(f.is_finite() && *f > 0.0 && *f <= 1.0))
        {
            return bad(format!(
                "training result {i}: fidelity {f} is not a share of full fidelity in (0, 1]"
            ));
        }
        Ok(())
    }
}

impl RankReply {
    /// Encode, refusing a reply over [`MAX_REPLY_BYTES`] (naming the
    /// request).
    pub fn encode(&self) -> Result<Vec<u8>, RequestError> {
        let bytes =
            serde_json::to_vec(self).map_err(|e| RequestError::Malformed(format!("reply: {e}")))?;
        if bytes.len() > MAX_REPLY_BYTES {
            return Err(RequestError::ReplyTooLarge {
                request_id: self.request_id.clone(),
                bytes: bytes.len(),
            });
        }
        Ok(bytes)
    }

    /// Decode a reply; one over [`MAX_REPLY_BYTES`] is refused before it
    /// is parsed.
    pub fn decode(raw: &[u8]) -> Result<Self, RequestError> {
        if raw.len() > MAX_REPLY_BYTES {
            return Err(RequestError::Malformed(format!(
                "reply of {} bytes is over the {MAX_REPLY_BYTES}-byte limit",
                raw.len()
            )));
        }
        let reply: RankReply = serde_json::from_slice(raw)
            .map_err(|e| RequestError::Malformed(format!("reply: {e}")))?;
        if reply.v != SURROGATE_SCHEMA_VERSION {
            return Err(RequestError::Malformed(format!(
                "reply: unknown schema version {} (this build reads version {SURROGATE_SCHEMA_VERSION})",
                reply.v
            )));
        }
        Ok(reply)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(keys: &Keys) -> RankRequest {
        RankRequest {
            deadline_ms: None,
            v: SURROGATE_SCHEMA_VERSION,
            request_id: "r1".into(),
            reply_key: keys.surrogate_reply("r1"),
            search_id: "s1".into(),
            space: Space::Pnas { blocks: 2 },
            predictor: PredictorKind::Mlp,
            seed: 3,
            training: vec![TrainingPair {
                genotype: "(0,sep_3x3,1,identity)".into(),
                accuracy: 91.5,
                fidelity: None,
            }],
            candidates: vec!["(0,sep_3x3,1,identity)(2,sep_5x5,0,identity)".into()],
        }
    }

    #[test]
    fn a_request_round_trips_and_is_checked() {
        let keys = Keys::new("t");
        let r = request(&keys);
        let bytes = r.encode(&keys, 100).unwrap();
        let checked = RankRequest::decode(&bytes, &keys, 100).unwrap();
        assert_eq!(checked.request, r);
        assert_eq!(checked.candidates.len(), 1);
        assert_eq!(checked.training[0].1, 91.5);
        assert!(checked.fidelity.is_empty(), "no fidelity: all full");
        assert!(!String::from_utf8(bytes).unwrap().contains("fidelity"));
    }

    #[test]
    fn fidelities_travel_with_their_pairs_and_default_to_full() {
        let keys = Keys::new("t");
        let mut r = request(&keys);
        r.training.push(TrainingPair {
            fidelity: Some(1.0 / 9.0),
            ..r.training[0].clone()
        });
        let bytes = r.encode(&keys, 100).unwrap();
        let checked = RankRequest::decode(&bytes, &keys, 100).unwrap();
        assert_eq!(checked.fidelity, vec![1.0, 1.0 / 9.0]);
    }

    #[test]
    fn bad_requests_say_what_is_wrong() {
        let keys = Keys::new("t");
        type Edit = Box<dyn Fn(&mut RankRequest)>;
        let cases: Vec<(Edit, &str)> = vec![
            (Box::new(|r| r.v = 9), "unknown schema version 9"),
            (
                Box::new(|r| r.reply_key = "t:job:1".into()),
                "reply key \"t:job:1\" is not",
            ),
            (
                Box::new(|r| r.search_id = "a b".into()),
                "has the character ' '",
            ),
            (
                Box::new(|r| r.training[0].accuracy = 140.0),
                "training result 0: accuracy 140",
            ),
            (
                Box::new(|r| r.training[0].fidelity = Some(0.0)),
                "training result 0: fidelity 0 is not a share of full fidelity",
            ),
            (
                Box::new(|r| {
                    r.training.push(r.training[0].clone());
                    r.training[0].fidelity = Some(0.5);
                    r.training[1].fidelity = Some(3.0);
                }),
                "training result 1: fidelity 3 is not",
            ),
            (
                Box::new(|r| r.candidates.push("(0,sep_3x3,9,identity)".into())),
                "candidate 1: block 1",
            ),
            (
                Box::new(|r| r.candidates = vec!["(0,sep_3x3,1,identity)".into(); 3]),
                "3 candidates is over the limit of 2",
            ),
            (
                Box::new(|r| r.space = Space::Pnas { blocks: 9 }),
                "space: blocks",
            ),
        ];
        for (edit, want) in cases {
            let mut r = request(&keys);
            edit(&mut r);
            let bytes = serde_json::to_vec(&r).unwrap();
            let err = RankRequest::decode(&bytes, &keys, 2)
                .unwrap_err()
                .to_string();
            assert!(err.contains(want), "{err:?} lacks {want:?}");
        }
        let err = RankRequest::decode(b"{\"v\":1", &keys, 2).unwrap_err();
        assert!(matches!(err, RequestError::Malformed(_)), "{err}");
    }

    #[test]
    fn the_reply_address_is_read_from_broken_requests_only_when_it_is_ours() {
        let keys = Keys::new("t");
        let raw = br#"{"request_id":"r9","reply_key":"t:surrogate:reply:r9","candidates":7}"#;
        assert_eq!(
            ReplyAddress::of(raw, &keys),
            Some(("r9".into(), "t:surrogate:reply:r9".into()))
        );
        let foreign = br#"{"request_id":"r9","reply_key":"t:ready:x"}"#;
        assert_eq!(ReplyAddress::of(foreign, &keys), None);
        assert_eq!(ReplyAddress::of(b"not json", &keys), None);
    }

    /// Issue 15, defect 8: a reply had no size cap. One as large as the
    /// most candidates a request may carry, at the widest numbers, is read;
    /// anything larger is refused before it is parsed.
    #[test]
    fn replies_are_capped_at_the_largest_allowed_ranking() {
        let widest = -2.2250738585072014e-308_f64;
        let full = RankReply::ok(
            &"r".repeat(queue::wire::MAX_ID_LEN),
            Ranking {
                scores: vec![widest; MAX_CANDIDATES],
                spreads: vec![widest; MAX_CANDIDATES],
                version: usize::MAX,
            },
        );
        let json = full.encode().unwrap();
        assert_eq!(RankReply::decode(&json).unwrap(), full);
        let mut too_many = full.clone();
        if let ReplyBody::Ok { scores, .. } = &mut too_many.body {
            scores.extend(vec![widest; MAX_CANDIDATES]);
        }
        let err = too_many.encode().unwrap_err().to_string();
        assert!(err.starts_with("reply to request rrr"), "{err:.60}");
        assert!(err.contains("-byte limit"), "{err}");
        let error = RankReply::error("r1", "x".repeat(MAX_REPLY_BYTES));
        assert!(error.encode().unwrap().len() < 8 * 1024);
        let mut over = json.clone();
        over.splice(
            1..1,
            format!("\"pad\":\"{}\",", " ".repeat(2 << 20)).bytes(),
        );
        let err = RankReply::decode(&over).unwrap_err().to_string();
        assert!(err.contains("-byte limit"), "{err}");
    }

    #[test]
    fn replies_round_trip() {
        let ok = RankReply::ok(
            "r1",
            Ranking {
                scores: vec![90.0],
                spreads: vec![0.5],
                version: 4,
            },
        );
        let json = serde_json::to_vec(&ok).unwrap();
        assert_eq!(RankReply::decode(&json).unwrap(), ok);
        let err = RankReply::error("r1", "no training results");
        let json = serde_json::to_string(&err).unwrap();
        assert_eq!(
            json,
            r#"{"v":1,"request_id":"r1","status":"error","reason":"no training results"}"#
        );
    }
}
