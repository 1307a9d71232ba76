//! Comparison plots: several series of a mean with a band around it
//! against a common x axis (mean pick quality against evaluations, one
//! series per strategy, in `nas bench search`), with an optional reference
//! line, as PNG and SVG with plotters. Shares the font and the PNG encoding
//! of [`crate::progress`].

use crate::error::{ExportError, Result};
use crate::progress::{ensure_font, legend, save_png};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

/// Width and height in pixels.
pub const SIZE: (u32, u32) = (1000, 620);

/// One series: per x, the mean and the band's low and high ends.
#[derive(Debug, Clone, PartialEq)]
pub struct Curve {
    /// Its name in the legend.
    pub name: String,
    /// (x, mean, low, high), x increasing.
    pub points: Vec<(f64, f64, f64, f64)>,
}

/// What one plot shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Curves {
    /// The title.
    pub title: String,
    /// The x axis' description.
    pub x_desc: String,
    /// The y axis' description.
    pub y_desc: String,
    /// The series, drawn in order.
    pub curves: Vec<Curve>,
    /// A horizontal reference line: its name and y.
    pub reference: Option<(String, f64)>,
    /// The y range shown, bands clipped to it (the wide band of an early,
    /// bad start would otherwise squash the part that matters); `None`: fit
    /// every band.
    pub y_range: Option<(f64, f64)>,
}

/// Distinct colours for up to ten series (then they repeat).
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

fn draw<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, c: &Curves) -> Result<(), String> {
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(e)?;
    let all = (c.curves.iter()).flat_map(|s| s.points.iter());
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    let mut x_max: f64 = 1.0;
    for &(x, _, l, h) in all {
        lo = lo.min(l);
        hi = hi.max(h);
        x_max = x_max.max(x);
    }
    if let Some((_, y)) = &c.reference {
        lo = lo.min(*y);
        hi = hi.max(*y);
    }
    if !lo.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    if let Some((floor, ceiling)) = c.y_range {
        (lo, hi) = (floor, ceiling);
    }
    let pad = ((hi - lo) * 0.02).max(1e-3);
    let mut chart = ChartBuilder::on(&root)
        .caption(&c.title, ("sans-serif", 20))
        .margin(14)
        .x_label_area_size(44)
        .y_label_area_size(62)
        .build_cartesian_2d(0.0..x_max, (lo - pad)..(hi + pad))
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc(c.x_desc.as_str())
        .y_desc(c.y_desc.as_str())
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&|v| format!("{v:.1}"))
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 15))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(e)?;
    let clamp = |y: f64| y.clamp(lo - pad, hi + pad);
    for (i, s) in c.curves.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        // The band: the high ends left to right, then the low ends back.
        let band: Vec<(f64, f64)> = (s.points.iter().map(|p| (p.0, clamp(p.3))))
            .chain(s.points.iter().rev().map(|p| (p.0, clamp(p.2))))
            .collect();
        chart
            .draw_series(std::iter::once(Polygon::new(
                band,
                colour.mix(0.15).filled(),
            )))
            .map_err(e)?;
        chart
            .draw_series(LineSeries::new(
                s.points.iter().map(|p| (p.0, clamp(p.1))),
                colour.stroke_width(2),
            ))
            .map_err(e)?
            .label(s.name.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
            });
    }
    if let Some((name, y)) = &c.reference {
        chart
            .draw_series(LineSeries::new(
                [(0.0, *y), (x_max, *y)],
                BLACK.mix(0.6).stroke_width(1),
            ))
            .map_err(e)?
            .label(name.as_str())
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.mix(0.6)));
    }
    legend(&mut chart)?;
    root.present().map_err(e)
}

/// The plot as SVG text.
pub fn svg(c: &Curves) -> Result<String> {
    ensure_font()?;
    let mut out = String::new();
    draw(
        SVGBackend::with_string(&mut out, SIZE).into_drawing_area(),
        c,
    )
    .map_err(|reason| ExportError::Draw {
        path: "curves.svg".into(),
        reason,
    })?;
    Ok(out)
}

/// The plot as a PNG file at `path`.
pub fn png(c: &Curves, path: &Path) -> Result<()> {
    ensure_font()?;
    save_png(path, SIZE, |area| draw(area, c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_series_and_the_reference_are_drawn_and_named() {
        let curve = |name: &str, base: f64| Curve {
            name: name.into(),
            points: (1..=50)
                .map(|x| {
                    let m = base + (x as f64).ln();
                    (x as f64, m, m - 0.5, m + 0.5)
                })
                .collect(),
        };
        let c = Curves {
            title: "mean pick against evaluations".into(),
            x_desc: "evaluations".into(),
            y_desc: "val acc (%)".into(),
            curves: vec![curve("random", 85.0), curve("bananas", 86.0)],
            reference: Some(("optimum".into(), 91.61)),
            y_range: Some((80.0, 92.0)),
        };
        let text = svg(&c).unwrap();
        let doc = roxmltree::Document::parse(&text).unwrap();
        let texts: Vec<&str> = (doc.descendants())
            .filter_map(|n| n.text())
            .map(str::trim)
            .collect();
        for name in ["random", "bananas", "optimum", "evaluations"] {
            assert!(texts.contains(&name), "{name} in {texts:?}");
        }
        let polygons = doc
            .descendants()
            .filter(|n| n.has_tag_name("polygon"))
            .count();
        assert!(polygons >= 2, "a band per series: {polygons}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.png");
        png(&c, &path).unwrap();
        let img = image::open(&path).unwrap();
        assert_eq!((img.width(), img.height()), SIZE);
    }
}
