//! IDX files (MNIST, Fashion-MNIST): a big-endian header (magic number, then
//! one u32 per dimension) followed by the bytes. Images are `idx3` u8 files
//! (magic `0x00000803`), labels `idx1` u8 files (magic `0x00000801`).

use crate::error::{DataError, Result};
use crate::format::IDX_FILES;
use crate::input::Input;
use crate::raw::RawSplit;
use std::path::{Path, PathBuf};

const IMAGES_MAGIC: u32 = 0x0000_0803;
const LABELS_MAGIC: u32 = 0x0000_0801;
/// MNIST and Fashion-MNIST both have ten classes.
const CLASSES: usize = 10;
const FASHION_NAMES: [&str; CLASSES] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// Read the four IDX files of `dir`: class names, train and test split.
pub(crate) fn read(dir: &Path) -> Result<(Vec<String>, RawSplit, RawSplit)> {
    let mut paths = Vec::with_capacity(IDX_FILES.len());
    for name in IDX_FILES {
        paths.push(find(dir, name)?);
    }
    let train = read_split(&paths[0], &paths[1], None)?;
    let test = read_split(&paths[2], &paths[3], Some((train.height, train.width)))?;
    Ok((class_names(dir), train, test))
}

/// `dir/name`, or else `dir/name.gz`.
fn find(dir: &Path, name: &str) -> Result<PathBuf> {
    let raw = dir.join(name);
    if raw.is_file() {
        return Ok(raw);
    }
    let gz = dir.join(format!("{name}.gz"));
    if gz.is_file() {
        return Ok(gz);
    }
    Err(DataError::invalid(
        dir,
        format!("missing {name} (or {name}.gz)"),
    ))
}

/// Fashion-MNIST's names when the folder's name says fashion, else the digits.
fn class_names(dir: &Path) -> Vec<String> {
    let full = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let fashion = full
        .file_name()
        .is_some_and(|n| n.to_string_lossy().to_lowercase().contains("fashion"));
    if fashion {
        FASHION_NAMES.iter().map(|s| s.to_string()).collect()
    } else {
        (0..CLASSES).map(|d| d.to_string()).collect()
    }
}

/// One images file and its labels file; `size` is the (height, width) the
/// images must have, if already known from the other split.
fn read_split(images: &Path, labels: &Path, size: Option<(usize, usize)>) -> Result<RawSplit> {
    let mut f = Input::open(images)?;
    let magic = f.read_u32_be("magic number")?;
    if magic != IMAGES_MAGIC {
        return Err(f.corrupt(
            0,
            format!(
                "magic number 0x{magic:08x} is not 0x{IMAGES_MAGIC:08x} (u8 images, 3 dimensions)"
            ),
        ));
    }
    let n = f.read_u32_be("image count")? as u64;
    let height = f.read_u32_be("image height")? as u64;
    let width = f.read_u32_be("image width")? as u64;
    for (value, offset, what) in [
        (n, 4, "image count"),
        (height, 8, "height"),
        (width, 12, "width"),
    ] {
        if value == 0 {
            return Err(f.corrupt(offset, format!("{what} is 0")));
        }
    }
    if let Some((h, w)) = size {
        if (height, width) != (h as u64, w as u64) {
            return Err(f.corrupt(
                8,
                format!("images are {height}x{width}, the training images {h}x{w}"),
            ));
        }
    }
    let size = n
        .checked_mul(height)
        .and_then(|s| s.checked_mul(width))
        .ok_or_else(|| {
            f.corrupt(
                4,
                format!("{n}x{height}x{width} pixels do not fit in memory"),
            )
        })?;
    let pixels = f.read(size, "pixels")?;
    f.expect_end("pixels")?;
    let labels = read_labels(labels, n, images)?;
    Ok(RawSplit {
        pixels,
        labels,
        channels: 1,
        height: height as usize,
        width: width as usize,
    })
}

/// The labels file that goes with `images`, which holds `n` images.
fn read_labels(path: &Path, n: u64, images: &Path) -> Result<Vec<i64>> {
    let mut f = Input::open(path)?;
    let magic = f.read_u32_be("magic number")?;
    if magic != LABELS_MAGIC {
        return Err(f.corrupt(
            0,
            format!(
                "magic number 0x{magic:08x} is not 0x{LABELS_MAGIC:08x} (u8 labels, 1 dimension)"
            ),
        ));
    }
    let count = f.read_u32_be("label count")? as u64;
    if count != n {
        let name = images.file_name().unwrap_or_default().to_string_lossy();
        return Err(f.corrupt(4, format!("{count} labels, but {name} holds {n} images")));
    }
    let bytes = f.read(n, "labels")?;
    f.expect_end("labels")?;
    if let Some(i) = bytes.iter().position(|&l| l as usize >= CLASSES) {
        return Err(f.corrupt(
            8 + i as u64,
            format!("label {} is not a class (0..={})", bytes[i], CLASSES - 1),
        ));
    }
    Ok(bytes.into_iter().map(i64::from).collect())
}
