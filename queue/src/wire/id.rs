//! Search and job ids: what characters they may hold (they become parts of
//! Redis keys, file names and exported code), and the shape of a job id,
//! which the queue assigns as `<search id>.<10-digit sequence number>` so
//! that a search's job ids sort in the order they were created.

use super::{malformed, WireError};

/// The longest id accepted: a search id, or an id of another kind (a
/// surrogate request). A job id is its search id and 11 characters more.
pub const MAX_ID_LEN: usize = 96;

/// How many digits a job's sequence number has in its id.
pub const JOB_SEQ_DIGITS: usize = 10;

/// This host's name (`/proc/sys/kernel/hostname`; `host` if unreadable).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "host".into())
}

/// The default id of a process that announces itself (a trainer, a
/// scheduler instance, a surrogate replica): `<hostname>-<pid>`.
pub fn process_id() -> String {
    format!("{}-{}", hostname(), std::process::id())
}

/// Check an id of a kind that becomes part of Redis keys only (a surrogate
/// request's): 1 to [`MAX_ID_LEN`] characters of `[A-Za-z0-9_.-]`,
/// starting with a letter or digit, so that it is never `.`, `..` or an
/// option. Search and job ids, which also become file names and generated
/// code, have their own stricter checks.
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
    if !id.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(malformed(
            what,
            format!("id {id:?} must start with a letter or digit"),
        ));
    }
    Ok(())
}

/// Check a search id: 1 to [`MAX_ID_LEN`] characters of `[a-z0-9-]`, not
/// starting with `-`. Search ids become folder names on trainers and
/// schedulers (`<dir>/<search>/...`) and strings in exported code, so they
/// hold nothing that a path, a shell or a quote could read otherwise; the
/// ids `SearchSpec::new_id` makes are of this shape.
pub fn validate_search_id(what: &'static str, id: &str) -> Result<(), WireError> {
    if id.is_empty() || id.len() > MAX_ID_LEN {
        return Err(malformed(
            what,
            format!("search id {id:?} must be 1 to {MAX_ID_LEN} characters"),
        ));
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(malformed(
            what,
            format!("search id {id:?} has the character {c:?}; search ids use a-z, 0-9 and '-'"),
        ));
    }
    if id.starts_with('-') {
        return Err(malformed(
            what,
            format!("search id {id:?} must not start with '-'"),
        ));
    }
    Ok(())
}

/// Check a job id by its shape, `<search id>.<10 digits>` ([`JobId`]): a
/// valid search id, a dot and the job's number. Job ids become folder names
/// on trainers (`<dir>/<job id>/darts.json`).
pub fn validate_job_id(what: &'static str, id: &str) -> Result<(), WireError> {
    let shape = || {
        malformed(
            what,
            format!("job id {id:?} is not <search id>.<{JOB_SEQ_DIGITS}-digit number>"),
        )
    };
    let (search, seq) = id.rsplit_once('.').ok_or_else(shape)?;
    if seq.len() != JOB_SEQ_DIGITS || !seq.bytes().all(|b| b.is_ascii_digit()) {
        return Err(shape());
    }
    validate_search_id(what, search).map_err(|e| match e {
        WireError::Malformed { reason, .. } => malformed(what, format!("job id {id:?}: {reason}")),
        other => other,
    })
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
        format!("{search}.{seq:0width$}", width = JOB_SEQ_DIGITS)
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

    /// Issue 15, defect 9: ids become paths on trainers (`<dir>/<search>/`,
    /// `<dir>/<job id>/darts.json`); `.` and `..` were accepted.
    #[test]
    fn path_like_ids_are_refused() {
        for bad in [".", "..", "a/b", "../x", "a\\b", "-x"] {
            let err = validate_id("search", bad).expect_err(bad).to_string();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
            let err = validate_search_id("search", bad)
                .expect_err(bad)
                .to_string();
            assert!(err.contains(&format!("search id {bad:?}")), "{err}");
        }
        for bad in ["Upper", "a_b", "a.b", "", "x\n"] {
            assert!(validate_search_id("search", bad).is_err(), "{bad:?}");
        }
        validate_search_id("search", "evolution-on-nb201-mbx3k2-4f1a").unwrap();
        validate_search_id("search", &"a".repeat(MAX_ID_LEN)).unwrap();
        let long_job = JobId::format(&"a".repeat(MAX_ID_LEN), 1);
        validate_job_id("job", &long_job).unwrap();
        validate_job_id("job", "s1.0000000001").unwrap();
        for bad in [
            "...0000000001",
            "a/b.0000000001",
            "s1",
            "s1.1",
            "s1.00000000001",
            "S.0000000001",
        ] {
            let err = validate_job_id("job", bad).expect_err(bad).to_string();
            assert!(err.contains(&format!("job id {bad:?}")), "{err}");
        }
        let env = r#"{"v":1,"job_id":"...0000000001","search_id":"..","kind":"noop","attempt":1,"created_ms":1,"payload":{}}"#;
        let err = super::super::Envelope::decode(env).unwrap_err().to_string();
        assert!(err.contains("\"..\""), "{err}");
    }
}
