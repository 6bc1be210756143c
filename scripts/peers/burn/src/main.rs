//! Throwaway harness (scripts/peers/run.sh builds it outside the repository): burn-optim 0.22.1 Muon on burn-wgpu (autotune + fusion, the defaults),
//! timing whole optimizer steps over a set of shapes, each step ending with `device.sync()`.
//! Usage: burn-muon-bench <nano|gpt2-small|conv|RxC,...> <steps> <warmup>
//! Run with BURN_DEVICE=wgpu: burn-wgpu with WGSL shaders, on Vulkan where the machine has it.
use burn::optim::{MuonConfig, Optimizer};
use burn::tensor::{Device, Distribution, Tensor};
use std::time::Instant;

fn shapes(model: &str) -> Vec<[usize; 2]> {
    let rep = |s: &[[usize; 2]], n: usize| -> Vec<[usize; 2]> {
        (0..n).flat_map(|_| s.iter().copied()).collect()
    };
    match model {
        "nano" => rep(&[[256, 768], [256, 256], [256, 1024], [1024, 256]], 4),
        "gpt2-small" => rep(&[[768, 2304], [768, 768], [768, 3072], [3072, 768]], 12),
        "conv" => {
            let mut v = vec![[64, 64 * 9]; 4];
            v.extend(vec![[128, 128 * 9]; 4]);
            v
        }
        list => list
            .split(',')
            .map(|s| {
                let mut it = s.split('x').map(|d| d.parse().unwrap());
                [it.next().unwrap(), it.next().unwrap()]
            })
            .collect(),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let model = args.get(1).map(String::as_str).unwrap_or("nano");
    let steps: usize = args.get(2).map(|s| s.parse().unwrap()).unwrap_or(5);
    let warmup: usize = args.get(3).map(|s| s.parse().unwrap()).unwrap_or(1);
    let shapes = shapes(model);
    let device = Device::default();
    eprintln!("device: {device:?}");
    let muon = MuonConfig::new().build();
    let mut params: Vec<Tensor<2>> = shapes
        .iter()
        .map(|s| Tensor::random(*s, Distribution::Normal(0.0, 0.02), &device))
        .collect();
    let grads: Vec<Tensor<2>> = shapes
        .iter()
        .map(|s| Tensor::random(*s, Distribution::Normal(0.0, 1.0), &device))
        .collect();
    let mut states: Vec<Option<_>> = vec![None; shapes.len()];
    device.sync().unwrap();
    let mut times = Vec::new();
    for i in 0..warmup + steps {
        let t = Instant::now();
        for k in 0..shapes.len() {
            let (p, s) = muon.step(0.02, params[k].clone(), grads[k].clone(), states[k].take());
            params[k] = p;
            states[k] = s;
        }
        device.sync().unwrap();
        let ms = t.elapsed().as_secs_f64() * 1e3;
        eprintln!("step {i}: {ms:.1} ms");
        if i == 0 {
            println!("first_step_ms {ms:.1}");
        }
        if i >= warmup {
            times.push(ms);
        }
    }
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let ns_gflop: f64 = shapes
        .iter()
        .map(|s| {
            let (m, n) = (s[0].min(s[1]) as f64, s[0].max(s[1]) as f64);
            5.0 * (2.0 * m * m * n + 2.0 * m * m * m + 2.0 * m * m * n)
        })
        .sum::<f64>()
        / 1e9;
    let med = times[times.len() / 2];
    println!(
        "model {model} steps {steps} step_ms min {:.1} median {med:.1} max {:.1} ns_gflop {ns_gflop:.3} gflops {:.2}",
        times[0],
        times[times.len() - 1],
        ns_gflop / (med / 1e3)
    );
}
