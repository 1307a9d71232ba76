//! The CIFAR binary versions: fixed-size records of label byte(s) and 3072
//! pixel bytes (1024 red, 1024 green, 1024 blue, each 32x32 row-major, so
//! already channel-major). CIFAR-10 records hold one label; CIFAR-100
//! records hold the coarse label, then the fine label, which we use.

use crate::error::{DataError, Result};
use crate::format::{CIFAR100_FILES, CIFAR10_FILES};
use crate::input::Input;
use crate::raw::RawSplit;
use std::path::Path;

const SIDE: usize = 32;
const PIXELS: usize = 3 * SIDE * SIDE;

/// What differs between CIFAR-10 and CIFAR-100.
struct Layout {
    /// Label bytes before the pixels.
    label_bytes: usize,
    /// Which label byte is the class.
    class_byte: usize,
    /// Number of classes of that label.
    classes: usize,
    /// For CIFAR-100, the coarse label byte and its number of classes.
    coarse: Option<(usize, usize)>,
    /// The file of class names, one per line.
    names_file: &'static str,
}

const CIFAR10: Layout = Layout {
    label_bytes: 1,
    class_byte: 0,
    classes: 10,
    coarse: None,
    names_file: "batches.meta.txt",
};

const CIFAR100: Layout = Layout {
    label_bytes: 2,
    class_byte: 1,
    classes: 100,
    coarse: Some((0, 20)),
    names_file: "fine_label_names.txt",
};

/// Read CIFAR-10 from `dir`: class names, train and test split.
pub(crate) fn read10(dir: &Path) -> Result<(Vec<String>, RawSplit, RawSplit)> {
    let (train_files, test_file) = CIFAR10_FILES.split_at(5);
    read(dir, &CIFAR10, train_files, test_file[0])
}

/// Read CIFAR-100 from `dir`: fine class names, train and test split.
pub(crate) fn read100(dir: &Path) -> Result<(Vec<String>, RawSplit, RawSplit)> {
    read(dir, &CIFAR100, &CIFAR100_FILES[..1], CIFAR100_FILES[1])
}

fn read(
    dir: &Path,
    layout: &Layout,
    train_files: &[&str],
    test_file: &str,
) -> Result<(Vec<String>, RawSplit, RawSplit)> {
    for name in train_files.iter().chain([&test_file]) {
        if !dir.join(name).is_file() {
            return Err(DataError::invalid(dir, format!("missing {name}")));
        }
    }
    let mut train = empty_split();
    for name in train_files {
        read_records(&dir.join(name), layout, &mut train)?;
    }
    let mut test = empty_split();
    read_records(&dir.join(test_file), layout, &mut test)?;
    Ok((class_names(dir, layout)?, train, test))
}

fn empty_split() -> RawSplit {
    RawSplit {
        channels: 3,
        height: SIDE,
        width: SIDE,
        ..RawSplit::default()
    }
}

/// Append the records of one batch file to `split`.
fn read_records(path: &Path, layout: &Layout, split: &mut RawSplit) -> Result<()> {
    let mut f = Input::open(path)?;
    let bytes = f.read_rest()?;
    let record = layout.label_bytes + PIXELS;
    if bytes.is_empty() {
        return Err(f.corrupt(0, "no records"));
    }
    let n = bytes.len() / record;
    if bytes.len() % record != 0 {
        let at = (n * record) as u64;
        return Err(f.corrupt(
            at,
            format!(
                "truncated record: {} of its {record} bytes",
                bytes.len() - n * record
            ),
        ));
    }
    split.pixels.reserve(n * PIXELS);
    split.labels.reserve(n);
    for (i, rec) in bytes.chunks_exact(record).enumerate() {
        let at = (i * record) as u64;
        if let Some((byte, classes)) = layout.coarse {
            check_label(&f, rec[byte], classes, at + byte as u64, "coarse label")?;
        }
        let class = rec[layout.class_byte];
        check_label(
            &f,
            class,
            layout.classes,
            at + layout.class_byte as u64,
            "label",
        )?;
        split.labels.push(i64::from(class));
        split.pixels.extend_from_slice(&rec[layout.label_bytes..]);
    }
    Ok(())
}

fn check_label(f: &Input, value: u8, classes: usize, offset: u64, what: &str) -> Result<()> {
    if (value as usize) < classes {
        Ok(())
    } else {
        Err(f.corrupt(
            offset,
            format!("{what} {value} is not a class (0..={})", classes - 1),
        ))
    }
}

/// The names from the layout's names file (non-empty lines), or the class
/// numbers when the file is absent.
fn class_names(dir: &Path, layout: &Layout) -> Result<Vec<String>> {
    let path = dir.join(layout.names_file);
    if !path.is_file() {
        return Ok((0..layout.classes).map(|c| c.to_string()).collect());
    }
    let text = std::fs::read_to_string(&path).map_err(|e| DataError::io(&path, e))?;
    let names: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    if names.len() != layout.classes {
        return Err(DataError::invalid(
            &path,
            format!("{} class names, expected {}", names.len(), layout.classes),
        ));
    }
    Ok(names)
}
