//! `muon-wgpu bench --json`: the report as one JSON object on one line (feature `cli`).
//!
//! The fields of `bench.md` in its order, then `first_step_ms` and the extras; times in ms rounded
//! to three decimals, a non-finite time as `null`; `", "` and `": "` between items, as before.

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

use super::{BenchReport, Spread};

/// A time in ms to three decimals (a non-finite one is written `null`).
fn ms<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
    if x.is_finite() {
        s.serialize_f64((x * 1000.0).round() / 1000.0)
    } else {
        s.serialize_none()
    }
}

#[derive(Serialize)]
struct Times {
    #[serde(serialize_with = "ms")]
    min: f64,
    #[serde(serialize_with = "ms")]
    median: f64,
    #[serde(serialize_with = "ms")]
    max: f64,
}

impl From<&Spread> for Times {
    fn from(s: &Spread) -> Self {
        Self {
            min: s.min,
            median: s.median,
            max: s.max,
        }
    }
}

#[derive(Serialize)]
struct GpuBytes {
    params: u64,
    state: u64,
    workspace: u64,
}

/// `{"label": ms, …}` in the report's order (slowest compile first; profile in launch order).
struct Labelled<'a>(Vec<(&'a str, f64)>);

impl Serialize for Labelled<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Ms(f64);
        impl Serialize for Ms {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                ms(&self.0, s)
            }
        }
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (label, t) in &self.0 {
            map.serialize_entry(label, &Ms(*t))?;
        }
        map.end()
    }
}

/// The JSON object, field for field.
#[derive(Serialize)]
struct Json<'a> {
    adapter: &'a str,
    backend: &'a str,
    shapes: &'a [String],
    params: u64,
    steps: usize,
    ns_steps: usize,
    step_ms: Times,
    #[serde(serialize_with = "ms")]
    ns_gflop_per_step: f64,
    #[serde(serialize_with = "ms")]
    gflops: f64,
    dispatches_per_step: usize,
    submits_per_step: usize,
    gpu_bytes: GpuBytes,
    #[serde(serialize_with = "ms")]
    first_step_ms: f64,
    #[serde(serialize_with = "ms")]
    pipeline_ms: f64,
    record_ms: Times,
    warmup: usize,
    preset: &'a str,
    driver: &'a str,
    ns_kernel: &'a str,
    tuned_from_cache: bool,
    #[serde(serialize_with = "ms")]
    tune_ms: f64,
    forced_kernel: bool,
    gram_form: bool,
    cpu_ms: Option<Times>,
    compile_ms: Labelled<'a>,
    profile_ms: Labelled<'a>,
}

/// serde_json's compact output with a space after each `,` and `:` (one line, easy to read).
struct Spaced;

impl serde_json::ser::Formatter for Spaced {
    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        if first {
            Ok(())
        } else {
            w.write_all(b", ")
        }
    }

    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.begin_array_value(w, first)
    }

    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        w.write_all(b": ")
    }
}

impl BenchReport {
    /// One JSON object (the fields of `bench.md`, then `first_step_ms` and the extras).
    pub fn to_json(&self) -> String {
        let json = Json {
            adapter: &self.adapter,
            backend: &self.backend,
            shapes: &self.shapes,
            params: self.params,
            steps: self.steps,
            ns_steps: self.ns_steps,
            step_ms: (&self.step_ms).into(),
            ns_gflop_per_step: self.ns_gflop_per_step,
            gflops: self.gflops,
            dispatches_per_step: self.dispatches_per_step,
            submits_per_step: self.submits_per_step,
            gpu_bytes: GpuBytes {
                params: self.param_bytes,
                state: self.state_bytes,
                workspace: self.workspace_bytes,
            },
            first_step_ms: self.first_step_ms,
            pipeline_ms: self.pipeline_ms,
            record_ms: (&self.record_ms).into(),
            warmup: self.warmup,
            preset: &self.preset,
            driver: &self.driver,
            ns_kernel: &self.ns_kernel,
            tuned_from_cache: self.tuned_from_cache,
            tune_ms: self.tune_ms,
            forced_kernel: self.forced_kernel,
            gram_form: self.gram_form,
            cpu_ms: self.cpu_ms.as_ref().map(Times::from),
            compile_ms: Labelled(
                self.compile_ms
                    .iter()
                    .map(|(l, t)| (l.as_str(), *t))
                    .collect(),
            ),
            profile_ms: Labelled(
                self.profile
                    .iter()
                    .map(|(l, _, t)| (l.as_str(), *t))
                    .collect(),
            ),
        };
        let mut out = Vec::new();
        json.serialize(&mut serde_json::Serializer::with_formatter(
            &mut out, Spaced,
        ))
        .expect("a report serializes");
        String::from_utf8(out).expect("serde_json writes UTF-8")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_keeps_the_spaced_one_line_layout_and_rounds_times() {
        let report = BenchReport {
            adapter: "a \"b\"".into(),
            shapes: vec!["2x3".into(), "4x5".into()],
            step_ms: Spread::of(&[1.23456, 2.0]),
            gflops: f64::NAN,
            compile_ms: vec![("z".into(), 2.0), ("a".into(), 1.0)],
            ..Default::default()
        };
        let json = report.to_json();
        assert!(json.starts_with("{\"adapter\": \"a \\\"b\\\"\", \"backend\": \"\", "));
        assert!(json.contains("\"shapes\": [\"2x3\", \"4x5\"], \"params\": 0"));
        assert!(json.contains("\"step_ms\": {\"min\": 1.235, \"median\": 1.617, \"max\": 2.0}"));
        assert!(json.contains("\"gflops\": null"));
        assert!(json.contains("\"cpu_ms\": null, \"compile_ms\": {\"z\": 2.0, \"a\": 1.0}"));
        assert!(json.ends_with("\"profile_ms\": {}}"));
        let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(parsed["gpu_bytes"]["workspace"], 0);
    }
}
