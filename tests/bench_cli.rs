//! `muon-wgpu bench` and `tune`: shape sets, the textbook count, and the commands' output.

mod common;

use muon_wgpu::bench::{model_shapes, ns_gflop, parse_shapes, Spread};

#[test]
fn shape_lists_parse_with_repeats_and_conv_filters() {
    let s = parse_shapes("768x3072, 3072x768*2,64x64x3x3").unwrap();
    assert_eq!(
        s,
        vec![
            vec![768, 3072],
            vec![3072, 768],
            vec![3072, 768],
            vec![64, 64, 3, 3]
        ]
    );
    for bad in ["", "768", "0x5", "3x4x5", "axb", "4x4*z"] {
        assert!(parse_shapes(bad).is_err(), "{bad} should not parse");
    }
}

#[test]
fn named_models_have_the_documented_shapes() {
    let gpt2 = model_shapes("gpt2-small").unwrap();
    assert_eq!(gpt2.len(), 48);
    let params: usize = gpt2.iter().map(|s| s.iter().product::<usize>()).sum();
    assert_eq!(params, 84_934_656);
    assert_eq!(model_shapes("nano").unwrap().len(), 16);
    let conv = model_shapes("conv").unwrap();
    assert_eq!(conv.len(), 8);
    assert!(conv.iter().all(|s| s.len() == 4));
    assert!(model_shapes("gpt5").is_none());
}

#[test]
fn textbook_count_views_every_matrix_with_m_at_most_n() {
    // 2·m²·n + 2·m³ + 2·m²·n per iteration, m = 256, n = 768, 5 iterations.
    let per = 4.0 * 256f64.powi(2) * 768.0 + 2.0 * 256f64.powi(3);
    let want = 5.0 * per / 1e9;
    for shape in [[256, 768], [768, 256]] {
        let got = ns_gflop(&[shape.to_vec()], 5);
        assert!((got - want).abs() < 1e-12, "{shape:?}: {got} vs {want}");
    }
    // A conv filter is viewed as out × (in·h·w).
    let conv = ns_gflop(&[vec![64, 64, 3, 3]], 1);
    let want = (4.0 * 64f64.powi(2) * 576.0 + 2.0 * 64f64.powi(3)) / 1e9;
    assert!((conv - want).abs() < 1e-12);
}

#[test]
fn spread_takes_min_median_and_max() {
    let s = Spread::of(&[3.0, 1.0, 2.0, 10.0]);
    assert_eq!((s.min, s.median, s.max), (1.0, 2.5, 10.0));
}

#[test]
fn bench_json_is_one_object_on_stdout_with_every_field() {
    // Small shapes, so it runs on any adapter present (lavapipe here).
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_muon-wgpu"))
        .args([
            "bench",
            "--shapes",
            "64x96,96x64,64x96,10x3x3x3",
            "--steps",
            "2",
            "--warmup",
            "1",
            "--json",
            "--backend",
            "any",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let json = stdout.trim();
    assert_eq!(json.lines().count(), 1, "one line on stdout: {stdout}");
    assert!(json.starts_with('{') && json.ends_with('}'), "{json}");
    for key in [
        "\"adapter\":",
        "\"backend\":",
        "\"shapes\": [\"64x96\", \"96x64\", \"64x96\", \"10x3x3x3\"]",
        "\"params\": 18702",
        "\"steps\": 2",
        "\"ns_steps\": 5",
        "\"step_ms\": {\"min\":",
        "\"ns_gflop_per_step\":",
        "\"gflops\":",
        "\"dispatches_per_step\":",
        "\"submits_per_step\": 1",
        "\"gpu_bytes\": {\"params\":",
        "\"workspace\":",
        "\"first_step_ms\":",
        "\"pipeline_ms\":",
        "\"compile_ms\": {\"",
    ] {
        assert!(json.contains(key), "missing {key} in {json}");
    }
    // Pipeline creation (and tuning) is part of the cold start, and a fresh process pays some.
    let number = |key: &str| -> f64 {
        let at = json.find(&format!("\"{key}\": ")).expect(key) + key.len() + 4;
        let end = at + json[at..].find([',', '}']).expect("a number");
        json[at..end]
            .parse()
            .unwrap_or_else(|e| panic!("{key}: {e} in {json}"))
    };
    let (pipelines, first) = (number("pipeline_ms"), number("first_step_ms"));
    assert!(
        pipelines > 0.0 && pipelines <= first,
        "pipeline_ms {pipelines} should be within first_step_ms {first}"
    );
    // Balanced braces and quotes: a cheap check that it is well-formed.
    assert_eq!(json.matches('{').count(), json.matches('}').count());
    assert_eq!(json.matches('"').count() % 2, 0);
}

#[test]
fn bench_refuses_big_work_on_gl_and_unknown_models() {
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_muon-wgpu"))
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["bench", "--model", "gpt5"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown model"));
    let has_gl = common::adapters().iter().any(|a| common::is_gl(&a.ctx));
    if has_gl {
        let out = run(&["bench", "--model", "gpt2-small", "--backend", "gl"]);
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("GL"));
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn tune_times_every_candidate_and_remembers_the_winner() {
    let cache = std::env::temp_dir().join(format!("muon-wgpu-tune-{}.tsv", std::process::id()));
    let _ = std::fs::remove_file(&cache);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_muon-wgpu"))
        .args(["tune", "--backend", "any"])
        .env("MUON_WGPU_TUNE_CACHE", &cache)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Every candidate is timed (no budget) and correct, and the chosen one is among them.
    let timed: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("  ") && l.trim_end().ends_with(" ms"))
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert!(
        !timed.is_empty() && !stdout.contains("wrong result"),
        "{stdout}"
    );
    let chosen = stdout
        .lines()
        .find_map(|l| l.strip_prefix("chosen: "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no choice in {stdout}"));
    assert!(timed.contains(&chosen), "{stdout}");
    let remembered = std::fs::read_to_string(&cache).unwrap();
    assert!(
        remembered
            .lines()
            .any(|l| l.ends_with(&format!("\t{chosen}"))),
        "{remembered}"
    );
    let _ = std::fs::remove_file(&cache);
}
