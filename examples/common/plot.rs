//! The curves' PNG: its frame (directory, embedded font, atomic write) and the pieces both
//! examples draw (smoothed training loss, dashed evaluation curve, legend box).

use std::path::Path;

use muon_wgpu::Error;
use plotters::coord::ranged1d::AsRangedCoord;
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;

pub type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;
pub type DrawResult = Result<(), Box<dyn std::error::Error>>;

/// The two runs' colours: Muon + AdamW red, AdamW blue.
pub const COLORS: [RGBColor; 2] = [RGBColor(214, 39, 40), RGBColor(31, 119, 180)];

/// Centered moving average over `2·half + 1` steps (shorter at the ends): a readable training
/// loss curve that does not lag behind the evaluation curve.
pub fn smooth(values: &[f64], half: usize) -> Vec<f64> {
    (0..values.len())
        .map(|i| {
            let window = &values[i.saturating_sub(half)..(i + half + 1).min(values.len())];
            window.iter().sum::<f64>() / window.len() as f64
        })
        .collect()
}

/// Each run's training loss smoothed over 21 steps, and the range `(lo, hi)` of those and of
/// the `evaluations`, over the values `keep` accepts.
pub fn smoothed_losses<'a>(
    train: impl Iterator<Item = &'a [f64]>,
    evaluations: impl Iterator<Item = f64>,
    keep: impl Fn(f64) -> bool,
) -> (Vec<Vec<f64>>, (f64, f64)) {
    let smoothed: Vec<Vec<f64>> = train.map(|t| smooth(t, 10)).collect();
    let range = smoothed
        .iter()
        .flatten()
        .copied()
        .chain(evaluations)
        .filter(|&v| keep(v))
        .fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    (smoothed, range)
}

/// Draws a `size` PNG at `path` with `draw` on a white page, into a temporary file next to it
/// renamed over it when whole; text uses a font shipped in a crate (no system fonts needed).
pub fn write_png(
    path: &Path,
    size: (u32, u32),
    draw: impl Fn(&Area) -> DrawResult,
) -> muon_wgpu::Result<()> {
    let io_error = |e: Box<dyn std::error::Error>| Error::Io {
        path: path.display().to_string(),
        source: std::io::Error::other(e.to_string()),
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            path: dir.display().to_string(),
            source,
        })?;
    }
    plotters::style::register_font(
        "sans-serif",
        FontStyle::Normal,
        epaint_default_fonts::HACK_REGULAR,
    )
    .map_err(|_| io_error("the embedded font does not parse".into()))?;
    let page = |temp: &Path| -> DrawResult {
        let root = BitMapBackend::new(temp, size).into_drawing_area();
        root.fill(&WHITE)?;
        draw(&root)?;
        root.present()?;
        Ok(())
    };
    muon_wgpu::io::atomic_file::replace_with(path, |temp| page(temp).map_err(io_error))
}

pub type Chart<'a, 'b, Y> = ChartContext<'a, BitMapBackend<'b>, Cartesian2d<RangedCoordf64, Y>>;

/// A chart of `steps` on `area` with the common margins and axis label areas, its caption in
/// `caption_size` pixels.
pub fn chart<'a, 'b, Y: AsRangedCoord<Value = f64>>(
    area: &'a Area<'b>,
    (caption, caption_size): (&str, u32),
    steps: usize,
    y: Y,
) -> Result<Chart<'a, 'b, Y::CoordDescType>, Box<dyn std::error::Error>> {
    Ok(ChartBuilder::on(area)
        .margin(16)
        .caption(caption, ("sans-serif", caption_size))
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(0f64..steps as f64, y)?)
}

/// A solid curve of width 2 with its legend entry.
pub fn line<Y: Ranged<ValueType = f64>>(
    chart: &mut Chart<'_, '_, Y>,
    points: impl IntoIterator<Item = (f64, f64)>,
    color: RGBColor,
    label: String,
) -> DrawResult {
    chart
        .draw_series(LineSeries::new(points, color.stroke_width(2)))?
        .label(label)
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 24, y)], color.stroke_width(2)));
    Ok(())
}

/// A dashed curve of width 2 (the evaluations) with its legend entry.
pub fn dashed<Y: Ranged<ValueType = f64>, P>(
    chart: &mut Chart<'_, '_, Y>,
    points: P,
    color: RGBColor,
    label: String,
) -> DrawResult
where
    P: IntoIterator<Item = (f64, f64)>,
    P::IntoIter: Clone,
{
    chart
        .draw_series(DashedLineSeries::new(points, 8, 5, color.stroke_width(2)))?
        .label(label)
        .legend(move |(x, y)| {
            DashedPathElement::new([(x, y), (x + 24, y)], 6, 4, color.stroke_width(2))
        });
    Ok(())
}

/// The legend box at `position`.
pub fn legend<'a, 'b: 'a, Y: Ranged<ValueType = f64>>(
    chart: &mut Chart<'a, 'b, Y>,
    position: SeriesLabelPosition,
) -> DrawResult {
    chart
        .configure_series_labels()
        .label_font(("sans-serif", 16))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.3))
        .position(position)
        .draw()?;
    Ok(())
}
