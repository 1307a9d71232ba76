//! A small SVG writer: rectangles, text, paths with arrowheads, written
//! straight into a string, every attribute value and text escaped.

use std::fmt::Write;

/// The font every text of the cell pictures is set in (any sans-serif
/// works: the layout measures text with [`text_width`], not the font).
pub const FONT: &str = "DejaVu Sans, Verdana, Arial, sans-serif";

/// Width of `text` at `size` pixels, estimated (DejaVu Sans averages about
/// 0.6 em per character over these labels).
pub fn text_width(text: &str, size: f64) -> f64 {
    text.chars().count() as f64 * size * 0.6
}

/// `text` with the five XML special characters escaped.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// An SVG document being drawn.
#[derive(Debug, Default)]
pub struct Svg {
    body: String,
}

/// How a text is anchored at its x.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    /// x is the left end.
    Start,
    /// x is the middle.
    Middle,
}

impl Svg {
    /// A filled, outlined rectangle with rounded corners `r`.
    #[allow(clippy::too_many_arguments)]
    pub fn rect(&mut self, x: f64, y: f64, w: f64, h: f64, r: f64, fill: &str, stroke: &str) {
        let _ = writeln!(
            self.body,
            r#"<rect x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}" rx="{r:.1}" fill="{}" stroke="{}" stroke-width="1.2"/>"#,
            escape(fill),
            escape(stroke)
        );
    }

    /// A circle.
    pub fn circle(&mut self, cx: f64, cy: f64, r: f64, fill: &str, stroke: &str) {
        let _ = writeln!(
            self.body,
            r#"<circle cx="{cx:.1}" cy="{cy:.1}" r="{r:.1}" fill="{}" stroke="{}" stroke-width="1.2"/>"#,
            escape(fill),
            escape(stroke)
        );
    }

    /// One line of text with its baseline's middle (or start) at (x, y).
    pub fn text(&mut self, x: f64, y: f64, size: f64, anchor: Anchor, color: &str, text: &str) {
        let anchor = match anchor {
            Anchor::Start => "start",
            Anchor::Middle => "middle",
        };
        let _ = writeln!(
            self.body,
            r#"<text x="{x:.1}" y="{y:.1}" font-size="{size:.1}" text-anchor="{anchor}" fill="{}">{}</text>"#,
            escape(color),
            escape(text)
        );
    }

    /// A path (SVG path data `d`), with an arrowhead at its end if `arrow`.
    pub fn path(&mut self, d: &str, color: &str, dashed: bool, arrow: bool) {
        let _ = writeln!(
            self.body,
            r#"<path d="{}" fill="none" stroke="{}" stroke-width="1.3"{}{}/>"#,
            escape(d),
            escape(color),
            if dashed {
                r#" stroke-dasharray="5,4""#
            } else {
                ""
            },
            if arrow {
                r#" marker-end="url(#arrow)""#
            } else {
                ""
            }
        );
    }

    /// The document, `width` x `height` pixels on a white background, with
    /// a `<title>` for viewers.
    pub fn finish(self, width: f64, height: f64, title: &str) -> String {
        format!(
            r##"<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="{font}">
<title>{title}</title>
<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#444"/></marker></defs>
<rect x="0" y="0" width="{width:.0}" height="{height:.0}" fill="white"/>
{body}</svg>
"##,
            font = escape(FONT),
            title = escape(title),
            body = self.body
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&apos;&amp;&apos;&lt;/a&gt;"
        );
    }
}
