//! `muon-wgpu bench`'s human-readable table.

use super::BenchReport;

impl BenchReport {
    /// The shapes with repeats folded, in first-seen order: `768x3072*12,64x64x3x3`.
    fn folded_shapes(&self) -> String {
        let mut counted: Vec<(&str, usize)> = Vec::new();
        for s in &self.shapes {
            match counted.iter_mut().find(|(n, _)| n == s) {
                Some((_, c)) => *c += 1,
                None => counted.push((s, 1)),
            }
        }
        counted
            .iter()
            .map(|&(s, c)| {
                if c > 1 {
                    format!("{s}*{c}")
                } else {
                    s.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    fn steps_row(&self) -> String {
        format!(
            "{} timed after {} warm-up, {} preset, {} Newton-Schulz steps{}",
            self.steps,
            self.warmup,
            self.preset,
            self.ns_steps,
            if self.gram_form {
                ""
            } else {
                " (usual form only)"
            }
        )
    }

    fn first_step_row(&self) -> String {
        let kernel = if self.forced_kernel {
            "forced".to_string()
        } else if self.tuned_from_cache {
            "from the tuning cache".to_string()
        } else {
            format!("tuned in {:.1} ms", self.tune_ms)
        };
        format!(
            "{:.1} ms, of which pipelines {:.1} ms (kernel {}, {kernel})",
            self.first_step_ms, self.pipeline_ms, self.ns_kernel
        )
    }

    /// `(row name, value)` of the table, top to bottom.
    fn rows(&self) -> Vec<(&'static str, String)> {
        let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
        let s = &self.step_ms;
        vec![
            (
                "adapter",
                format!("{} ({}, {})", self.adapter, self.backend, self.driver),
            ),
            ("shapes", self.folded_shapes()),
            ("params", format!("{}", self.params)),
            ("steps", self.steps_row()),
            (
                "step time",
                format!(
                    "{:.2} ms median (min {:.2}, max {:.2})",
                    s.median, s.min, s.max
                ),
            ),
            (
                "Newton-Schulz",
                format!(
                    "{:.3} GFLOP per step (textbook), {:.2} GFLOP/s",
                    self.ns_gflop_per_step, self.gflops
                ),
            ),
            ("first step", self.first_step_row()),
            (
                "process CPU",
                self.cpu_ms.as_ref().map_or("n/a".into(), |c| {
                    format!(
                        "{:.1} ms per step median (all threads; a CPU adapter's work)",
                        c.median
                    )
                }),
            ),
            (
                "recording",
                format!("{:.3} ms host time per step", self.record_ms.median),
            ),
            (
                "compiles",
                self.compile_ms
                    .iter()
                    .take(4)
                    .map(|(label, ms)| format!("{label} {ms:.1} ms"))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            (
                "dispatches",
                format!(
                    "{} per step in {} submit",
                    self.dispatches_per_step, self.submits_per_step
                ),
            ),
            (
                "GPU memory",
                format!(
                    "params {:.1} MiB, state {:.1} MiB, workspace {:.1} MiB",
                    mib(self.param_bytes),
                    mib(self.state_bytes),
                    mib(self.workspace_bytes)
                ),
            ),
        ]
    }

    /// A human-readable table.
    pub fn table(&self) -> String {
        let rows = self.rows();
        let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        let mut out: String = rows
            .iter()
            .map(|(k, v)| format!("{k:<width$}  {v}\n"))
            .collect();
        for (label, count, ms) in &self.profile {
            out.push_str(&format!(
                "{:<width$}  {ms:.2} ms in {count} dispatches ({label})\n",
                "profile"
            ));
        }
        out
    }
}
