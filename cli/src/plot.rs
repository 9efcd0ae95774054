//! Plots (SVG and PNG) with plotters.

use alps_probes::Record;
use anyhow::{anyhow, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

const COLORS: [RGBColor; 6] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
];

fn e<E: std::fmt::Debug>(err: E) -> anyhow::Error {
    anyhow!("{err:?}")
}

/// Latency CDFs: one panel per class, one line per policy, FCT on a log
/// axis. Writes `<stem>.svg` and `<stem>.png`.
pub fn latency_cdfs(by_policy: &BTreeMap<String, Vec<Record>>, stem: &Path) -> Result<()> {
    let svg = stem.with_extension("svg");
    let png = stem.with_extension("png");
    let classes: BTreeSet<&str> = by_policy
        .values()
        .flat_map(|v| v.iter().map(|r| r.class.as_str()))
        .collect();
    let classes: Vec<&str> = classes.into_iter().collect();
    let cols = 3usize;
    let rows = classes.len().div_ceil(cols).max(1);
    let size = (420 * cols as u32, 300 * rows as u32);
    {
        let root = SVGBackend::new(&svg, size).into_drawing_area();
        draw_cdfs(&root, by_policy, &classes, rows, cols)?;
        root.present().map_err(e)?;
    }
    {
        let root = BitMapBackend::new(&png, size).into_drawing_area();
        draw_cdfs(&root, by_policy, &classes, rows, cols)?;
        root.present().map_err(e)?;
    }
    Ok(())
}

fn draw_cdfs<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    by_policy: &BTreeMap<String, Vec<Record>>,
    classes: &[&str],
    rows: usize,
    cols: usize,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(e)?;
    let panels = root.split_evenly((rows, cols));
    for (panel, class) in panels.iter().zip(classes) {
        let mut series: Vec<(&str, Vec<f64>)> = Vec::new();
        for (p, recs) in by_policy {
            let mut v: Vec<f64> = recs
                .iter()
                .filter(|r| r.class == *class)
                .map(|r| r.fct_ns() as f64 / 1e6)
                .filter(|x| *x > 0.0)
                .collect();
            v.sort_by(f64::total_cmp);
            if !v.is_empty() {
                series.push((p.as_str(), v));
            }
        }
        let lo = series.iter().map(|s| s.1[0]).fold(f64::INFINITY, f64::min);
        let hi = series
            .iter()
            .map(|s| *s.1.last().unwrap())
            .fold(0.0f64, f64::max);
        if !lo.is_finite() || hi <= 0.0 {
            continue;
        }
        let (lo, hi) = (lo * 0.9, hi * 1.1);
        let mut chart = ChartBuilder::on(panel)
            .caption(*class, ("sans-serif", 18))
            .margin(8)
            .x_label_area_size(32)
            .y_label_area_size(40)
            .build_cartesian_2d((lo..hi).log_scale(), 0.0..1.0)
            .map_err(e)?;
        chart
            .configure_mesh()
            .x_desc("FCT (ms)")
            .y_desc("CDF")
            .x_labels(5)
            .y_labels(5)
            .draw()
            .map_err(e)?;
        for (i, (p, v)) in series.iter().enumerate() {
            let n = v.len() as f64;
            let color = COLORS[i % COLORS.len()];
            chart
                .draw_series(LineSeries::new(
                    v.iter().enumerate().map(|(k, x)| (*x, (k + 1) as f64 / n)),
                    color.stroke_width(2),
                ))
                .map_err(e)?
                .label(*p)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(e)?;
    }
    Ok(())
}

/// A grouped bar chart: for each x label, one bar per series. Used by the
/// paper and the ablations.
pub fn bars(
    title: &str,
    y_desc: &str,
    labels: &[String],
    series: &[(String, Vec<f64>)],
    stem: &Path,
) -> Result<()> {
    let svg = stem.with_extension("svg");
    let png = stem.with_extension("png");
    let size = ((120 * labels.len().max(4)) as u32 + 200, 420);
    {
        let root = SVGBackend::new(&svg, size).into_drawing_area();
        draw_bars(&root, title, y_desc, labels, series)?;
        root.present().map_err(e)?;
    }
    {
        let root = BitMapBackend::new(&png, size).into_drawing_area();
        draw_bars(&root, title, y_desc, labels, series)?;
        root.present().map_err(e)?;
    }
    Ok(())
}

fn draw_bars<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    y_desc: &str,
    labels: &[String],
    series: &[(String, Vec<f64>)],
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(e)?;
    let ymax = series
        .iter()
        .flat_map(|s| s.1.iter().copied())
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max)
        * 1.15;
    let ymax = if ymax > 0.0 { ymax } else { 1.0 };
    let n = labels.len();
    let k = series.len().max(1);
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 20))
        .margin(10)
        .x_label_area_size(60)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..n as f64, 0.0..ymax)
        .map_err(e)?;
    let labels_owned = labels.to_vec();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n.max(1))
        .x_label_formatter(&move |x| {
            let i = x.floor() as usize;
            if (*x - i as f64 - 0.5).abs() < 0.26 {
                labels_owned.get(i).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .y_desc(y_desc)
        .draw()
        .map_err(e)?;
    let w = 0.8 / k as f64;
    for (si, (name, vals)) in series.iter().enumerate() {
        let color = COLORS[si % COLORS.len()];
        chart
            .draw_series(
                vals.iter()
                    .enumerate()
                    .filter(|(_, v)| v.is_finite())
                    .map(|(i, v)| {
                        let x0 = i as f64 + 0.1 + si as f64 * w;
                        Rectangle::new([(x0, 0.0), (x0 + w * 0.95, *v)], color.filled())
                    }),
            )
            .map_err(e)?
            .label(name.as_str())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(e)?;
    Ok(())
}
