//! Search and job ids: what characters they may hold (they become parts of
//! Redis keys and file names), and the shape of a job id, which the queue
//! assigns as `<search id>.<10-digit sequence number>` so that a search's
//! job ids sort in the order they were created.

use super::{malformed, WireError};

/// The longest id (search or job) accepted.
pub const MAX_ID_LEN: usize = 96;

/// Check an id: 1 to [`MAX_ID_LEN`] characters of `[A-Za-z0-9_.-]`, so it
/// can sit inside a Redis key and a file name.
pub fn validate_id(what: &'static str, id: &str) -> Result<(), WireError> {
    if id.is_empty() || id.len() > MAX_ID_LEN {
        return Err(malformed(
            what,
            format!("id {id:?} must be 1 to {MAX_ID_LEN} characters"),
        ));
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        return Err(malformed(
            what,
            format!("id {id:?} has the character {c:?}; ids use letters, digits, '_', '-' and '.'"),
        ));
    }
    Ok(())
}

/// A job id taken apart: the search it belongs to and its number within
/// that search (from 1). Both backends name jobs through [`JobId::format`]
/// (the Redis backend's `enqueue.lua` writes the same shape).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobId<'a> {
    /// The search.
    pub search: &'a str,
    /// The job's number within its search.
    pub seq: u64,
}

impl<'a> JobId<'a> {
    /// The id of job number `seq` of `search`.
    pub fn format(search: &str, seq: u64) -> String {
        format!("{search}.{seq:010}")
    }

    /// Take a job id apart; `None` if it is not `<search>.<number>`.
    pub fn parse(id: &'a str) -> Option<Self> {
        let (search, seq) = id.rsplit_once('.')?;
        if search.is_empty() || seq.is_empty() || !seq.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(Self {
            search,
            seq: seq.parse().ok()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_ids_format_and_parse_back() {
        let id = JobId::format("evolution-x1.y", 42);
        assert_eq!(id, "evolution-x1.y.0000000042");
        assert_eq!(
            JobId::parse(&id),
            Some(JobId {
                search: "evolution-x1.y",
                seq: 42
            })
        );
        for bad in ["", "s", "s.", ".5", "s.5a", "s.-5"] {
            assert_eq!(JobId::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn ids_are_checked_for_length_and_characters() {
        validate_id("job", "s1.0000000001").unwrap();
        assert!(validate_id("job", "").is_err());
        assert!(validate_id("job", &"a".repeat(MAX_ID_LEN + 1)).is_err());
        let err = validate_id("job", "a b").unwrap_err().to_string();
        assert!(err.contains("' '"), "{err}");
    }
}
