//! Crash and resume of training (issue 15, item 2). In process: a run resumed from the state of any epoch ends
//! with the weights and history of the uninterrupted run, bit for bit, for every model kind; a state from
//! another run or a torn file is refused. With the real binary and SIGKILL (`Child::kill`): `train --resume`
//! and `run --resume` after a kill mid-epoch finish with the same checkpoints and report as an uninterrupted
//! run, and kills at many moments never leave a torn checkpoint or resume file.
//!
//! Timing fields (`seconds`, `windows_per_s` of each epoch in `tickgrad.train_info`) differ between any two
//! runs and are the only thing excluded from the comparisons.

mod pipeline_support;

use pipeline_support::{csv_slice, dataset, examples, scratch, tiny, train_config, Run, DATA, SLICE_ROWS};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};
use tickgrad::device::Device;
use tickgrad::models::{checkpoint, Model};
use tickgrad::nn::Module;
use tickgrad::pipeline::{resume_path, ModelMeta, TargetScale};
use tickgrad::rng::Rng;
use tickgrad::train::{self, Objective, ResumeFile, TrainOutcome};

// ---------- in process ----------

fn weight_bits(model: &mut Model) -> Vec<(String, Vec<u32>)> {
    let mut out = Vec::new();
    model
        .visit("", &mut |name, _, t| {
            out.push((name.to_string(), t.to_vec()?.iter().map(|v| v.to_bits()).collect()));
            Ok(())
        })
        .unwrap();
    out
}

/// The history without its timings, floats as bits.
fn history(o: &TrainOutcome) -> (Vec<(usize, u64, u64)>, usize, u64, bool) {
    let e = o.epochs.iter().map(|e| (e.epoch, e.train_loss.to_bits(), e.val_loss.to_bits())).collect();
    (e, o.best_epoch, o.best_val_loss.to_bits(), o.stopped_early)
}

#[test]
fn resuming_from_any_epoch_ends_bit_identical_for_every_model_kind() {
    let ds = dataset(16, 1);
    let (train_ex, val_ex) = examples(&ds);
    let sampler = ds.sampler(16).unwrap();
    // Patience 1 with 4 epochs: some kinds stop early, so a state taken at the stop is resumed too.
    let tc = train::TrainConfig { patience: 1, ..train_config(4, 11) };
    for kind in ["tcn", "transformer", "lstm_attention", "multitask"] {
        let cfg = tiny(kind, ds.n_features());
        let objective = Objective::for_config(&cfg);
        let mut model = Model::new(&cfg, tc.seed, Device::Cpu).unwrap();
        let run = Run { objective, sampler: &sampler, train: &train_ex, val: &val_ex, tc: &tc };
        let fp = run.fingerprint(&model);
        let (full, states) = run.full(&mut model, &fp);
        let want = weight_bits(&mut model);
        assert_eq!(states.len(), full.epochs.len(), "{kind}: one state per completed epoch");
        for (k, bytes) in states.iter().enumerate() {
            let mut best_calls = 0;
            let on_best = &mut |_: &mut Model, _: &TrainOutcome| {
                best_calls += 1;
                Ok(())
            };
            let (mut resumed, o, epoch) = run.resume(&cfg, bytes, &fp, on_best);
            assert_eq!(epoch, k + 1);
            assert_eq!(history(&o), history(&full), "{kind}: history resumed after epoch {}", k + 1);
            assert!(weight_bits(&mut resumed) == want, "{kind}: weights resumed after epoch {} differ", k + 1);
            let later_bests = full.epochs.len() - (k + 1);
            assert!(best_calls <= later_bests, "{kind}: on_best runs only for epochs after the state");
        }
    }
}

#[test]
fn a_state_from_another_run_or_a_torn_one_is_refused() {
    let ds = dataset(16, 1);
    let scale = TargetScale::fit(&ds).unwrap();
    let (train_ex, val_ex) =
        (scale.examples(&ds, ds.split.train.clone()).unwrap(), scale.examples(&ds, ds.split.val.clone()).unwrap());
    let sampler = ds.sampler(16).unwrap();
    let cfg = tiny("tcn", ds.n_features());
    let tc = train_config(1, 4);
    let mut model = Model::new(&cfg, tc.seed, Device::Cpu).unwrap();
    let run = Run { objective: Objective::Return, sampler: &sampler, train: &train_ex, val: &val_ex, tc: &tc };
    let fp = run.fingerprint(&model);
    let (_, states) = run.full(&mut model, &fp);
    let bytes = states.last().expect("a state per epoch").clone();

    let other_tc = train::TrainConfig { seed: 5, lr: 2e-3, ..tc.clone() };
    let other = train::resume::fingerprint(&model, Objective::Return, &sampler, &train_ex, &val_ex, &other_tc).unwrap();
    let file = ResumeFile::parse(&bytes, "m.safetensors.resume").unwrap();
    let err = other.check(&file.fingerprint, "m.safetensors.resume").unwrap_err().to_string();
    for part in ["m.safetensors.resume", "2 field(s) differ", "`train.seed`: expected 5, found 4", "`train.lr`"] {
        assert!(err.contains(part), "error lacks {part:?}: {err}");
    }
    let other_val = scale.examples(&ds, ds.split.test.clone()).unwrap();
    let moved = train::resume::fingerprint(&model, Objective::Return, &sampler, &train_ex, &other_val, &tc).unwrap();
    assert_eq!(moved.diff(&file.fingerprint).len(), 1, "other validation windows: {:?}", moved.diff(&file.fingerprint));

    for cut in [0, 8, bytes.len() / 3, bytes.len() - 1] {
        let e = ResumeFile::parse(&bytes[..cut], "torn").err().expect("a truncated state must be refused");
        assert!(e.to_string().contains("torn"), "{e}");
    }
    // A state of one model is refused by a model of another size, naming the tensor.
    let bigger = tickgrad::models::ModelConfig::from_kind_value(
        "tcn",
        serde_json::json!({"channels": [5, 4], "kernel_size": 3, "dropout": 0.1, "n_features": ds.n_features()}),
        "test",
    )
    .unwrap();
    let mut m2 = Model::new(&bigger, 0, Device::Cpu).unwrap();
    let e = ResumeFile::parse(&bytes, "s").unwrap().into_state(&mut m2, train_ex.len(), &tc).err().unwrap();
    assert!(e.to_string().contains("tensor weights.") && e.to_string().contains("shape"), "{e}");
}

#[test]
fn training_gives_the_same_bits_on_any_thread_count() {
    // A run resumed on a machine with another core count must still end bit-identical: the CPU kernels split
    // their reductions (conv1d's weight gradient, bias sums) into a fixed number of parts, not one per thread.
    // Sizes are chosen so those parallel paths run: batch 64 × 32 bars × 16 channels = 2^15 elements.
    let ds = dataset(32, 1);
    let (train_ex, val_ex) = examples(&ds);
    let sampler = ds.sampler(32).unwrap();
    let tc = train::TrainConfig { batch: 64, ..train_config(1, 2) };
    let configs = [
        ("tcn", serde_json::json!({"channels": [16, 16], "kernel_size": 3, "dropout": 0.1})),
        ("multitask", serde_json::json!({"channels": 16, "n_blocks": 2, "kernel_size": 3, "head_hidden": 32})),
        (
            "transformer",
            serde_json::json!({"d_model": 16, "nhead": 2, "num_layers": 1, "dim_feedforward": 32,
                                           "max_len": 32, "dropout": 0.1}),
        ),
    ];
    for (kind, mut args) in configs {
        args["n_features"] = ds.n_features().into();
        let cfg = tickgrad::models::ModelConfig::from_kind_value(kind, args, "test").unwrap();
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| {
                let mut model = Model::new(&cfg, tc.seed, Device::Cpu).unwrap();
                let o = train::train(
                    &mut model,
                    Objective::for_config(&cfg),
                    &sampler,
                    &train_ex,
                    &val_ex,
                    &tc,
                    &mut |_, _| Ok(()),
                    &mut |_| {},
                )
                .unwrap();
                (history(&o), weight_bits(&mut model))
            })
        };
        let one = run(1);
        assert!(run(3) == one, "{kind}: 3 threads trained other bits than 1 thread");
    }
}

// ---------- the binary, killed ----------

const BIN: &str = env!("CARGO_BIN_EXE_tickgrad");

/// A running `tickgrad` whose stderr lines arrive on a channel (and are kept for the failure message).
struct Running {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

fn spawn(args: &[String]) -> Running {
    let mut child =
        Command::new(BIN).args(args).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("start tickgrad");
    let (tx, rx) = channel();
    let err = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(|l| l.ok()) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Running { child, lines: rx, seen: Vec::new() }
}

impl Running {
    /// Block until a stderr line contains `text` (panics after 120 s or if the process ends first).
    fn wait_for(&mut self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while Instant::now() < deadline {
            match self.lines.recv_timeout(Duration::from_millis(200)) {
                Ok(l) => {
                    let hit = l.contains(text);
                    self.seen.push(l);
                    if hit {
                        return;
                    }
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                Err(_) => panic!("tickgrad ended before printing {text:?}; stderr:\n{}", self.seen.join("\n")),
            }
        }
        panic!("no {text:?} within 120 s; stderr:\n{}", self.seen.join("\n"));
    }

    /// SIGKILL; returns false when the process had already exited on its own.
    fn kill(mut self) -> bool {
        self.child.kill().expect("kill");
        let status = self.child.wait().expect("wait");
        !status.success()
    }
}

/// Run to completion; returns stderr, panicking with it on failure.
fn run_ok(args: &[String]) -> String {
    let out = Command::new(BIN).args(args).output().expect("run tickgrad");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "tickgrad {args:?} failed:\n{err}");
    err
}

fn wait_until_exists(p: &Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !p.exists() {
        assert!(Instant::now() < deadline, "{} never appeared", p.display());
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A safetensors file's tensors (name → shape, bytes) and metadata, with the per-epoch timings removed from
/// `tickgrad.train_info`: the deterministic content of a checkpoint.
type Contents = (BTreeMap<String, (Vec<usize>, Vec<u8>)>, BTreeMap<String, String>);

fn contents(path: &Path) -> Contents {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let tensors = st.tensors().into_iter().map(|(n, v)| (n, (v.shape().to_vec(), v.data().to_vec()))).collect();
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let mut meta: BTreeMap<String, String> = header.metadata().clone().unwrap_or_default().into_iter().collect();
    if let Some(info) = meta.get_mut("tickgrad.train_info") {
        let mut v: serde_json::Value = serde_json::from_str(info).unwrap();
        for e in v["epochs"].as_array_mut().expect("epochs") {
            let e = e.as_object_mut().unwrap();
            assert!(e.remove("seconds").is_some() && e.remove("windows_per_s").is_some(), "timing fields");
        }
        *info = v.to_string();
    }
    (tensors, meta)
}

fn assert_same_checkpoint(a: &Path, b: &Path) {
    let (ta, ma) = contents(a);
    let (tb, mb) = contents(b);
    assert_eq!(ta.keys().collect::<Vec<_>>(), tb.keys().collect::<Vec<_>>(), "{} vs {}", a.display(), b.display());
    for (name, t) in &ta {
        assert!(&tb[name] == t, "tensor {name} differs between {} and {}", a.display(), b.display());
    }
    assert_eq!(ma, mb, "metadata of {} vs {}", a.display(), b.display());
}

/// Every checkpoint, resume state, JSON and CSV in `dir` (recursively) reads back cleanly; hidden files are the
/// atomic writer's temporaries, never read by anything. Returns how many files were checked.
fn assert_all_whole(dir: &Path) -> usize {
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if p.is_dir() {
            n += assert_all_whole(&p);
            continue;
        }
        if name.starts_with('.') {
            continue;
        }
        let what = p.display().to_string();
        if name.ends_with(".safetensors") {
            let ck = checkpoint::load(&p, Device::Cpu).unwrap_or_else(|e| panic!("torn checkpoint {what}: {e}"));
            ModelMeta::from_map(&ck.metadata, &what).unwrap_or_else(|e| panic!("torn checkpoint {what}: {e}"));
        } else if name.ends_with(".resume") {
            let bytes = std::fs::read(&p).unwrap();
            ResumeFile::parse(&bytes, &what).unwrap_or_else(|e| panic!("torn resume state {what}: {e}"));
        } else if name.ends_with(".json") {
            let text = std::fs::read_to_string(&p).unwrap();
            serde_json::from_str::<serde_json::Value>(&text).unwrap_or_else(|e| panic!("torn {what}: {e}"));
        } else if name == "slice.csv" {
            continue;
        } else if !name.ends_with(".csv") && !name.ends_with(".html") {
            panic!("unexpected file {what}");
        }
        n += 1;
    }
    n
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn with(base: &[String], more: &[&str]) -> Vec<String> {
    base.iter().cloned().chain(more.iter().map(|s| s.to_string())).collect()
}

/// `train` of a small TCN on the whole bundled file (about half a second per epoch in the test build), so a
/// kill lands inside an epoch.
fn train_args(dir: &Path, seed: &str) -> Vec<String> {
    let config = dir.join("tcn.json");
    std::fs::write(&config, r#"{"kind": "tcn", "channels": [16, 16], "kernel_size": 3, "dropout": 0.1}"#).unwrap();
    let c = config.display().to_string();
    args(&[
        "train",
        "--data",
        DATA,
        "--config",
        &c,
        "--window",
        "32",
        "--epochs",
        "4",
        "--patience",
        "4",
        "--seed",
        seed,
    ])
}

#[test]
fn train_killed_mid_epoch_resumes_to_the_uninterrupted_checkpoint() {
    let dir = scratch("resume-train");
    let base = train_args(&dir, "3");
    let (want, got) = (dir.join("ref.safetensors"), dir.join("m.safetensors"));
    let out = got.display().to_string();
    run_ok(&with(&base, &["--out", &want.display().to_string()]));
    assert!(!resume_path(&want).exists(), "a finished run removes its resume state");

    let mut r = spawn(&with(&base, &["--out", &out]));
    r.wait_for("[tcn] epoch  1/4");
    wait_until_exists(&resume_path(&got));
    std::thread::sleep(Duration::from_millis(100));
    assert!(r.kill(), "the run finished before it was killed: make its epochs longer");
    let state = ResumeFile::parse(&std::fs::read(resume_path(&got)).unwrap(), "state").unwrap();
    assert!((1..4).contains(&state.meta.epoch), "killed after epoch {} of 4", state.meta.epoch);

    let err = run_ok(&with(&base, &["--out", &out, "--resume"]));
    let said = format!("resuming after epoch {} of 4", state.meta.epoch);
    assert!(err.contains(&said), "stderr lacks {said:?}:\n{err}");
    assert!(!resume_path(&got).exists(), "the resume state is removed after the final checkpoint");
    assert_same_checkpoint(&want, &got);

    // Finished: --resume does nothing; without --resume a stale state is replaced, and it says so.
    let err = run_ok(&with(&base, &["--out", &out, "--resume"]));
    assert!(err.contains("finished training of this run; not training it again"), "{err}");
    assert_same_checkpoint(&want, &got);
    std::fs::write(resume_path(&got), b"stale").unwrap();
    let err = run_ok(&with(&base, &["--out", &out]));
    assert!(err.contains("removed the resume state") && !resume_path(&got).exists(), "{err}");
    assert_same_checkpoint(&want, &got);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn train_resume_refuses_a_state_of_another_run_naming_the_fields() {
    let dir = scratch("resume-mismatch");
    let base = train_args(&dir, "3");
    let out = dir.join("m.safetensors");
    let o = out.display().to_string();
    let mut r = spawn(&with(&base, &["--out", &o]));
    r.wait_for("[tcn] epoch  1/4");
    wait_until_exists(&resume_path(&out));
    assert!(r.kill());
    let res = Command::new(BIN).args(with(&train_args(&dir, "4"), &["--out", &o, "--resume"])).output().unwrap();
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(!res.status.success(), "a mismatched resume must fail");
    assert!(err.contains("`train.seed`: expected 4, found 3") && err.contains("m.safetensors.resume"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn run_killed_mid_member_resumes_to_the_uninterrupted_report() {
    let dir = scratch("resume-run");
    let data = csv_slice(&dir, SLICE_ROWS).display().to_string();
    let base = args(&["run", "--data", &data, "--epochs", "3", "--patience", "3", "--seed", "1"]);
    let (want, got) = (dir.join("ref"), dir.join("out"));
    run_ok(&with(&base, &["--out-dir", &want.display().to_string()]));

    let out = got.display().to_string();
    let mut r = spawn(&with(&base, &["--out-dir", &out]));
    // The first network is finished, the second has a completed epoch: kill it inside its second epoch.
    r.wait_for("[lstm_attention] epoch  1/3");
    wait_until_exists(&got.join("ensemble/lstm_attention.safetensors.resume"));
    assert!(r.kill(), "the run finished before it was killed");
    assert!(!got.join("ensemble/ensemble.json").exists() && !got.join("report.json").exists());
    assert_all_whole(&got);

    let err = run_ok(&with(&base, &["--out-dir", &out, "--resume"]));
    assert!(err.contains("transformer.safetensors is a finished training of this run"), "{err}");
    assert!(err.contains("[lstm_attention] resuming after epoch"), "{err}");
    assert!(err.contains("[tcn] no resume state"), "{err}");
    for f in ["transformer", "lstm_attention", "tcn", "multitask"] {
        let name = format!("ensemble/{f}.safetensors");
        assert_same_checkpoint(&want.join(&name), &got.join(&name));
        assert!(!got.join(format!("{name}.resume")).exists());
    }
    for f in ["ensemble/ensemble.json", "ensemble/gbdt.json", "report.json", "returns.csv"] {
        let (a, b) = (std::fs::read(want.join(f)).unwrap(), std::fs::read(got.join(f)).unwrap());
        assert!(a == b, "{f} differs from the uninterrupted run's");
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn kills_at_random_moments_never_leave_a_torn_file() {
    let dir = scratch("resume-kills");
    let data = csv_slice(&dir, SLICE_ROWS).display().to_string();
    let config = dir.join("tcn.json");
    std::fs::write(&config, r#"{"kind": "tcn", "channels": [4, 4], "kernel_size": 3, "dropout": 0.1}"#).unwrap();
    let c = config.display().to_string();
    // Many short epochs: a checkpoint or a resume state is being written most of the time.
    let base = args(&[
        "train",
        "--data",
        &data,
        "--config",
        &c,
        "--window",
        "16",
        "--epochs",
        "40",
        "--patience",
        "40",
        "--seed",
        "9",
        "--lr",
        "3e-3",
    ]);
    let (want, got) = (dir.join("ref.safetensors"), dir.join("run/m.safetensors"));
    let started = Instant::now();
    run_ok(&with(&base, &["--out", &want.display().to_string()]));
    let whole = started.elapsed();

    let out = got.display().to_string();
    let mut rng = Rng::new(20261207);
    let (mut kills, mut finished, mut temporaries, mut resumed_epochs) = (0, 0, 0, Vec::new());
    // Delays spread over the first 40% of an uninterrupted run (start-up included): most restarts get a few
    // epochs further, and the kills fall at every phase (start-up, mid-epoch, mid-write, after a state).
    for _ in 0..60 {
        if kills == 20 {
            break;
        }
        let r = spawn(&with(&base, &["--out", &out, "--resume"]));
        std::thread::sleep(whole.mul_f64(rng.uniform(0.02, 0.4)));
        if r.kill() {
            kills += 1;
        } else {
            // It finished before the kill: start over so that the remaining kills hit a training run.
            finished += 1;
            std::fs::remove_file(&got).unwrap();
        }
        if got.parent().unwrap().exists() {
            assert_all_whole(got.parent().unwrap());
            let hidden = std::fs::read_dir(got.parent().unwrap()).unwrap();
            temporaries +=
                hidden.filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with('.')).count();
        }
        if let Ok(b) = std::fs::read(resume_path(&got)) {
            resumed_epochs.push(ResumeFile::parse(&b, "state").unwrap().meta.epoch);
        }
    }
    assert_eq!(kills, 20, "20 kills within 60 starts ({finished} finished first)");
    let err = run_ok(&with(&base, &["--out", &out, "--resume"]));
    assert_same_checkpoint(&want, &got);
    assert!(!resume_path(&got).exists());
    let left: Vec<_> = std::fs::read_dir(got.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, vec![std::ffi::OsString::from("m.safetensors")], "temporaries are cleaned up: {err}");
    eprintln!(
        "20 kills ({finished} runs finished first, {temporaries} temporaries of killed writes seen); resume states \
         found after kills at epochs {resumed_epochs:?}; uninterrupted run {:.2}s",
        whole.as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(dir);
}
