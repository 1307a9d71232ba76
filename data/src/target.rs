//! The target of a table, a series CSV or a `.ts` file: which column it is,
//! which task it poses, and its labels.
//!
//! Task inference: a target with a value that is not a number (or a
//! boolean one) is a classification target. A numeric target is one too
//! when every value is an integer and it has few distinct values: at most
//! [`FEW_CLASSES`], or at most [`MAX_CLASSES`] when the rows number at least
//! [`ROWS_PER_CLASS`] times the distinct values (so 0..9 digit labels are
//! classes even in a small file, while an integer count or age with many
//! values in a small file stays a number). Anything else is regression.
//! [`crate::LoadOptions::task`] overrides this.

use crate::cells::{number_name, parse_number, Cells, Origins};
use crate::error::Result;
use crate::meta::Task;
use crate::raw::Labels;

/// Distinct integer values that make a classification target at any size.
pub(crate) const FEW_CLASSES: usize = 10;
/// Distinct integer values beyond which a numeric target is regression.
pub(crate) const MAX_CLASSES: usize = 50;
/// Rows per distinct value needed for more than [`FEW_CLASSES`] classes.
pub(crate) const ROWS_PER_CLASS: usize = 20;

/// Names a default target column has, case-insensitive, in order of
/// preference.
const TARGET_NAMES: [&str; 4] = ["target", "class", "label", "y"];

/// The index of the target among `names`: `wanted` if given, else a column
/// named as in [`TARGET_NAMES`], else the last column. `None` if `wanted`
/// is not a column (or there are no columns).
pub(crate) fn choose(names: &[String], wanted: Option<&str>) -> Option<usize> {
    if let Some(w) = wanted {
        return names.iter().position(|n| n == w);
    }
    TARGET_NAMES
        .iter()
        .find_map(|t| names.iter().position(|n| n.eq_ignore_ascii_case(t)))
        .or(names.len().checked_sub(1))
}

/// An encoded target: the task, the class names (empty for regression) and
/// one label per row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Target {
    /// Classification or regression.
    pub task: Task,
    /// Class names; labels index into this.
    pub classes: Vec<String>,
    /// One label per row.
    pub labels: Labels,
}

/// Encode the target column `name` (`None` for a `.ts` label) of `cells`. `declared` fixes the class
/// names and their order (a `.ts` `@classLabel` list); `task` overrides the
/// inferred task. Errors name the row: a missing value, a non-number for
/// regression, a label outside `declared`; or the column: one class only.
pub(crate) fn encode(
    cells: &Cells,
    name: Option<&str>,
    declared: Option<&[String]>,
    task: Option<Task>,
    origins: &Origins,
) -> Result<Target> {
    if let Some(row) = (0..cells.len()).find(|&i| cells.is_missing(i)) {
        return Err(origins.error(row, name, "the target is missing"));
    }
    let target = match (cells, declared) {
        (Cells::Text(text), Some(classes)) if task != Some(Task::Regression) => {
            let mut labels = Vec::with_capacity(text.len());
            for (row, t) in text.iter().enumerate() {
                let t = t.as_deref().unwrap_or_default();
                match classes.iter().position(|c| c == t) {
                    Some(i) => labels.push(i as i64),
                    None => {
                        return Err(origins.error(
                            row,
                            name,
                            format!("label {t:?} is not one of {}", classes.join(", ")),
                        ))
                    }
                }
            }
            Target {
                task: Task::Classification,
                classes: classes.to_vec(),
                labels: Labels::Classes(labels),
            }
        }
        (Cells::Text(text), _) => {
            let text: Vec<&str> = text
                .iter()
                .map(|t| t.as_deref().unwrap_or_default())
                .collect();
            let numbers: Option<Vec<f64>> = text.iter().map(|t| parse_number(t)).collect();
            match numbers {
                Some(values) => numeric(&values, task),
                None if task == Some(Task::Regression) => {
                    let row = text.iter().position(|t| parse_number(t).is_none());
                    let row = row.unwrap_or_default();
                    return Err(origins.error(
                        row,
                        name,
                        format!(
                            "the target {:?} is not a number, but the task is regression",
                            text[row]
                        ),
                    ));
                }
                None => named(&text),
            }
        }
        (Cells::Number(values), _) => {
            let values: Vec<f64> = values.iter().map(|v| v.unwrap_or(f64::NAN)).collect();
            numeric(&values, task)
        }
        (Cells::Bool(values), _) => {
            if task == Some(Task::Regression) {
                return Err(origins.error(
                    0,
                    name,
                    "the target is boolean, but the task is regression",
                ));
            }
            let labels = values
                .iter()
                .map(|v| i64::from(v.unwrap_or_default()))
                .collect();
            Target {
                task: Task::Classification,
                classes: vec!["false".into(), "true".into()],
                labels: Labels::Classes(labels),
            }
        }
    };
    if let Labels::Classes(labels) = &target.labels {
        let mut present: Vec<i64> = labels.clone();
        present.sort_unstable();
        present.dedup();
        if present.len() < 2 {
            let only = present
                .first()
                .and_then(|&c| target.classes.get(c as usize))
                .cloned()
                .unwrap_or_default();
            return Err(origins.file_error(
                name,
                format!("the target has one class ({only:?}): nothing to learn"),
            ));
        }
    }
    Ok(target)
}

/// Classes named by text values, sorted.
fn named(text: &[&str]) -> Target {
    let mut classes: Vec<String> = text.iter().map(|t| t.to_string()).collect();
    classes.sort();
    classes.dedup();
    let labels = text
        .iter()
        .map(|t| classes.binary_search_by(|c| c.as_str().cmp(t)).unwrap_or(0) as i64)
        .collect();
    Target {
        task: Task::Classification,
        classes,
        labels: Labels::Classes(labels),
    }
}

/// A numeric target: classes (sorted by value, named by the number) or
/// regression values, as `task` says or as inferred.
fn numeric(values: &[f64], task: Option<Task>) -> Target {
    let mut distinct = values.to_vec();
    distinct.sort_by(f64::total_cmp);
    distinct.dedup();
    let task = task.unwrap_or_else(|| infer(values, distinct.len()));
    match task {
        Task::Regression => Target {
            task,
            classes: Vec::new(),
            labels: Labels::Values(values.iter().map(|&v| v as f32).collect()),
        },
        Task::Classification => Target {
            task,
            classes: distinct.iter().map(|&v| number_name(v)).collect(),
            labels: Labels::Classes(
                values
                    .iter()
                    .map(|v| distinct.binary_search_by(|d| d.total_cmp(v)).unwrap_or(0) as i64)
                    .collect(),
            ),
        },
    }
}

/// The task of a numeric target with `distinct` distinct values (see the
/// module docs).
fn infer(values: &[f64], distinct: usize) -> Task {
    let integers = values.iter().all(|v| v.fract() == 0.0 && v.abs() < 1e15);
    let few = distinct <= FEW_CLASSES
        || (distinct <= MAX_CLASSES && values.len() >= ROWS_PER_CLASS * distinct);
    if integers && few {
        Task::Classification
    } else {
        Task::Regression
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_target_prefers_named_columns_then_the_last() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(choose(&names(&["a", "Label", "b"]), None), Some(1));
        assert_eq!(choose(&names(&["y", "CLASS", "b"]), None), Some(1));
        assert_eq!(choose(&names(&["a", "b"]), None), Some(1));
        assert_eq!(choose(&names(&["a", "b"]), Some("a")), Some(0));
        assert_eq!(choose(&names(&["a", "b"]), Some("z")), None);
        assert_eq!(choose(&[], None), None);
    }

    #[test]
    fn integer_targets_with_few_values_are_classes() {
        let digits: Vec<f64> = (0..30).map(|i| f64::from(i % 10)).collect();
        assert_eq!(infer(&digits, 10), Task::Classification);
        // 20 distinct integers need 400 rows.
        let small: Vec<f64> = (0..100).map(|i| f64::from(i % 20)).collect();
        assert_eq!(infer(&small, 20), Task::Regression);
        let big: Vec<f64> = (0..400).map(|i| f64::from(i % 20)).collect();
        assert_eq!(infer(&big, 20), Task::Classification);
        let many: Vec<f64> = (0..10_000).map(|i| f64::from(i % 51)).collect();
        assert_eq!(infer(&many, 51), Task::Regression);
        assert_eq!(infer(&[0.5, 1.0, 0.5], 2), Task::Regression);
    }

    #[test]
    fn numeric_classes_are_sorted_by_value() {
        let t = numeric(&[10.0, 9.0, 10.0, -1.0], Some(Task::Classification));
        assert_eq!(t.classes, ["-1", "9", "10"]);
        assert_eq!(t.labels, Labels::Classes(vec![2, 1, 2, 0]));
    }
}
