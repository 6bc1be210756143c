//! The shapes a bench run steps: named sets, `--shapes` lists, and the textbook count of their
//! Newton-Schulz work.

/// The named shape sets of `--model`.
pub const MODELS: &[&str] = &["gpt2-small", "nano", "conv"];

/// The shapes of a named model: GPT-2 small's 48 hidden matrices in PyTorch `(out, in)` layout,
/// the same for a 4-layer 256-wide `nano`, or a small ConvNet's hidden filters.
pub fn model_shapes(name: &str) -> Option<Vec<Vec<usize>>> {
    let layers = |n: usize, per: &[[usize; 2]]| -> Vec<Vec<usize>> {
        (0..n)
            .flat_map(|_| per.iter().map(|s| s.to_vec()))
            .collect()
    };
    match name {
        "gpt2-small" => Some(layers(
            12,
            &[[768, 2304], [768, 768], [768, 3072], [3072, 768]],
        )),
        "nano" => Some(layers(
            4,
            &[[256, 768], [256, 256], [256, 1024], [1024, 256]],
        )),
        "conv" => {
            let mut v = vec![vec![64, 64, 3, 3]; 4];
            v.extend(vec![vec![128, 128, 3, 3]; 4]);
            Some(v)
        }
        _ => None,
    }
}

/// Most parameters `--shapes` may describe (repeats included).
pub const MAX_BENCH_PARAMS: usize = 100_000;

/// Parses `768x3072,3072x768*12,64x64x3x3`.
pub fn parse_shapes(spec: &str) -> Result<Vec<Vec<usize>>, String> {
    let mut out = Vec::new();
    for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (shape, times) = match item.split_once('*') {
            Some((s, n)) => (
                s,
                n.trim()
                    .parse::<usize>()
                    .map_err(|_| format!("bad repeat count in `{item}`"))?,
            ),
            None => (item, 1),
        };
        let dims: Vec<usize> = shape
            .split(['x', 'X'])
            .map(|d| d.trim().parse::<usize>())
            .collect::<Result<_, _>>()
            .map_err(|_| format!("bad shape `{shape}`: expected RxC or OxIxHxW"))?;
        if !(dims.len() == 2 || dims.len() == 4) || dims.contains(&0) {
            return Err(format!(
                "bad shape `{shape}`: expected RxC or OxIxHxW, no zero"
            ));
        }
        // Bounded before anything is allocated for the repeats.
        if times == 0 || out.len() + times > MAX_BENCH_PARAMS {
            return Err(format!(
                "bad repeat count in `{item}`: between 1 and {MAX_BENCH_PARAMS} parameters in all"
            ));
        }
        out.extend(std::iter::repeat_n(dims, times));
    }
    if out.is_empty() {
        return Err("no shapes given".into());
    }
    Ok(out)
}

/// `RxC` or `OxIxHxW`.
pub fn shape_name(shape: &[usize]) -> String {
    shape
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("x")
}

/// Textbook Newton-Schulz GFLOP of one step over `shapes`.
pub fn ns_gflop(shapes: &[Vec<usize>], ns_steps: usize) -> f64 {
    shapes
        .iter()
        .map(|s| {
            let (r, c) = crate::shape::matrix_view(s);
            let (m, n) = (r.min(c) as f64, r.max(c) as f64);
            (4.0 * m * m * n + 2.0 * m * m * m) * ns_steps as f64
        })
        .sum::<f64>()
        / 1e9
}
