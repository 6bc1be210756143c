//! The two runs of a race, Muon + AdamW against AdamW alone, and their settings.

use muon_wgpu::{Overrides, Preset, Settings};

/// Learning rates of one run; `muon: None` is AdamW alone.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rates {
    pub muon: Option<f64>,
    pub adam: f64,
}

impl Rates {
    pub fn name(&self) -> &'static str {
        if self.muon.is_some() {
            "Muon + AdamW"
        } else {
            "AdamW"
        }
    }

    /// The name in JSON output: `muon+adamw` or `adamw`.
    pub fn json_name(&self) -> &'static str {
        if self.muon.is_some() {
            "muon+adamw"
        } else {
            "adamw"
        }
    }

    pub fn describe(&self) -> String {
        match self.muon {
            Some(m) => format!("muon {m}, adamw {}", self.adam),
            None => format!("adamw {}", self.adam),
        }
    }

    /// PyTorch semantics (torch.optim.Muon + torch.optim.AdamW) with no weight decay in either
    /// run, so that the only difference between the runs is the optimizer of the Muon matrices.
    pub fn settings(&self) -> muon_wgpu::Result<Settings> {
        Preset::Torch.settings(&Overrides {
            lr: Some(self.muon.unwrap_or(0.02)),
            adam_lr: Some(self.adam),
            weight_decay: Some(0.0),
            adam_weight_decay: Some(0.0),
            ..Default::default()
        })
    }
}

/// The learning-rate flags of a race.
#[derive(clap::Args, Debug, Clone)]
pub struct RateArgs {
    /// Muon's learning rate (the Muon matrices) [default: the sweep's best].
    #[arg(long)]
    pub muon_lr: Option<f64>,
    /// AdamW's learning rate next to Muon (the other parameters) [default: the sweep's best].
    #[arg(long)]
    pub aux_lr: Option<f64>,
    /// The AdamW-only baseline's learning rate [default: the sweep's best].
    #[arg(long)]
    pub adamw_lr: Option<f64>,
}

impl RateArgs {
    /// `(Muon + AdamW, AdamW alone)`: the flags given, else `defaults`.
    pub fn race(&self, (muon, adamw): (Rates, Rates)) -> (Rates, Rates) {
        (
            Rates {
                muon: Some(self.muon_lr.unwrap_or(muon.muon.expect("a Muon rate"))),
                adam: self.aux_lr.unwrap_or(muon.adam),
            },
            Rates {
                muon: None,
                adam: self.adamw_lr.unwrap_or(adamw.adam),
            },
        )
    }
}

/// `(rate, score)` of each rate of `grid`, the run's rates being `rates(rate)`, in grid order.
pub fn score_grid<S>(
    grid: &[f64],
    rates: impl Fn(f64) -> Rates,
    mut score: impl FnMut(Rates) -> muon_wgpu::Result<S>,
) -> muon_wgpu::Result<Vec<(f64, S)>> {
    grid.iter().map(|&lr| Ok((lr, score(rates(lr))?))).collect()
}
