//! Plots as SVG (plotters), for figures where a picture beats a table.
//! Every file is drawn under a temporary name and renamed.

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

/// One named series of (x, y) points.
pub struct XySeries<'a> {
    /// Legend label.
    pub name: &'a str,
    /// Points, in x order.
    pub points: &'a [(f32, f32)],
}

/// One group of bars: a label on the x axis and one value per series.
pub struct BarGroup<'a> {
    /// Category label.
    pub label: &'a str,
    /// One value per series (NaN draws nothing).
    pub values: Vec<f32>,
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

fn range(values: impl Iterator<Item = f32>) -> (f32, f32) {
    let (mut lo, mut hi) = values
        .filter(|v| v.is_finite())
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), y| {
            (a.min(y), b.max(y))
        });
    if !lo.is_finite() || !hi.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    if hi - lo < 1e-6 {
        hi = lo + 1.0;
    }
    (lo, hi)
}

fn finish(tmp: &Path, path: &Path) -> anyhow::Result<()> {
    std::fs::rename(tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

/// Draw the series (x = index) to an SVG file.
pub fn lines(path: &Path, title: &str, x_label: &str, series: &[Series]) -> anyhow::Result<()> {
    let owned: Vec<Vec<(f32, f32)>> = series
        .iter()
        .map(|s| {
            s.ys.iter()
                .enumerate()
                .map(|(x, &y)| (x as f32, y))
                .collect()
        })
        .collect();
    let xy: Vec<XySeries> = series
        .iter()
        .zip(&owned)
        .map(|(s, p)| XySeries {
            name: s.name,
            points: p,
        })
        .collect();
    xy_lines(path, title, x_label, &xy)
}

/// Draw (x, y) series to an SVG file.
pub fn xy_lines(
    path: &Path,
    title: &str,
    x_label: &str,
    series: &[XySeries],
) -> anyhow::Result<()> {
    let (x0, x1) = range(series.iter().flat_map(|s| s.points.iter().map(|p| p.0)));
    let (lo, hi) = range(series.iter().flat_map(|s| s.points.iter().map(|p| p.1)));
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
            .build_cartesian_2d(x0..x1, (lo - pad)..(hi + pad))?;
        chart.configure_mesh().x_desc(x_label).draw()?;
        for (i, s) in series.iter().enumerate() {
            let colour = COLOURS[i % COLOURS.len()];
            chart
                .draw_series(LineSeries::new(
                    s.points.iter().copied(),
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
    finish(&tmp, path)
}

/// Draw grouped bars (one colour per series name) to an SVG file.
pub fn bars(
    path: &Path,
    title: &str,
    y_label: &str,
    names: &[&str],
    groups: &[BarGroup],
) -> anyhow::Result<()> {
    let (_, hi) = range(
        groups
            .iter()
            .flat_map(|g| g.values.iter().copied())
            .chain([0.0]),
    );
    let n = groups.len().max(1);
    let k = names.len().max(1) as f32;
    let tmp = path.with_extension("svg.part");
    {
        let root = SVGBackend::new(&tmp, (120 + 70 * n as u32, 480)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(80)
            .y_label_area_size(56)
            .build_cartesian_2d(0f32..n as f32, 0f32..hi * 1.1)?;
        let labels: Vec<String> = groups.iter().map(|g| g.label.to_string()).collect();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .y_desc(y_label)
            .x_labels(n * 2 + 1)
            .x_label_formatter(&|x| {
                let i = x.floor() as usize;
                if (x - i as f32 - 0.5).abs() < 0.01 {
                    labels.get(i).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .draw()?;
        for (j, name) in names.iter().enumerate() {
            let colour = COLOURS[j % COLOURS.len()];
            let w = 0.8 / k;
            chart
                .draw_series(groups.iter().enumerate().filter_map(|(i, g)| {
                    let v = *g.values.get(j)?;
                    v.is_finite().then(|| {
                        let x = i as f32 + 0.1 + j as f32 * w;
                        Rectangle::new([(x, 0.0), (x + w * 0.95, v)], colour.filled())
                    })
                }))?
                .label(*name)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 12, y + 5)], colour.filled())
                });
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
        root.present()?;
    }
    finish(&tmp, path)
}
