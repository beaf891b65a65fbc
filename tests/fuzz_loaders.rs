//! Property fuzzing of every loader that reads a file a user hands us (issue 15, on stable Rust): the OHLCV CSV
//! reader, the checkpoint loader with its JSON metadata (config, scaler, drift, …), the `.npy` reader and the
//! ensemble directory. Each starts from real files (the first lines of `data/*.csv`, a checkpoint and an ensemble
//! trained here in a second) and applies a few mutations: byte flips, truncations, huge numbers and lengths in
//! headers, NaN/inf text, quoted or empty fields, duplicated or dropped columns, swapped or repeated lines (unsorted
//! or duplicate timestamps). Every case must end in `Ok` or a clean `Err`: a panic fails the case (proptest
//! catches it and shrinks), and so does an allocation far beyond the input's size — a counting global allocator
//! tracks the peak of bytes in use during each case, capped at 64× the input plus 1 MiB.
//!
//! The allocator is global, so this binary has no test harness: `main` runs the loaders one after another.
//! What the fuzzer found is fixed and kept as regression cases beside each loader's own tests: a `.npy` shape whose
//! element count overflows (`src/io/npy.rs`), a CSV whose first row is blank or short reserving ~88× the file
//! (`fuzz_csv` below), a checkpoint config far larger than its tensors, allocated before
//! they were compared (`tests/checkpoint_errors.rs`).
//! `TICKGRAD_FUZZ_CASES` overrides the number of cases per loader (default 10,000).

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;
use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;
use tickgrad::data::{load_csv, parse_csv_bytes, SplitFractions};
use tickgrad::device::Device;
use tickgrad::io::npy::{decode_npy, encode_npy};
use tickgrad::models::checkpoint;
use tickgrad::pipeline::{train_ensemble, EnsembleBundle, EnsembleRecipe, MemberRecipe, ModelMeta};
use tickgrad::train::TrainConfig;

struct Counting;

static IN_USE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(n: usize) {
    let now = IN_USE.fetch_add(n, Ordering::Relaxed) + n;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: forwards every call to the system allocator unchanged; only keeps count of the bytes in use.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            grew(l.size());
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        IN_USE.fetch_sub(l.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let q = unsafe { System.realloc(p, l, n) };
        if !q.is_null() {
            IN_USE.fetch_sub(l.size(), Ordering::Relaxed);
            grew(n);
        }
        q
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Run `f` and fail the case if the bytes in use rose by more than 64× `input_len` + 1 MiB at any point.
fn bounded<T>(input_len: usize, what: &str, f: impl FnOnce() -> T) -> Result<T, TestCaseError> {
    let base = IN_USE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let out = f();
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(base);
    let cap = 64 * input_len + (1 << 20);
    if peak > cap {
        return Err(TestCaseError::fail(format!(
            "{what}: {peak} bytes allocated for {input_len} bytes of input (cap {cap})"
        )));
    }
    Ok(out)
}

/// Text dropped into files: NaN/inf spellings, quotes, empty fields, separators, huge and negative numbers.
const TOKENS: &[&str] = &[
    "NaN",
    "nan",
    "inf",
    "-inf",
    "+Infinity",
    "\"",
    "\"1.5\"",
    "\"\"",
    "",
    ",",
    ",,",
    "\n",
    "\r\n",
    " ",
    "-1",
    "0",
    "-0",
    "1e308",
    "1e309",
    "4294967296",
    "18446744073709551615",
    "99999999999999999999999",
    "9223372036854775807",
    "-9223372036854775808",
    "\u{feff}",
    "{",
    "}",
    "[",
    "]",
    "null",
    "true",
    "é",
    "\u{0}",
];

/// One change to a file's bytes.
#[derive(Debug, Clone)]
enum Mutation {
    Flip {
        at: usize,
        mask: u8,
    },
    Truncate {
        at: usize,
    },
    Insert {
        at: usize,
        token: usize,
    },
    /// Replace the k-th run of ASCII digits (a number in a header, a JSON value, a CSV field) by a token.
    Number {
        k: usize,
        token: usize,
    },
    /// Overwrite 4 or 8 little-endian bytes at `at` with a huge value (length fields of binary headers).
    Huge {
        at: usize,
        wide: bool,
    },
    /// Line-aware (CSV): swap, repeat or drop a line; replace one field; repeat or drop a column.
    SwapLines {
        a: usize,
        b: usize,
    },
    RepeatLine {
        a: usize,
    },
    DropLine {
        a: usize,
    },
    Field {
        line: usize,
        col: usize,
        token: usize,
    },
    RepeatColumn {
        col: usize,
    },
    DropColumn {
        col: usize,
    },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let n = TOKENS.len();
    prop_oneof![
        3 => (any::<usize>(), 1..=255u8).prop_map(|(at, mask)| Mutation::Flip { at, mask }),
        2 => any::<usize>().prop_map(|at| Mutation::Truncate { at }),
        2 => (any::<usize>(), 0..n).prop_map(|(at, token)| Mutation::Insert { at, token }),
        3 => (0..64usize, 0..n).prop_map(|(k, token)| Mutation::Number { k, token }),
        1 => (0..16usize, any::<bool>()).prop_map(|(at, wide)| Mutation::Huge { at, wide }),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines { a, b }),
        1 => any::<usize>().prop_map(|a| Mutation::RepeatLine { a }),
        1 => any::<usize>().prop_map(|a| Mutation::DropLine { a }),
        3 => (any::<usize>(), 0..12usize, 0..n).prop_map(|(line, col, token)| Mutation::Field { line, col, token }),
        1 => (0..12usize).prop_map(|col| Mutation::RepeatColumn { col }),
        1 => (0..12usize).prop_map(|col| Mutation::DropColumn { col }),
    ]
}

fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    prop::collection::vec(mutation(), 1..4)
}

fn lines_of(b: &[u8]) -> Vec<Vec<u8>> {
    b.split(|&c| c == b'\n').map(<[u8]>::to_vec).collect()
}

fn join_lines(lines: &[Vec<u8>]) -> Vec<u8> {
    lines.join(&b'\n')
}

fn map_fields(b: &mut Vec<u8>, f: impl Fn(&mut Vec<Vec<u8>>)) {
    let lines: Vec<Vec<u8>> = lines_of(b)
        .into_iter()
        .map(|l| {
            let mut fields: Vec<Vec<u8>> = l.split(|&c| c == b',').map(<[u8]>::to_vec).collect();
            f(&mut fields);
            fields.join(&b',')
        })
        .collect();
    *b = join_lines(&lines);
}

fn apply(b: &mut Vec<u8>, m: &Mutation) {
    let len = b.len();
    let pick = |i: usize, n: usize| if n == 0 { 0 } else { i % n };
    match *m {
        Mutation::Flip { at, mask } => {
            if len > 0 {
                b[at % len] ^= mask;
            }
        }
        Mutation::Truncate { at } => b.truncate(pick(at, len + 1)),
        Mutation::Insert { at, token } => {
            let at = pick(at, len + 1);
            b.splice(at..at, TOKENS[token].bytes());
        }
        Mutation::Number { k, token } => {
            let mut runs = Vec::new();
            let mut i = 0;
            while i < len {
                if b[i].is_ascii_digit() {
                    let s = i;
                    while i < len && b[i].is_ascii_digit() {
                        i += 1;
                    }
                    runs.push(s..i);
                } else {
                    i += 1;
                }
            }
            if !runs.is_empty() {
                let r = runs[k % runs.len()].clone();
                b.splice(r, TOKENS[token].bytes());
            }
        }
        Mutation::Huge { at, wide } => {
            let w = if wide { 8 } else { 4 };
            if len >= at + w {
                b[at..at + w].copy_from_slice(&[0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 0x00][..w]);
            }
        }
        Mutation::SwapLines { a, b: c } => {
            let mut lines = lines_of(b);
            let n = lines.len();
            lines.swap(pick(a, n), pick(c, n));
            *b = join_lines(&lines);
        }
        Mutation::RepeatLine { a } => {
            let mut lines = lines_of(b);
            let i = pick(a, lines.len());
            let l = lines[i].clone();
            lines.insert(i, l);
            *b = join_lines(&lines);
        }
        Mutation::DropLine { a } => {
            let mut lines = lines_of(b);
            if lines.len() > 1 {
                lines.remove(pick(a, lines.len()));
            }
            *b = join_lines(&lines);
        }
        Mutation::Field { line, col, token } => {
            let mut lines = lines_of(b);
            let i = pick(line, lines.len());
            let mut fields: Vec<Vec<u8>> = lines[i].split(|&c| c == b',').map(<[u8]>::to_vec).collect();
            let j = pick(col, fields.len());
            fields[j] = TOKENS[token].as_bytes().to_vec();
            lines[i] = fields.join(&b',');
            *b = join_lines(&lines);
        }
        Mutation::RepeatColumn { col } => map_fields(b, |f| {
            if col < f.len() {
                let v = f[col].clone();
                f.insert(col, v);
            }
        }),
        Mutation::DropColumn { col } => map_fields(b, |f| {
            if col < f.len() {
                f.remove(col);
            }
        }),
    }
}

fn cases() -> u32 {
    std::env::var("TICKGRAD_FUZZ_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(10_000)
}

/// Run `cases()` values of `strategy` through `case` (deterministic seed, no persistence files); a panic or an
/// `Err` fails the target with its shrunk input. Returns the number of cases that loaded.
fn run_cases<S: Strategy>(what: &str, strategy: &S, case: impl Fn(S::Value) -> Result<bool, TestCaseError>) -> u32 {
    let config = Config { cases: cases(), failure_persistence: None, ..Config::default() };
    let mut runner = TestRunner::new_with_rng(
        config,
        proptest::test_runner::TestRng::deterministic_rng(proptest::test_runner::RngAlgorithm::ChaCha),
    );
    let ok = std::cell::Cell::new(0u32);
    let start = Instant::now();
    let result = runner.run(strategy, |v| {
        if case(v)? {
            ok.set(ok.get() + 1);
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{what}: {e}");
    }
    println!(
        "fuzz {what}: {} cases, {} loaded, the rest a clean error, {:.1} s",
        cases(),
        ok.get(),
        start.elapsed().as_secs_f64()
    );
    ok.get()
}

/// Run `cases()` mutated variants of the seeds through `check`; returns the number of cases that loaded.
fn fuzz(what: &str, seeds: &[Vec<u8>], check: impl Fn(&[u8]) -> Result<bool, TestCaseError>) -> u32 {
    run_cases(what, &(0..seeds.len(), mutations()), |(seed, muts)| {
        let mut b = seeds[seed].clone();
        for m in &muts {
            apply(&mut b, m);
        }
        check(&b)
    })
}

/// A scratch directory, in memory where the machine has one (the ensemble cases write a file twice each; on a
/// busy disk that was 3 ms a write).
fn scratch(name: &str) -> PathBuf {
    let shm = Path::new("/dev/shm");
    let root = if shm.is_dir() { shm.to_path_buf() } else { std::env::temp_dir() };
    let d = root.join(format!("tickgrad-fuzz-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("scratch dir");
    d
}

const DATA: [&str; 2] = ["btcusdt_perp_1h_2020.csv", "spy_1d_2008_2021.csv"];

fn data_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data").join(name)
}

/// The first `rows` bars of each bundled OHLCV file, header included.
fn csv_seeds(rows: usize) -> Vec<Vec<u8>> {
    DATA.iter()
        .map(|f| {
            let text = std::fs::read_to_string(data_path(f)).expect("bundled data");
            let lines: Vec<&str> = text.lines().take(rows + 1).collect();
            (lines.join("\n") + "\n").into_bytes()
        })
        .collect()
}

fn fuzz_csv() {
    // Caught by this target's allocation cap (with a seed this large): a blank or very short first row made the reader reserve ~8 bytes per column for every
    // byte of the file (88× the input with 11 columns) before failing on that row.
    let big = csv_seeds(3000).swap_remove(0);
    let header_end = big.iter().position(|&c| c == b'\n').expect("header") + 1;
    for first in [&b"\n"[..], b"1\n", b"1,2\n"] {
        let mut b = big[..header_end].to_vec();
        b.extend_from_slice(first);
        b.extend_from_slice(&big[header_end..]);
        let r = bounded(b.len(), "csv with a short first row", || parse_csv_bytes("short.csv", &b)).unwrap();
        assert!(r.is_err());
    }
    let seeds = csv_seeds(60);
    for s in &seeds {
        parse_csv_bytes("seed.csv", s).expect("seeds load");
    }
    let ok = fuzz("csv", &seeds, |b| Ok(bounded(b.len(), "csv", || parse_csv_bytes("fuzz.csv", b))?.is_ok()));
    assert!(ok > 0, "some mutations (a changed digit) must still load");
}

fn fuzz_npy() {
    let data: Vec<f32> = (0..48).map(|i| i as f32 * 0.25 - 3.0).collect();
    let mut v2 = encode_npy(&[4, 3, 4], &data);
    // The same array as format 2.0 (a 4-byte header length) and as float64.
    let hl = u16::from_le_bytes([v2[8], v2[9]]);
    v2.splice(6..10, [2u8, 0, 0, 0, 0, 0].iter().copied());
    v2[8..12].copy_from_slice(&u32::from(hl).to_le_bytes());
    let mut f8 = encode_npy(&[6, 8], &[0.0; 48]);
    let h = String::from_utf8_lossy(&f8[10..10 + usize::from(hl)]).replace("<f4", "<f8");
    f8.truncate(10);
    f8.extend_from_slice(h.as_bytes());
    f8.extend(data.iter().flat_map(|&v| f64::from(v).to_le_bytes()));
    let seeds = vec![encode_npy(&[4, 3, 4], &data), encode_npy(&[48], &data), v2, f8];
    for s in &seeds {
        decode_npy(s, "seed.npy").expect("seeds load");
    }
    let ok = fuzz("npy", &seeds, |b| Ok(bounded(b.len(), "npy", || decode_npy(b, "fuzz.npy"))?.is_ok()));
    assert!(ok > 0);
}

/// Train a one-network ensemble (a tiny TCN and a few trees, one epoch on 1,500 bars) into `dir`.
fn small_ensemble(dir: &Path) -> PathBuf {
    let (bars, _) = load_csv(data_path(DATA[0])).expect("bundled data");
    let bars = bars.slice(0..1500).expect("slice");
    let mut recipe = EnsembleRecipe::small(1, 0.0008, 0);
    recipe.members = vec![MemberRecipe {
        name: "tcn".into(),
        kind: "tcn".into(),
        args: serde_json::json!({"channels": [4, 4], "kernel_size": 2}),
        window: 8,
    }];
    recipe.fractions = SplitFractions::default();
    recipe.gbdt.n_estimators = 3;
    recipe.gbdt.max_depth = 2;
    let train = TrainConfig { epochs: 1, batch: 64, lr: 3e-3, patience: 1, seed: 0, ..TrainConfig::default() };
    let ens = dir.join("ens");
    train_ensemble(bars, &recipe, &train, &ens, &mut |_, _| {}).expect("train the seed ensemble");
    ens
}

/// Load a checkpoint as `backtest` does: weights and config, then the metadata (features, scaler, regime, drift,
/// target scale, training history).
fn load_checkpoint(b: &[u8]) -> bool {
    let Ok(ck) = checkpoint::load_bytes(b, "fuzz.safetensors", Device::Cpu) else { return false };
    ModelMeta::from_map(&ck.metadata, "fuzz.safetensors").is_ok()
}

type Tensors = BTreeMap<String, (Dtype, Vec<usize>, Vec<u8>)>;

fn split_checkpoint(bytes: &[u8]) -> (Tensors, HashMap<String, String>) {
    let st = SafeTensors::deserialize(bytes).expect("seed checkpoint");
    let t = st.tensors().into_iter().map(|(n, v)| (n, (v.dtype(), v.shape().to_vec(), v.data().to_vec()))).collect();
    let (_, meta) = SafeTensors::read_metadata(bytes).expect("seed header");
    (t, meta.metadata().clone().unwrap_or_default())
}

fn join_checkpoint(t: &Tensors, m: HashMap<String, String>) -> Option<Vec<u8>> {
    let views: Vec<(String, TensorView)> = t
        .iter()
        .map(|(n, (d, s, b))| Some((n.clone(), TensorView::new(*d, s.clone(), b).ok()?)))
        .collect::<Option<_>>()?;
    safetensors::serialize(views, Some(m)).ok()
}

/// Checkpoint cases: either the whole file's bytes are mutated, or one metadata value (config, scaler, drift, …)
/// or one tensor's shape, and the file is written again with a consistent header, so the mutation reaches the
/// JSON parsers and the shape checks rather than stopping at the safetensors header.
fn fuzz_checkpoint(ckpt: &[u8]) {
    let (tensors, meta) = split_checkpoint(ckpt);
    assert!(load_checkpoint(ckpt), "the seed checkpoint loads");
    let mut keys: Vec<String> = meta.keys().cloned().collect();
    keys.sort();
    for k in ["tickgrad.config", "tickgrad.scaler", "tickgrad.drift", "tickgrad.features"] {
        assert!(keys.iter().any(|x| x == k), "the seed checkpoint has `{k}`");
    }
    let names: Vec<String> = tensors.keys().cloned().collect();
    // 0: raw bytes; 1: a metadata value; 2: drop a metadata key; 3: a tensor's shape or dtype.
    let strategy = (0..4usize, 0..keys.len(), 0..names.len(), mutations(), 0..6usize, 0..64usize);
    let ok = run_cases("checkpoint", &strategy, |(how, key, tensor, muts, dim, size)| {
        let bytes = match how {
            0 => {
                let mut b = ckpt.to_vec();
                muts.iter().for_each(|m| apply(&mut b, m));
                b
            }
            1 | 2 => {
                let mut m = meta.clone();
                if how == 1 {
                    let mut v = m[&keys[key]].clone().into_bytes();
                    muts.iter().for_each(|x| apply(&mut v, x));
                    m.insert(keys[key].clone(), String::from_utf8_lossy(&v).into_owned());
                } else {
                    m.remove(&keys[key]);
                }
                join_checkpoint(&tensors, m).expect("rewrite")
            }
            _ => {
                let mut t = tensors.clone();
                let e = t.get_mut(&names[tensor]).expect("name");
                match dim {
                    0 => e.0 = Dtype::F64,
                    1 => e.1.push(1),
                    2 if !e.1.is_empty() => {
                        e.1.pop();
                    }
                    _ => {
                        // A shape that fits its bytes but not the model, or a zero-sized one.
                        let n: usize = e.1.iter().product();
                        e.1 = if size == 0 { vec![0] } else { vec![n] };
                        if size == 0 {
                            e.2.clear();
                        }
                    }
                }
                match join_checkpoint(&t, meta.clone()) {
                    Some(b) => b,
                    None => return Ok(false),
                }
            }
        };
        bounded(bytes.len(), "checkpoint", || load_checkpoint(&bytes))
    });
    assert!(ok > 0);
}

/// Ensemble-directory cases: one of its files (the manifest, the trees' JSON or the network's checkpoint) is
/// mutated in place and the whole directory loaded; the file is restored after each case.
fn fuzz_ensemble(ens: &Path) {
    let files = ["ensemble.json", "gbdt.json", "tcn.safetensors"];
    let originals: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(ens.join(f)).expect("ensemble file")).collect();
    let total: usize = originals.iter().map(Vec::len).sum();
    EnsembleBundle::load(&ens.join("ensemble.json"), Device::Cpu).expect("the seed ensemble loads");
    let ok = run_cases("ensemble directory", &(0..files.len(), mutations()), |(file, muts)| {
        let mut b = originals[file].clone();
        muts.iter().for_each(|m| apply(&mut b, m));
        let path = ens.join(files[file]);
        std::fs::write(&path, &b).expect("write case");
        let input = total - originals[file].len() + b.len();
        let loaded = bounded(input, "ensemble", || EnsembleBundle::load(&ens.join("ensemble.json"), Device::Cpu));
        std::fs::write(&path, &originals[file]).expect("restore");
        Ok(loaded?.is_ok())
    });
    assert!(ok > 0);
}

fn main() {
    let start = Instant::now();
    fuzz_csv();
    fuzz_npy();
    let dir = scratch("ensemble");
    let ens = small_ensemble(&dir);
    let ckpt = std::fs::read(ens.join("tcn.safetensors")).expect("member checkpoint");
    fuzz_checkpoint(&ckpt);
    fuzz_ensemble(&ens);
    let _ = std::fs::remove_dir_all(&dir);
    println!("fuzz_loaders: all loaders survived, {:.1} s", start.elapsed().as_secs_f64());
}
