//! Distributed Muon under `mpirun` (`--features mpi`; Open MPI on loopback, ranks on one
//! machine): replay equality with one process for N = 2 and 3 (3 is more ranks than one case has
//! matrices), data-parallel training against a one-process run on the whole batch, and faults.
//!
//! The MPI jobs are child processes: `mpirun … muon-wgpu replay`, or `mpirun …` this very test
//! binary running one of the `#[ignore]`d workers below (they only make sense as MPI ranks).
#![cfg(feature = "mpi")]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::rc::Rc;

use muon_wgpu::distributed::data_parallel::DataParallelTrainer;
use muon_wgpu::distributed::{finish, say, Comm, DistributedBuilder, DistributedOptimizer};
use muon_wgpu::nn::{self, Activation, Batch, Loss, MlpSpec, Targets, Trainer, TrainerOptions};
use muon_wgpu::{BackendChoice, GpuContext, Overrides, Preset};

const BIN: &str = env!("CARGO_BIN_EXE_muon-wgpu");

/// The backends of the adapters present, as `MUON_WGPU_BACKEND` names them.
fn backends() -> Vec<String> {
    common::adapters()
        .iter()
        .map(|a| format!("{:?}", a.ctx.info.backend).to_lowercase())
        .collect()
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("distributed");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// `mpirun -np N program args…` on loopback, bounded in time, with collectives timing out after
/// `collective_s` seconds.
fn mpirun(np: usize, backend: &str, collective_s: u32, program: &[&str]) -> Output {
    let out = Command::new("mpirun")
        .args(["--allow-run-as-root", "--oversubscribe", "--timeout", "300"])
        .args([
            "--mca",
            "btl",
            "self,tcp",
            "--mca",
            "btl_tcp_if_include",
            "lo",
        ])
        .args(["-np", &np.to_string()])
        .args(program)
        .env("MUON_WGPU_BACKEND", backend)
        .env("MUON_WGPU_MPI_TIMEOUT", collective_s.to_string())
        .output()
        .expect("running mpirun (Open MPI: apt-get install openmpi-bin libopenmpi-dev)");
    eprintln!(
        "mpirun -np {np} {program:?} ({backend}): {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
            .lines()
            .filter(|l| !l.contains("XDG_RUNTIME_DIR"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    out
}

/// `mpirun -np N` this test binary, running the `#[ignore]`d worker `name` on every rank.
fn worker(np: usize, backend: &str, collective_s: u32, name: &str) -> Output {
    let this = std::env::current_exe().unwrap();
    let args = [
        "--ignored",
        "--exact",
        name,
        "--nocapture",
        "--test-threads=1",
    ];
    let program: Vec<&str> = std::iter::once(this.to_str().unwrap())
        .chain(args)
        .collect();
    mpirun(np, backend, collective_s, &program)
}

/// How many lines of `stream` are exactly `line`. Every rank writes each line at once, so a line
/// arrives whole whatever the order in which the ranks print.
fn count_line(stream: &[u8], line: &str) -> usize {
    String::from_utf8_lossy(stream)
        .lines()
        .filter(|l| *l == line)
        .count()
}

/// The job failed, and `line` (an error every rank reaches together) was printed once, whole.
fn assert_printed_once(out: &Output, line: &str) {
    assert!(!out.status.success(), "the job succeeded");
    assert_eq!(
        count_line(&out.stderr, line),
        1,
        "`{line}` should be printed once, whole"
    );
}

/// A case with five Muon matrices of three shapes (one a conv filter), and two AdamW tensors.
fn write_case(path: &Path) {
    let shapes: &[(&str, &[usize])] = &[
        ("blocks.0.attn", &[16, 24]),
        ("blocks.1.attn", &[16, 24]),
        ("blocks.2.attn", &[16, 24]),
        ("head.proj", &[9, 5]),
        ("conv", &[4, 3, 2, 2]),
        ("norm.bias", &[16]),
        ("embed.scale", &[7]),
    ];
    let mut tensors = Vec::new();
    for (i, (name, shape)) in shapes.iter().enumerate() {
        let len = shape.iter().product();
        tensors.push((
            format!("param/{name}"),
            shape.to_vec(),
            common::random(i as u64, len),
        ));
        for k in 0..3 {
            tensors.push((
                format!("grad/{k}/{name}"),
                shape.to_vec(),
                common::random(100 + 10 * i as u64 + k, len),
            ));
        }
    }
    let meta = [
        ("preset", "keller"),
        ("lr", "0.05"),
        ("weight_decay", "0.1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    muon_wgpu::io::tensors::write_file(path, &tensors, meta).unwrap();
}

/// Every tensor of `a` equals `b`'s bit for bit; returns how many were compared.
fn assert_bitwise(a: &Path, b: &Path) -> usize {
    let a = muon_wgpu::io::tensors::read_file(a).unwrap().tensors;
    let b = muon_wgpu::io::tensors::read_file(b).unwrap().tensors;
    let names = |t: &[(String, Vec<usize>, Vec<f32>)]| {
        let mut n: Vec<_> = t.iter().map(|x| x.0.clone()).collect();
        n.sort();
        n
    };
    assert_eq!(names(&a), names(&b));
    for (name, shape, values) in &a {
        let other = b.iter().find(|t| &t.0 == name).unwrap();
        assert_eq!(shape, &other.1, "{name}");
        let differ = (values.iter().zip(&other.2))
            .filter(|(x, y)| x.to_bits() != y.to_bits())
            .count();
        assert_eq!(
            differ,
            0,
            "{name}: {differ} of {} values differ",
            values.len()
        );
    }
    a.len()
}

#[test]
fn replay_under_mpirun_equals_one_process_for_2_and_3_ranks() {
    let case = scratch("case.safetensors");
    write_case(&case);
    // One matrix and nothing else: of three ranks, two have no parameter of their own at all.
    let small = scratch("small.case.safetensors");
    let tensors = vec![
        ("param/w".to_string(), vec![6, 10], common::random(1, 60)),
        ("grad/0/w".to_string(), vec![6, 10], common::random(3, 60)),
        ("grad/1/w".to_string(), vec![6, 10], common::random(5, 60)),
    ];
    muon_wgpu::io::tensors::write_file(&small, &tensors, Default::default()).unwrap();

    for backend in backends() {
        for (case, np) in [(&case, 2), (&case, 3), (&small, 3)] {
            let stem = case.file_stem().unwrap().to_string_lossy().to_string();
            let single = scratch(&format!("{stem}.{backend}.single.safetensors"));
            let status = Command::new(BIN)
                .args([
                    "replay",
                    case.to_str().unwrap(),
                    "-o",
                    single.to_str().unwrap(),
                ])
                .env("MUON_WGPU_BACKEND", &backend)
                .status()
                .unwrap();
            assert!(status.success());
            let multi = scratch(&format!("{stem}.{backend}.np{np}.safetensors"));
            let _ = std::fs::remove_file(&multi);
            let out = mpirun(
                np,
                &backend,
                60,
                &[
                    BIN,
                    "replay",
                    case.to_str().unwrap(),
                    "-o",
                    multi.to_str().unwrap(),
                ],
            );
            assert!(out.status.success());
            let n = assert_bitwise(&single, &multi);
            eprintln!("{stem} on {np} ranks ({backend}): {n} tensors bitwise equal to one process");
        }
    }
}

#[test]
fn ranks_with_different_settings_fail_together_with_a_clear_error() {
    let case = scratch("disagree.case.safetensors");
    write_case(&case);
    let out_path = scratch("disagree.out.safetensors");
    // Rank 1 is started with another learning rate.
    let script = format!(
        "if [ \"$OMPI_COMM_WORLD_RANK\" = 1 ]; then extra='--lr 0.5'; fi; exec {BIN} replay {} -o {} $extra",
        case.display(),
        out_path.display()
    );
    let backend = &backends()[0];
    let out = mpirun(2, backend, 60, &["sh", "-c", &script]);
    // Every rank reaches the error; rank 0 alone prints it, and no rank leaves before it has.
    assert_printed_once(
        &out,
        "error: MPI rank 0 of 2: ranks disagree on the settings (preset, hyperparameters, \
         routing): rank 1 differs from rank 0 (every rank must register the same parameters with \
         the same settings and data)",
    );
}

#[test]
fn a_rank_that_stops_taking_part_is_a_timeout_not_a_hang() {
    let out = worker(2, &backends()[0], 60, "stalled_rank_worker");
    assert_printed_once(
        &out,
        "error: MPI rank 0 of 2: the parameter exchange did not complete within 3 s (a rank died, \
         hangs or runs something else; MUON_WGPU_MPI_TIMEOUT sets the limit)",
    );
    // Rank 0's abort ended the job, stalled rank 1 included, long before it would resume.
    assert_eq!(
        count_line(&out.stderr, STALL_OVER),
        0,
        "rank 1 was not ended"
    );
}

/// What the stalled rank says if nothing ends it within [`STALL_S`].
const STALL_OVER: &str = "stalled rank: resumed";
/// How long rank 1 stalls: far beyond rank 0's 3 s deadline.
const STALL_S: u64 = 120;

/// Every rank: the same two 8×8 matrices under the torch preset, built into a distributed
/// optimizer.
fn two_matrices(comm: &Rc<Comm>) -> DistributedOptimizer {
    let ctx = pollster::block_on(GpuContext::new(BackendChoice::Env)).unwrap();
    let settings = Preset::Torch.settings(&Overrides::default()).unwrap();
    let mut b = DistributedBuilder::new(&ctx, settings, comm.clone()).unwrap();
    b.add_host("a", &[8, 8], &common::random(1, 64)).unwrap();
    b.add_host("b", &[8, 8], &common::random(2, 64)).unwrap();
    b.build().unwrap()
}

/// An MPI rank (run by the test above): rank 1 builds, then stalls instead of stepping; rank 0
/// steps and must report the exchange that never completes.
#[test]
#[ignore = "an MPI rank: run by a_rank_that_stops_taking_part_is_a_timeout_not_a_hang"]
fn stalled_rank_worker() {
    let comm = Rc::new(Comm::init().unwrap());
    let mut opt = two_matrices(&comm);
    // Building waits for rank 0's kernel choice: only the step gets the short deadline.
    comm.set_timeout(std::time::Duration::from_secs(3));
    if comm.rank() == 1 {
        std::thread::sleep(std::time::Duration::from_secs(STALL_S));
        say(STALL_OVER);
        return;
    }
    finish(&comm, opt.step());
}

#[test]
fn a_rank_that_dies_ends_the_job_with_a_message_not_a_hang() {
    // The deadline is long: the job must be ended by mpirun seeing the death, not by it.
    let out = worker(2, &backends()[0], 240, "dying_rank_worker");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("rank 1") && stderr.contains("signal 9"),
        "mpirun should name the rank that died"
    );
    assert!(
        !stderr.contains("did not complete within"),
        "mpirun, not the collective deadline, should end the job"
    );
}

/// An MPI rank (run by the test above): rank 1 builds, then is killed (SIGKILL) while rank 0
/// waits for it in the exchange.
#[test]
#[ignore = "an MPI rank: run by a_rank_that_dies_ends_the_job_with_a_message_not_a_hang"]
fn dying_rank_worker() {
    let comm = Rc::new(Comm::init().unwrap());
    let mut opt = two_matrices(&comm);
    if comm.rank() == 1 {
        let _ = Command::new("kill")
            .args(["-9", &std::process::id().to_string()])
            .status();
        std::thread::sleep(std::time::Duration::from_secs(60));
    }
    finish(&comm, opt.step());
}

#[test]
fn data_parallel_training_on_2_ranks_matches_one_process_on_the_whole_batch() {
    for backend in backends() {
        let out = worker(2, &backend, 120, "data_parallel_worker");
        assert!(out.status.success());
        assert_eq!(
            count_line(&out.stderr, "data-parallel worker: losses match"),
            1,
            "the worker did not run to its comparison"
        );
    }
}

/// An MPI rank (run by the test above): 2 ranks train the same MLP data-parallel, each on half
/// of every batch; rank 0 then trains it alone on the whole batches and compares the losses.
#[test]
#[ignore = "an MPI rank: run by data_parallel_training_on_2_ranks_matches_one_process_on_the_whole_batch"]
fn data_parallel_worker() {
    const STEPS: usize = 12;
    const BATCH: usize = 32;
    let comm = Rc::new(Comm::init().unwrap());
    let ctx = pollster::block_on(GpuContext::new(BackendChoice::Env)).unwrap();
    let digits = nn::data::digits().unwrap();
    // Two hidden 32×32 matrices: one per rank.
    let spec = MlpSpec::new(
        &[64, 32, 32, 32, 10],
        Activation::Relu,
        Loss::SoftmaxCrossEntropy,
    )
    .unwrap();
    let params = nn::init_params(&spec, 3);
    let settings = Preset::Torch
        .settings(&Overrides {
            lr: Some(0.02),
            adam_lr: Some(1e-2),
            ..Default::default()
        })
        .unwrap();
    let batches: Vec<(Vec<f32>, Vec<u32>)> = {
        let mut b = nn::data::Batches::new(digits.train.len(), BATCH, 7).unwrap();
        (0..STEPS)
            .map(|_| digits.train.gather(b.next_indices()))
            .collect()
    };

    let mut dp = DataParallelTrainer::new(
        &ctx,
        comm.clone(),
        spec.clone(),
        &params,
        settings.clone(),
        nn::muon_for_hidden,
        BATCH / comm.size(),
    )
    .unwrap();
    assert_eq!(dp.optimizer().assignment().share(0).len(), 1);
    for (inputs, labels) in &batches {
        let batch = Batch {
            inputs,
            targets: Targets::Labels(labels),
        };
        dp.step(batch, labels.len()).unwrap();
    }
    let distributed: Vec<f64> = pollster::block_on(dp.read_metrics())
        .unwrap()
        .iter()
        .map(|m| m.loss)
        .collect();
    assert_eq!(distributed.len(), STEPS);
    if comm.rank() != 0 {
        return;
    }

    let options = TrainerOptions {
        batch_size: BATCH,
        eval_batch_size: 64,
        history: 64,
    };
    let mut one =
        Trainer::new(&ctx, spec, &params, settings, nn::muon_for_hidden, options).unwrap();
    for (inputs, labels) in &batches {
        let batch = Batch {
            inputs,
            targets: Targets::Labels(labels),
        };
        one.step(batch).unwrap();
    }
    let single: Vec<f64> = pollster::block_on(one.read_metrics())
        .unwrap()
        .iter()
        .map(|m| m.loss)
        .collect();
    let worst = (distributed.iter().zip(&single))
        .map(|(a, b)| (a - b).abs() / b.abs())
        .fold(0.0, f64::max);
    println!("distributed losses {distributed:?}\none-process losses {single:?}");
    // f32 sums of 16 + 16 rows against 32 rows, grown over the steps by the training itself.
    assert!(worst < 1e-4, "worst relative loss difference {worst:e}");
    // The run trained: the loss fell.
    assert!(single[STEPS - 1] < single[0]);
    println!("worst relative difference {worst:.2e}");
    say("data-parallel worker: losses match");
}

#[test]
fn options_the_distributed_optimizer_cannot_share_are_refused_by_name() {
    let case = scratch("refused.case.safetensors");
    write_case(&case);
    let out_path = scratch("refused.out.safetensors");
    let backend = &backends()[0];
    for (flag, value, key, shown) in [
        ("--use-ema", "true", "use_ema", "set"),
        ("--global-clipnorm", "1", "global_clipnorm", "set"),
        ("--non-finite", "skip_step", "non_finite", "skip_step"),
    ] {
        let (case, out) = (case.to_str().unwrap(), out_path.to_str().unwrap());
        let run = mpirun(
            2,
            backend,
            60,
            &[BIN, "replay", case, "-o", out, flag, value],
        );
        let why = match key {
            "non_finite" => "each rank sees only its share of the gradients",
            _ => "each rank holds only its share of the Muon matrices",
        };
        // Refused after the ranks agree on the settings: every rank's error, printed once.
        assert_printed_once(
            &run,
            &format!(
                "error: MPI rank 0 of 2: invalid hyperparameter `{key}` = {shown}: not supported \
                 by the distributed optimizer yet ({why})"
            ),
        );
    }
}
