//! `progress.png` and `progress.svg`: the search's progress with plotters.
//! Two panels, against evaluations and against time since submission: every
//! scored candidate as a point, the best validation accuracy so far as a
//! step line, final retrainings as triangles.
//!
//! Text is drawn with ab_glyph from a font file found at run time
//! ([`font_paths`]), so nothing depends on the system's font lookup; the PNG
//! is drawn into memory and encoded with `image`.

use crate::error::{ExportError, Result};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};
use scheduler::state::Stage;
use scheduler::Evaluation;
use std::path::Path;
use std::sync::OnceLock;

/// Width and height of the plots in pixels.
pub const SIZE: (u32, u32) = (1200, 520);

/// One scored evaluation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Its number in the search, from 1.
    pub n: f64,
    /// Seconds from submission to its result.
    pub secs: f64,
    /// Validation accuracy, percent.
    pub acc: f64,
    /// A final retraining rather than a search candidate.
    pub retrained: bool,
    /// Multi-fidelity searches: the rung of the result.
    pub rung: Option<u32>,
}

/// What the plots show.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// The scored evaluations, in order.
    pub points: Vec<Point>,
    /// Evaluations without a score (diverged, dead).
    pub failed: usize,
}

impl Progress {
    /// The points of `evaluations`.
    pub fn of(evaluations: &[Evaluation]) -> Self {
        let mut points = Vec::new();
        let mut failed = 0;
        for e in evaluations {
            match e.val_acc() {
                Some(acc) => points.push(Point {
                    n: (e.index + 1) as f64,
                    secs: e.elapsed_ms as f64 / 1000.0,
                    acc,
                    retrained: e.stage == Stage::Final,
                    rung: e.rung,
                }),
                None => failed += 1,
            }
        }
        Self { points, failed }
    }

    /// The best-so-far step line of the search candidates along `x`.
    pub fn best_so_far(&self, x: impl Fn(&Point) -> f64) -> Vec<(f64, f64)> {
        let mut pts: Vec<(f64, f64)> = self
            .points
            .iter()
            .filter(|p| !p.retrained)
            .map(|p| (x(p), p.acc))
            .collect();
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut line: Vec<(f64, f64)> = Vec::new();
        let mut best = f64::NEG_INFINITY;
        for (x, acc) in pts.iter().copied() {
            if acc > best {
                if let Some(&(_, prev)) = line.last() {
                    line.push((x, prev));
                }
                line.push((x, acc));
                best = acc;
            }
        }
        if let (Some(&(_, b)), Some(&(x, _))) = (line.last(), pts.last()) {
            line.push((x, b));
        }
        line
    }
}

/// Where the plots' font is looked for: `$NAS_FONT`, then DejaVu Sans
/// (Debian's fonts-dejavu-core, which scripts/setup.sh installs) and other
/// common sans-serif files.
pub fn font_paths() -> Vec<String> {
    let mut paths: Vec<String> = std::env::var("NAS_FONT").ok().into_iter().collect();
    paths.extend(
        [
            "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
            "/usr/share/fonts/TTF/DejaVuSans.ttf",
            "/usr/share/fonts/dejavu/DejaVuSans.ttf",
            "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
            "/usr/share/fonts/truetype/freefont/FreeSans.ttf",
            "/Library/Fonts/Arial.ttf",
        ]
        .map(String::from),
    );
    paths
}

/// Register the first font of [`font_paths`] that loads as plotters'
/// sans-serif, once per process.
pub fn ensure_font() -> Result<()> {
    static FONT: OnceLock<std::result::Result<String, Vec<String>>> = OnceLock::new();
    FONT.get_or_init(|| {
        let tried = font_paths();
        for path in &tried {
            let Ok(bytes) = std::fs::read(path) else {
                continue;
            };
            // plotters keeps fonts for the life of the process.
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            if register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                return Ok(path.clone());
            }
        }
        Err(tried)
    })
    .as_ref()
    .map(|_| ())
    .map_err(|tried| ExportError::NoFont {
        tried: tried.clone(),
    })
}

/// A time axis unit for `max_secs`: its divisor and name.
fn time_unit(max_secs: f64) -> (f64, &'static str) {
    if max_secs > 3.0 * 3600.0 {
        (3600.0, "hours")
    } else if max_secs > 300.0 {
        (60.0, "minutes")
    } else {
        (1.0, "seconds")
    }
}

/// An axis label: no decimals when whole.
fn short(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

type DrawResult = std::result::Result<(), String>;

fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    p: &Progress,
    x_desc: &str,
    x: &dyn Fn(&Point) -> f64,
) -> DrawResult {
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let accs = p.points.iter().map(|p| p.acc);
    let (lo, hi) = accs.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), a| {
        (lo.min(a), hi.max(a))
    });
    let (lo, hi) = if lo.is_finite() {
        let pad = ((hi - lo) * 0.08).max(0.5);
        ((lo - pad).max(0.0), (hi + pad).min(100.0))
    } else {
        (0.0, 100.0)
    };
    let x_max = p.points.iter().map(x).fold(0.0, f64::max).max(1.0) * 1.03;
    let mut chart = ChartBuilder::on(area)
        .margin(12)
        .x_label_area_size(42)
        .y_label_area_size(58)
        .build_cartesian_2d(0.0..x_max, lo..hi)
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc("validation accuracy (%)")
        .x_label_formatter(&|v| short(*v))
        .y_label_formatter(&|v| short(*v))
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 15))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(e)?;
    let blue = RGBColor(61, 133, 198);
    let top = p.points.iter().filter_map(|q| q.rung).max();
    match top {
        None => {
            chart
                .draw_series(
                    (p.points.iter())
                        .filter(|q| !q.retrained)
                        .map(|q| Circle::new((x(q), q.acc), 3, blue.mix(0.55).filled())),
                )
                .map_err(e)?
                .label("candidates")
                .legend(move |(x, y)| Circle::new((x + 10, y), 3, blue.mix(0.55).filled()));
        }
        // A multi-fidelity search: each rung in its own colour, higher
        // rungs darker and larger.
        Some(top) => {
            for rung in 0..=top {
                let shade = 0.35 + 0.6 * rung as f64 / top.max(1) as f64;
                let colour = RGBColor(
                    (61.0 * (1.0 - shade) + 200.0 * (1.0 - shade)) as u8,
                    (133.0 * (1.0 - shade) + 20.0) as u8,
                    (198.0 * (0.4 + 0.6 * shade)) as u8,
                );
                let size = 3 + rung as i32;
                chart
                    .draw_series(
                        (p.points.iter())
                            .filter(|q| !q.retrained && q.rung == Some(rung))
                            .map(move |q| {
                                Circle::new((x(q), q.acc), size, colour.mix(0.7).filled())
                            }),
                    )
                    .map_err(e)?
                    .label(format!("rung {rung}"))
                    .legend(move |(x, y)| Circle::new((x + 10, y), size, colour.mix(0.7).filled()));
            }
        }
    }
    let orange = RGBColor(230, 145, 56);
    chart
        .draw_series(LineSeries::new(p.best_so_far(x), orange.stroke_width(2)))
        .map_err(e)?
        .label("best so far")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], orange.stroke_width(2)));
    if p.points.iter().any(|q| q.retrained) {
        let red = RGBColor(204, 0, 0);
        chart
            .draw_series(
                p.points
                    .iter()
                    .filter(|q| q.retrained)
                    .map(|q| TriangleMarker::new((x(q), q.acc), 6, red.filled())),
            )
            .map_err(e)?
            .label("final retraining")
            .legend(move |(x, y)| TriangleMarker::new((x + 10, y), 5, red.filled()));
    }
    legend(&mut chart)
}

/// The series' legend at the lower right, as every plot of this crate
/// draws it.
pub(crate) fn legend<'a, DB: DrawingBackend + 'a>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
) -> DrawResult {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .label_font(("sans-serif", 14))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .draw()
        .map_err(|e| e.to_string())
}

fn draw<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, p: &Progress, title: &str) -> DrawResult {
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(e)?;
    let root = root.titled(title, ("sans-serif", 20)).map_err(e)?;
    let (w, _) = root.dim_in_pixel();
    let (left, right) = root.split_horizontally(w / 2);
    panel(&left, p, "evaluations", &|q: &Point| q.n)?;
    let max_secs = p.points.iter().map(|q| q.secs).fold(0.0, f64::max);
    let (unit, name) = time_unit(max_secs);
    panel(
        &right,
        p,
        &format!("time since submission ({name})"),
        &move |q: &Point| q.secs / unit,
    )?;
    root.present().map_err(e)
}

/// The plot title: the search, the number of points and failures.
pub fn title(search: &str, p: &Progress) -> String {
    let mut t = format!("search {search}: {} scored evaluations", p.points.len());
    if p.failed > 0 {
        t.push_str(&format!(", {} failed", p.failed));
    }
    t
}

/// Draw the plots as SVG (returned as text).
pub fn svg(p: &Progress, title: &str) -> Result<String, String> {
    let mut out = String::new();
    draw(
        SVGBackend::with_string(&mut out, SIZE).into_drawing_area(),
        p,
        title,
    )?;
    Ok(out)
}

/// Draw the plots as a PNG file at `path`.
pub fn png(p: &Progress, title: &str, path: &Path) -> Result<()> {
    save_png(path, SIZE, |area| draw(area, p, title))
}

/// Draw a picture of `size` pixels with `draw` in memory and save it as a
/// PNG file at `path`.
pub(crate) fn save_png(
    path: &Path,
    size: (u32, u32),
    draw: impl FnOnce(DrawingArea<BitMapBackend<'_>, Shift>) -> DrawResult,
) -> Result<()> {
    let (w, h) = size;
    let mut buf = vec![0u8; (w * h * 3) as usize];
    let error = |reason: String| ExportError::Draw {
        path: path.to_path_buf(),
        reason,
    };
    draw(BitMapBackend::with_buffer(&mut buf, size).into_drawing_area()).map_err(error)?;
    image::save_buffer(path, &buf, w, h, image::ExtendedColorType::Rgb8)
        .map_err(|e| error(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(n: f64, acc: f64) -> Point {
        Point {
            n,
            secs: n * 2.0,
            acc,
            retrained: false,
            rung: None,
        }
    }

    #[test]
    fn best_so_far_steps_up_at_each_improvement_only() {
        let mut p = Progress {
            points: vec![
                point(1.0, 50.0),
                point(2.0, 40.0),
                point(3.0, 60.0),
                point(4.0, 55.0),
            ],
            failed: 0,
        };
        p.points.push(Point {
            retrained: true,
            ..point(5.0, 99.0)
        });
        assert_eq!(
            p.best_so_far(|q| q.n),
            vec![(1.0, 50.0), (3.0, 50.0), (3.0, 60.0), (4.0, 60.0)]
        );
    }

    #[test]
    fn time_units_scale_with_the_search() {
        assert_eq!(time_unit(100.0).1, "seconds");
        assert_eq!(time_unit(1000.0).1, "minutes");
        assert_eq!(time_unit(20_000.0).1, "hours");
    }

    /// Issue 19: a multi-fidelity search's plot shows each rung as its own
    /// series; a plain search's shows candidates.
    #[test]
    fn the_plot_shows_rungs_when_the_search_has_them() {
        ensure_font().unwrap();
        let plain = Progress {
            points: vec![point(1.0, 50.0), point(2.0, 60.0)],
            failed: 0,
        };
        let svg_plain = svg(&plain, "plain").unwrap();
        assert!(svg_plain.contains("candidates") && !svg_plain.contains("rung 0"));
        let laddered = Progress {
            points: (0..6)
                .map(|i| Point {
                    rung: Some(i / 3),
                    ..point(i as f64 + 1.0, 50.0 + i as f64)
                })
                .collect(),
            failed: 0,
        };
        let svg_rungs = svg(&laddered, "rungs").unwrap();
        assert!(svg_rungs.contains("rung 0") && svg_rungs.contains("rung 1"));
        assert!(!svg_rungs.contains("rung 2") && !svg_rungs.contains(">candidates<"));
    }
}
