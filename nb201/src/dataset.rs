//! The three datasets NAS-Bench-201 trained every cell on.

use std::fmt;
use std::str::FromStr;
use thiserror::Error;

/// A dataset of the benchmark; its name is also its table's file stem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dataset {
    /// CIFAR-10.
    Cifar10,
    /// CIFAR-100.
    Cifar100,
    /// ImageNet16-120: 120 ImageNet classes downsampled to 16x16.
    Imagenet,
}

impl Dataset {
    /// Every dataset.
    pub const ALL: [Dataset; 3] = [Self::Cifar10, Self::Cifar100, Self::Imagenet];

    /// The name used on the command line, in JSON and in file names.
    pub fn name(self) -> &'static str {
        match self {
            Self::Cifar10 => "cifar10",
            Self::Cifar100 => "cifar100",
            Self::Imagenet => "imagenet",
        }
    }

    /// The table's file name inside the tables' folder, `<name>.json`.
    pub fn file_name(self) -> String {
        format!("{}.json", self.name())
    }
}

impl fmt::Display for Dataset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A dataset name that is not one of the benchmark's.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown dataset {name:?}; expected cifar10, cifar100 or imagenet")]
pub struct DatasetError {
    /// The name given.
    pub name: String,
}

impl FromStr for Dataset {
    type Err = DatasetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|d| d.name() == s)
            .ok_or_else(|| DatasetError { name: s.into() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_text_and_json() {
        for d in Dataset::ALL {
            assert_eq!(d.to_string().parse::<Dataset>().unwrap(), d);
            let json = serde_json::to_string(&d).unwrap();
            assert_eq!(json, format!("\"{d}\""));
            assert_eq!(serde_json::from_str::<Dataset>(&json).unwrap(), d);
        }
        assert_eq!(Dataset::Cifar100.file_name(), "cifar100.json");
        let err = "mnist".parse::<Dataset>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown dataset \"mnist\"; expected cifar10, cifar100 or imagenet"
        );
    }
}
