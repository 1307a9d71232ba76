//! A folder of class subfolders of PNG/JPEG images: `PATH/train/<class>/*`
//! and `PATH/test/<class>/*` when both exist, else `PATH/<class>/*` with a
//! seeded one-in-six test holdout per class. All images must have one size;
//! they keep one channel when every image is grayscale, else become RGB.

use crate::error::{DataError, Result};
use crate::raw::RawSplit;
use rand::seq::SliceRandom;
use std::path::{Path, PathBuf};

/// Seed of the holdout, fixed so that every reader of a folder (scheduler,
/// trainers) sees the same test split.
const HOLDOUT_SEED: u64 = 0;
/// One image in this many (per class, rounded down) goes to the test split.
const HOLDOUT_EVERY: usize = 6;
const EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];

/// Image files with their class index.
type Files = Vec<(PathBuf, i64)>;

/// Read the image folder `dir`: class names, train and test split.
pub(crate) fn read(dir: &Path) -> Result<(Vec<String>, RawSplit, RawSplit)> {
    let (train_dir, test_dir) = (dir.join("train"), dir.join("test"));
    let (classes, train, test) = if train_dir.is_dir() && test_dir.is_dir() {
        let classes = subfolders(&train_dir)?;
        let train = files(&train_dir, &classes, true)?;
        for class in subfolders(&test_dir)? {
            if !classes.contains(&class) {
                return Err(DataError::invalid(
                    test_dir.join(&class),
                    "this class has no folder under train/",
                ));
            }
        }
        let test = files(&test_dir, &classes, false)?;
        (classes, train, test)
    } else {
        let classes = subfolders(dir)?;
        let (train, test) = holdout(files(dir, &classes, true)?, classes.len());
        (classes, train, test)
    };
    let mut decoder = Decoder::default();
    let mut train = decoder.decode(&train)?;
    let mut test = decoder.decode(&test)?;
    if !decoder.any_color {
        to_gray(&mut train);
        to_gray(&mut test);
    }
    Ok((classes, train, test))
}

/// The names of the subfolders of `dir`, sorted; hidden ones are skipped.
fn subfolders(dir: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))? {
        let entry = entry.map_err(|e| DataError::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.path().is_dir() && !name.starts_with('.') {
            names.push(name);
        }
    }
    if names.is_empty() {
        return Err(DataError::invalid(dir, "no class subfolders"));
    }
    names.sort();
    Ok(names)
}

/// The image files of every class folder under `dir`, sorted by class and
/// name. With `required`, each class folder must exist and hold an image.
fn files(dir: &Path, classes: &[String], required: bool) -> Result<Files> {
    let mut out = Vec::new();
    for (label, class) in classes.iter().enumerate() {
        let folder = dir.join(class);
        if !folder.is_dir() && !required {
            continue;
        }
        let mut images = Vec::new();
        for entry in std::fs::read_dir(&folder).map_err(|e| DataError::io(&folder, e))? {
            let path = entry.map_err(|e| DataError::io(&folder, e))?.path();
            let ext = path.extension().map(|e| e.to_string_lossy().to_lowercase());
            if path.is_file() && ext.is_some_and(|e| EXTENSIONS.contains(&e.as_str())) {
                images.push(path);
            }
        }
        if images.is_empty() && required {
            return Err(DataError::invalid(&folder, "no .png, .jpg or .jpeg images"));
        }
        images.sort();
        out.extend(images.into_iter().map(|p| (p, label as i64)));
    }
    Ok(out)
}

/// Split `files` (sorted by class) into train and test, one in
/// [`HOLDOUT_EVERY`] of each class to test, chosen by a seeded shuffle.
fn holdout(files: Files, classes: usize) -> (Files, Files) {
    let mut rng = space::rng(HOLDOUT_SEED);
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for class in 0..classes as i64 {
        let members: Vec<&(PathBuf, i64)> = files.iter().filter(|f| f.1 == class).collect();
        let mut order: Vec<usize> = (0..members.len()).collect();
        order.shuffle(&mut rng);
        let mut is_test = vec![false; members.len()];
        for &i in &order[..members.len() / HOLDOUT_EVERY] {
            is_test[i] = true;
        }
        for (file, held) in members.into_iter().zip(is_test) {
            if held { &mut test } else { &mut train }.push(file.clone());
        }
    }
    (train, test)
}

/// Decodes images into channel-major RGB, checking they share one size.
#[derive(Default)]
struct Decoder {
    /// Width, height and file of the first image.
    first: Option<(u32, u32, PathBuf)>,
    /// Whether any image so far had color.
    any_color: bool,
}

impl Decoder {
    fn decode(&mut self, files: &[(PathBuf, i64)]) -> Result<RawSplit> {
        let mut split = RawSplit {
            channels: 3,
            ..RawSplit::default()
        };
        for (path, label) in files {
            let image = image::ImageReader::open(path)
                .map_err(|e| DataError::io(path, e))?
                .with_guessed_format()
                .map_err(|e| DataError::io(path, e))?
                .decode()
                .map_err(|e| DataError::Image {
                    path: path.clone(),
                    reason: format!("cannot decode the image: {e}"),
                })?;
            let (w, h) = (image.width(), image.height());
            match &self.first {
                None => self.first = Some((w, h, path.clone())),
                Some((w0, h0, first)) if (w, h) != (*w0, *h0) => {
                    return Err(DataError::Image {
                        path: path.clone(),
                        reason: format!(
                            "image is {w}x{h}, but {} is {w0}x{h0}; all images need one size",
                            first.display()
                        ),
                    });
                }
                Some(_) => {}
            }
            self.any_color |= image.color().has_color();
            let rgb = image.to_rgb8();
            let hw = w as usize * h as usize;
            let base = split.pixels.len();
            split.pixels.resize(base + 3 * hw, 0);
            let planes = &mut split.pixels[base..];
            for (i, px) in rgb.as_raw().chunks_exact(3).enumerate() {
                planes[i] = px[0];
                planes[hw + i] = px[1];
                planes[2 * hw + i] = px[2];
            }
            split.labels.push(*label);
        }
        if let Some((w, h, _)) = &self.first {
            (split.width, split.height) = (*w as usize, *h as usize);
        }
        Ok(split)
    }
}

/// Keep only the first plane of each image (all three are equal for a
/// grayscale image converted to RGB).
fn to_gray(split: &mut RawSplit) {
    let hw = split.height * split.width;
    if hw == 0 {
        return;
    }
    let mut gray = Vec::with_capacity(split.len() * hw);
    for image in split.pixels.chunks_exact(3 * hw) {
        gray.extend_from_slice(&image[..hw]);
    }
    split.pixels = gray;
    split.channels = 1;
}
