//! Line plots as SVG (plotters), for figures where a picture beats a table.

use std::path::Path;

use anyhow::Context;
use plotters::prelude::*;

/// One named series of y values at x = 0, 1, 2, ...
pub struct Series<'a> {
    /// Legend label.
    pub name: &'a str,
    /// Values.
    pub ys: &'a [f32],
}

const COLOURS: [RGBColor; 7] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
];

/// Draw the series to an SVG file, written to a temporary path and renamed.
pub fn lines(path: &Path, title: &str, x_label: &str, series: &[Series]) -> anyhow::Result<()> {
    let n = series.iter().map(|s| s.ys.len()).max().unwrap_or(0).max(2);
    let (mut lo, mut hi) = series
        .iter()
        .flat_map(|s| s.ys.iter().copied())
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), y| {
            (a.min(y), b.max(y))
        });
    if !lo.is_finite() || !hi.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    if hi - lo < 1e-6 {
        hi = lo + 1.0;
    }
    let pad = 0.05 * (hi - lo);
    let tmp = path.with_extension("svg.part");
    {
        let root = SVGBackend::new(&tmp, (900, 480)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(0f32..(n - 1) as f32, (lo - pad)..(hi + pad))?;
        chart.configure_mesh().x_desc(x_label).draw()?;
        for (i, s) in series.iter().enumerate() {
            let colour = COLOURS[i % COLOURS.len()];
            chart
                .draw_series(LineSeries::new(
                    s.ys.iter().enumerate().map(|(x, &y)| (x as f32, y)),
                    colour.stroke_width(2),
                ))?
                .label(s.name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], colour.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
        root.present()?;
    }
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
