use super::{cpu, reference, LstmArgs, LstmDims};
use crate::ops::testing::{assert_close, close, cpu_backend, devices, gradcheck, poisoned, tol, up, Rng};

/// Inputs of one direction: x, h0, c0, w_ih, w_hh, b_ih, b_hh (PyTorch's init scale 1/√H for the parameters).
fn inputs(d: &LstmDims, rng: &mut Rng) -> Vec<Vec<f64>> {
    let s = 1.0 / (d.hidden as f64).sqrt();
    let mut scaled = |n: usize| -> Vec<f64> { rng.vec64(n).into_iter().map(|v| v * s).collect() };
    let (w_ih, w_hh, b_ih, b_hh) = (scaled(d.w_ih_len()), scaled(d.w_hh_len()), scaled(d.gates()), scaled(d.gates()));
    vec![rng.vec64(d.x_len()), rng.vec64(d.state_len()), rng.vec64(d.state_len()), w_ih, w_hh, b_ih, b_hh]
}

fn to32(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

/// Forward outputs (hs, cs, gates) of either implementation.
type SeqOut<T> = (Vec<T>, Vec<T>, Vec<T>);

fn seq_ref<T: crate::ops::Real>(d: &LstmDims, p: &[Vec<T>]) -> SeqOut<T> {
    let mut hs = vec![T::nan(); d.seq_len()];
    let mut cs = vec![T::nan(); d.seq_len()];
    let mut g = vec![T::nan(); d.seq_gates_len()];
    reference::lstm_seq_forward(d, &p[0], &p[1], &p[2], &p[3], &p[4], &p[5], &p[6], &mut hs, &mut cs, &mut g);
    (hs, cs, g)
}

fn seq_cpu(d: &LstmDims, p: &[Vec<f32>]) -> SeqOut<f32> {
    let (mut hs, mut cs, mut g) = (poisoned(d.seq_len()), poisoned(d.seq_len()), poisoned(d.seq_gates_len()));
    cpu::lstm_seq_forward(d, &p[0], &p[1], &p[2], &p[3], &p[4], &p[5], &p[6], &mut hs, &mut cs, &mut g);
    (hs, cs, g)
}

/// Time slice `t` of a [B, T, n] array, as [B, n].
fn slice_t<T: Copy>(a: &[T], d: &LstmDims, n: usize, t: usize) -> Vec<T> {
    (0..d.batch).flat_map(|b| a[(b * d.t + t) * n..(b * d.t + t + 1) * n].to_vec()).collect()
}

/// Backward grads (dx, dh0, dc0, dw_ih, dw_hh, db) of the reference.
#[allow(clippy::type_complexity)]
fn seq_backward_ref<T: crate::ops::Real>(
    d: &LstmDims,
    p: &[Vec<T>],
    out: &SeqOut<T>,
    dhs: &[T],
    dh_n: Option<&[T]>,
    dc_n: Option<&[T]>,
) -> Vec<Vec<T>> {
    let mut g =
        [d.x_len(), d.state_len(), d.state_len(), d.w_ih_len(), d.w_hh_len(), d.gates()].map(|n| vec![T::nan(); n]);
    let [dx, dh0, dc0, dw_ih, dw_hh, db] = &mut g;
    reference::lstm_seq_backward(
        d, &p[0], &p[1], &p[2], &p[3], &p[4], &out.0, &out.1, &out.2, dhs, dh_n, dc_n, dx, dh0, dc0, dw_ih, dw_hh, db,
    );
    g.to_vec()
}

fn seq_backward_cpu(
    d: &LstmDims,
    p: &[Vec<f32>],
    out: &SeqOut<f32>,
    dhs: &[f32],
    dh_n: Option<&[f32]>,
    dc_n: Option<&[f32]>,
) -> Vec<Vec<f32>> {
    let mut g = [d.x_len(), d.state_len(), d.state_len(), d.w_ih_len(), d.w_hh_len(), d.gates()].map(poisoned);
    let [dx, dh0, dc0, dw_ih, dw_hh, db] = &mut g;
    cpu::lstm_seq_backward(
        d, &p[0], &p[1], &p[2], &p[3], &p[4], &out.0, &out.1, &out.2, dhs, dh_n, dc_n, dx, dh0, dc0, dw_ih, dw_hh, db,
    );
    g.to_vec()
}

const NAMES: [&str; 6] = ["dx", "dh0", "dc0", "dw_ih", "dw_hh", "db"];

/// (B, T, input, H): size-1 dims; odd sizes (partial panels); the packed kernel at batch 1 and at batch 3
/// with rows in parallel (4H·H ≥ 2^15); the sgemm path (B ≥ 16), also with the parallel gate math (B·H ≥ 2^13).
const SHAPES: [(usize, usize, usize, usize); 9] = [
    (1, 1, 1, 1),
    (2, 3, 3, 2),
    (3, 5, 4, 7),
    (1, 4, 9, 97),
    (1, 3, 10, 256),
    (3, 2, 5, 97),
    (2, 4, 5, 33),
    (17, 3, 4, 20),
    (33, 2, 3, 256),
];

#[test]
fn seq_cpu_matches_reference() {
    let mut rng = Rng::new(11);
    for &(batch, t, input, hidden) in &SHAPES {
        for reverse in [false, true] {
            let d = LstmDims { batch, t, input, hidden, reverse };
            let p: Vec<Vec<f32>> = inputs(&d, &mut rng).iter().map(|v| to32(v)).collect();
            let want = seq_ref(&d, &p);
            let got = seq_cpu(&d, &p);
            let what = format!("{d:?}");
            assert_close(&format!("hs {what}"), &got.0, &want.0, 1e-5);
            assert_close(&format!("cs {what}"), &got.1, &want.1, 1e-5);
            assert_close(&format!("gates {what}"), &got.2, &want.2, 1e-5);
            let packed = cpu::pack_recurrent(&d, &p[4]);
            let (mut hs, mut cs, mut g) = (poisoned(d.seq_len()), poisoned(d.seq_len()), poisoned(d.seq_gates_len()));
            cpu::lstm_seq_forward_packed(
                &d, &p[0], &p[1], &p[2], &p[3], &packed, &p[5], &p[6], &mut hs, &mut cs, &mut g,
            );
            assert_close(&format!("prepacked hs {what}"), &hs, &want.0, 1e-5);
            assert_close(&format!("prepacked cs {what}"), &cs, &want.1, 1e-5);
            assert_close(&format!("prepacked gates {what}"), &g, &want.2, 1e-5);

            let dhs = rng.vec32(d.seq_len());
            let (dh_n, dc_n) = (rng.vec32(d.state_len()), rng.vec32(d.state_len()));
            for with_final in [false, true] {
                let (hn, cn) = if with_final { (Some(&dh_n[..]), Some(&dc_n[..])) } else { (None, None) };
                let want_g = seq_backward_ref(&d, &p, &want, &dhs, hn, cn);
                let got_g = seq_backward_cpu(&d, &p, &want, &dhs, hn, cn);
                for (name, (g, w)) in NAMES.iter().zip(got_g.iter().zip(&want_g)) {
                    assert_close(&format!("{name} {what} final={with_final}"), g, w, 1e-4);
                }
            }
        }
    }
}

#[test]
fn cell_cpu_matches_reference() {
    let mut rng = Rng::new(12);
    for &(batch, _, input, hidden) in &SHAPES {
        let d = LstmDims { batch, t: 1, input, hidden, reverse: false };
        let p: Vec<Vec<f32>> = inputs(&d, &mut rng).iter().map(|v| to32(v)).collect();
        let n = d.state_len();
        let (mut h_r, mut c_r, mut g_r) = (poisoned(n), poisoned(n), poisoned(d.step_gates_len()));
        reference::lstm_cell_forward(&d, &p[0], &p[1], &p[2], &p[3], &p[4], &p[5], &p[6], &mut h_r, &mut c_r, &mut g_r);
        let (mut h, mut c, mut g) = (poisoned(n), poisoned(n), poisoned(d.step_gates_len()));
        cpu::lstm_cell_forward(&d, &p[0], &p[1], &p[2], &p[3], &p[4], &p[5], &p[6], &mut h, &mut c, &mut g);
        let what = format!("{d:?}");
        assert_close(&format!("cell h {what}"), &h, &h_r, 1e-5);
        assert_close(&format!("cell c {what}"), &c, &c_r, 1e-5);
        assert_close(&format!("cell gates {what}"), &g, &g_r, 1e-5);

        let (dh_out, dc_out) = (rng.vec32(n), rng.vec32(n));
        let lens = [d.step_x_len(), n, n, d.w_ih_len(), d.w_hh_len(), d.gates()];
        let mut want = lens.map(poisoned);
        let mut got = lens.map(poisoned);
        for (grads, fast) in [(&mut want, false), (&mut got, true)] {
            let [dx, dh, dc, dw_ih, dw_hh, db] = grads;
            let args = (&p[0], &p[1], &p[2], &p[3], &p[4], &g_r, &c_r, &dh_out, &dc_out);
            if fast {
                cpu::lstm_cell_backward(
                    &d, args.0, args.1, args.2, args.3, args.4, args.5, args.6, args.7, args.8, dx, dh, dc, dw_ih,
                    dw_hh, db,
                );
            } else {
                reference::lstm_cell_backward(
                    &d, args.0, args.1, args.2, args.3, args.4, args.5, args.6, args.7, args.8, dx, dh, dc, dw_ih,
                    dw_hh, db,
                );
            }
        }
        for (name, (g, w)) in ["dx", "dh", "dc", "dw_ih", "dw_hh", "db"].iter().zip(got.iter().zip(&want)) {
            assert_close(&format!("cell {name} {what}"), g, w, 1e-4);
        }
    }
}

/// The fast sequence kernels equal the fast cell kernels chained step by step, forward and backward.
#[test]
fn seq_equals_chained_cells() {
    let mut rng = Rng::new(13);
    for &(batch, t, input, hidden) in &[(2, 5, 3, 4), (1, 4, 6, 97)] {
        for reverse in [false, true] {
            let d = LstmDims { batch, t, input, hidden, reverse };
            let p: Vec<Vec<f32>> = inputs(&d, &mut rng).iter().map(|v| to32(v)).collect();
            let seq = seq_cpu(&d, &p);
            let n = d.state_len();
            let (mut h, mut c) = (p[1].clone(), p[2].clone());
            let mut steps = Vec::new(); // (x_t, h, c, gates, c_out) per processed step
            for step in 0..t {
                let tt = d.time_at(step);
                let x_t = slice_t(&p[0], &d, input, tt);
                let (mut h_o, mut c_o, mut g) = (poisoned(n), poisoned(n), poisoned(d.step_gates_len()));
                cpu::lstm_cell_forward(&d, &x_t, &h, &c, &p[3], &p[4], &p[5], &p[6], &mut h_o, &mut c_o, &mut g);
                let what = format!("step {step} of {d:?}");
                assert_close(&format!("h {what}"), &h_o, &slice_t(&seq.0, &d, hidden, tt), 1e-6);
                assert_close(&format!("c {what}"), &c_o, &slice_t(&seq.1, &d, hidden, tt), 1e-6);
                assert_close(&format!("gates {what}"), &g, &slice_t(&seq.2, &d, d.gates(), tt), 1e-6);
                steps.push((x_t, h, c, g, c_o.clone()));
                (h, c) = (h_o, c_o);
            }

            let dhs = rng.vec32(d.seq_len());
            let (dh_n, dc_n) = (rng.vec32(n), rng.vec32(n));
            let want = seq_backward_cpu(&d, &p, &seq, &dhs, Some(&dh_n), Some(&dc_n));
            let mut acc = [d.x_len(), n, n, d.w_ih_len(), d.w_hh_len(), d.gates()].map(|k| vec![0.0f32; k]);
            let (mut dh_carry, mut dc_carry) = (dh_n.clone(), dc_n.clone());
            for step in (0..t).rev() {
                let tt = d.time_at(step);
                let (x_t, h_in, c_in, g, c_o) = &steps[step];
                let dh_out: Vec<f32> =
                    slice_t(&dhs, &d, hidden, tt).iter().zip(&dh_carry).map(|(a, b)| a + b).collect();
                let mut part = [d.step_x_len(), n, n, d.w_ih_len(), d.w_hh_len(), d.gates()].map(poisoned);
                let [dx, dh, dc, dw_ih, dw_hh, db] = &mut part;
                cpu::lstm_cell_backward(
                    &d, x_t, h_in, c_in, &p[3], &p[4], g, c_o, &dh_out, &dc_carry, dx, dh, dc, dw_ih, dw_hh, db,
                );
                for b in 0..batch {
                    acc[0][(b * t + tt) * input..(b * t + tt + 1) * input]
                        .copy_from_slice(&dx[b * input..(b + 1) * input]);
                }
                for (i, part_i) in [(3, &*dw_ih), (4, &*dw_hh), (5, &*db)] {
                    acc[i].iter_mut().zip(part_i).for_each(|(a, v)| *a += v);
                }
                (dh_carry, dc_carry) = (dh.clone(), dc.clone());
            }
            (acc[1], acc[2]) = (dh_carry, dc_carry);
            for (name, (g, w)) in NAMES.iter().zip(acc.iter().zip(&want)) {
                assert_close(&format!("chained {name} {d:?}"), g, w, 1e-5);
            }
        }
    }
}

/// Reverse direction = forward direction over the time-flipped input, with time-flipped outputs.
#[test]
fn reverse_is_forward_over_flipped_time() {
    let mut rng = Rng::new(14);
    let d = LstmDims { batch: 3, t: 6, input: 4, hidden: 5, reverse: true };
    let fwd = LstmDims { reverse: false, ..d };
    let p: Vec<Vec<f32>> = inputs(&d, &mut rng).iter().map(|v| to32(v)).collect();
    let flip = |a: &[f32], n: usize| -> Vec<f32> {
        (0..d.batch)
            .flat_map(|b| (0..d.t).rev().flat_map(move |t| a[(b * d.t + t) * n..(b * d.t + t + 1) * n].to_vec()))
            .collect()
    };
    let mut pf = p.clone();
    pf[0] = flip(&p[0], d.input);
    let r = seq_cpu(&d, &p);
    let f = seq_cpu(&fwd, &pf);
    assert_close("reverse hs", &r.0, &flip(&f.0, d.hidden), 1e-6);
    assert_close("reverse cs", &r.1, &flip(&f.1, d.hidden), 1e-6);
    assert_close("reverse gates", &r.2, &flip(&f.2, d.gates()), 1e-6);
    assert_eq!(d.last_time(), 0);
    assert_eq!(fwd.last_time(), d.t - 1);
}

#[test]
fn gradcheck_cell_reference() {
    let mut rng = Rng::new(15);
    let d = LstmDims { batch: 2, t: 1, input: 3, hidden: 2, reverse: false };
    let p = inputs(&d, &mut rng);
    let n = d.state_len();
    let fwd = |xs: &[Vec<f64>]| -> Vec<f64> {
        let (mut h, mut c, mut g) = (vec![0.0; n], vec![0.0; n], vec![0.0; d.step_gates_len()]);
        reference::lstm_cell_forward(
            &d, &xs[0], &xs[1], &xs[2], &xs[3], &xs[4], &xs[5], &xs[6], &mut h, &mut c, &mut g,
        );
        [h, c].concat()
    };
    let (mut h, mut c, mut g) = (vec![0.0; n], vec![0.0; n], vec![0.0; d.step_gates_len()]);
    reference::lstm_cell_forward(&d, &p[0], &p[1], &p[2], &p[3], &p[4], &p[5], &p[6], &mut h, &mut c, &mut g);
    let dy = rng.vec64(2 * n);
    let mut gr = [d.step_x_len(), n, n, d.w_ih_len(), d.w_hh_len(), d.gates()].map(|k| vec![f64::NAN; k]);
    let [dx, dh, dc, dw_ih, dw_hh, db] = &mut gr;
    reference::lstm_cell_backward(
        &d,
        &p[0],
        &p[1],
        &p[2],
        &p[3],
        &p[4],
        &g,
        &c,
        &dy[..n],
        &dy[n..],
        dx,
        dh,
        dc,
        dw_ih,
        dw_hh,
        db,
    );
    let [dx, dh, dc, dw_ih, dw_hh, db] = gr;
    gradcheck("lstm cell", &p, &dy, &[dx, dh, dc, dw_ih, dw_hh, db.clone(), db], fwd);
}

#[test]
fn gradcheck_seq_reference() {
    let mut rng = Rng::new(16);
    for reverse in [false, true] {
        for with_final in [false, true] {
            let d = LstmDims { batch: 2, t: 3, input: 3, hidden: 2, reverse };
            let p = inputs(&d, &mut rng);
            let last = d.last_time();
            // Output: hs, then (h_n, c_n) when their gradients are given.
            let fwd = |xs: &[Vec<f64>]| -> Vec<f64> {
                let (hs, cs, _) = seq_ref(&d, xs);
                let mut y = hs.clone();
                if with_final {
                    y.extend(slice_t(&hs, &d, d.hidden, last));
                    y.extend(slice_t(&cs, &d, d.hidden, last));
                }
                y
            };
            let out = seq_ref(&d, &p);
            let n = d.state_len();
            let dy = rng.vec64(d.seq_len() + if with_final { 2 * n } else { 0 });
            let (dhs, tail) = dy.split_at(d.seq_len());
            let (hn, cn) = if with_final { (Some(&tail[..n]), Some(&tail[n..])) } else { (None, None) };
            let mut g = seq_backward_ref(&d, &p, &out, dhs, hn, cn);
            g.push(g[5].clone());
            gradcheck(&format!("lstm seq reverse={reverse} final={with_final}"), &p, &dy, &g, fwd);
        }
    }
}

/// A 2-layer bidirectional nn.LSTM from PyTorch (fixtures/layers/lstm.safetensors, made by
/// scripts/make_fixtures.py with torch 2.15; zero initial state): output, h_n, c_n and every gradient.
#[test]
fn matches_pytorch_two_layer_bidirectional() {
    let bytes = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/layers/lstm.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let get = |name: &str| -> Vec<f32> {
        let t = st.tensor(name).unwrap_or_else(|_| panic!("fixture tensor {name}"));
        t.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
    };
    let (batch, t, hidden) = (3, 6, 7);
    let mut layer_in = get("input");
    let mut input = 5;
    let (mut h_n, mut c_n) = (Vec::new(), Vec::new());
    // Per layer and direction: (dims, params, forward outputs), kept for backward.
    let mut saved = Vec::new();
    for layer in 0..2 {
        let mut out = vec![0.0f32; batch * t * 2 * hidden];
        for (dir, suffix) in ["", "_reverse"].iter().enumerate() {
            let d = LstmDims { batch, t, input, hidden, reverse: dir == 1 };
            let w = |k: &str| get(&format!("param.{k}_l{layer}{suffix}"));
            let zeros = vec![0.0f32; d.state_len()];
            let p = vec![
                layer_in.clone(),
                zeros.clone(),
                zeros,
                w("weight_ih"),
                w("weight_hh"),
                w("bias_ih"),
                w("bias_hh"),
            ];
            let o = seq_cpu(&d, &p);
            for (row, h_row) in out.chunks_mut(2 * hidden).zip(o.0.chunks(hidden)) {
                row[dir * hidden..(dir + 1) * hidden].copy_from_slice(h_row);
            }
            h_n.extend(slice_t(&o.0, &d, hidden, d.last_time()));
            c_n.extend(slice_t(&o.1, &d, hidden, d.last_time()));
            saved.push((d, p, o));
        }
        layer_in = out;
        input = 2 * hidden;
    }
    assert_close("pytorch output", &layer_in, &get("output"), 1e-5);
    assert_close("pytorch h_n", &h_n, &get("h_n"), 1e-5);
    assert_close("pytorch c_n", &c_n, &get("c_n"), 1e-5);

    let mut dout = get("gradout");
    for layer in (0..2).rev() {
        let mut din: Option<Vec<f32>> = None;
        for (dir, suffix) in ["", "_reverse"].iter().enumerate() {
            let (d, p, o) = &saved[layer * 2 + dir];
            let dhs: Vec<f32> =
                dout.chunks(2 * hidden).flat_map(|r| r[dir * hidden..(dir + 1) * hidden].to_vec()).collect();
            let g = seq_backward_cpu(d, p, o, &dhs, None, None);
            for (k, gi) in [("weight_ih", 3), ("weight_hh", 4), ("bias_ih", 5), ("bias_hh", 5)] {
                let name = format!("grad.param.{k}_l{layer}{suffix}");
                assert_close(&name, &g[gi], &get(&name), 1e-4);
            }
            din = Some(match din {
                None => g[0].clone(),
                Some(a) => a.iter().zip(&g[0]).map(|(x, y)| x + y).collect(),
            });
        }
        dout = din.unwrap();
    }
    assert_close("pytorch grad.input", &dout, &get("grad.input"), 1e-4);
}

/// CPU time of the whole process so far (all threads), ms, from /proc/self/stat (10 ms ticks).
fn process_cpu_ms() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<f64> =
        stat.rsplit(')').next().unwrap_or("").split_whitespace().filter_map(|f| f.parse().ok()).collect();
    // After the command name: state (not a number, skipped), ppid, …; utime and stime are fields 14 and 15.
    fields.get(10).zip(fields.get(11)).map_or(f64::NAN, |(u, s)| (u + s) * 10.0)
}

/// (best wall time of a run, CPU time per run over ≥ 1 s of runs), both ms. On a busy machine the CPU time
/// still shows what the work costs; for one thread it is the latency the machine would give when idle.
fn measure(f: &mut dyn FnMut()) -> (f64, f64) {
    f();
    let (mut best, mut runs) = (f64::INFINITY, 0);
    let (start, cpu0) = (std::time::Instant::now(), process_cpu_ms());
    while runs < 10 || start.elapsed().as_secs_f64() < 1.0 {
        let t = std::time::Instant::now();
        f();
        best = best.min(t.elapsed().as_secs_f64() * 1e3);
        runs += 1;
    }
    (best, (process_cpu_ms() - cpu0) / runs as f64)
}

/// Batch-1 latency of one direction (H = 256, T = 120) and of the 3-layer bidirectional stack of the seed
/// `lstm_attention`, with rayon's global pool and inside a 1-thread pool. Run:
/// `cargo test --release --lib ops::lstm::tests::timing -- --ignored --nocapture`.
#[test]
#[ignore]
fn timing_batch1() {
    let mut rng = Rng::new(17);
    let make = |d: &LstmDims, rng: &mut Rng| -> Vec<Vec<f32>> { inputs(d, rng).iter().map(|v| to32(v)).collect() };
    let one_thread = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    let threads = rayon::current_num_threads();
    for input in [10, 512] {
        let d = LstmDims { batch: 1, t: 120, input, hidden: 256, reverse: false };
        let p = make(&d, &mut rng);
        let packed = cpu::pack_recurrent(&d, &p[4]);
        let dhs = rng.vec32(d.seq_len());
        let (mut hs, mut cs, mut g) = (poisoned(d.seq_len()), poisoned(d.seq_len()), poisoned(d.seq_gates_len()));
        for (pool, label) in [(None, threads), (Some(&one_thread), 1)] {
            let run = |f: &mut (dyn FnMut() + Send)| match pool {
                Some(pool) => pool.install(|| measure(f)),
                None => measure(f),
            };
            let fwd = run(&mut || {
                cpu::lstm_seq_forward(&d, &p[0], &p[1], &p[2], &p[3], &p[4], &p[5], &p[6], &mut hs, &mut cs, &mut g)
            });
            let pre = run(&mut || {
                cpu::lstm_seq_forward_packed(
                    &d, &p[0], &p[1], &p[2], &p[3], &packed, &p[5], &p[6], &mut hs, &mut cs, &mut g,
                )
            });
            let out = (hs.clone(), cs.clone(), g.clone());
            let bwd = run(&mut || {
                seq_backward_cpu(&d, &p, &out, &dhs, None, None);
            });
            println!(
                "one direction, input {input}, {label} thread(s): forward {:.2} ms wall / {:.2} ms CPU; prepacked \
                 {:.2} / {:.2}; backward {:.2} / {:.2}",
                fwd.0, fwd.1, pre.0, pre.1, bwd.0, bwd.1
            );
        }
    }
    let d = LstmDims { batch: 1, t: 1, input: 512, hidden: 256, reverse: false };
    let p = make(&d, &mut rng);
    let (mut h, mut c, mut g) = (poisoned(256), poisoned(256), poisoned(1024));
    let (wall, cpu_ms) = one_thread.install(|| {
        measure(&mut || {
            for _ in 0..100 {
                cpu::lstm_cell_forward(&d, &p[0], &p[1], &p[2], &p[3], &p[4], &p[5], &p[6], &mut h, &mut c, &mut g)
            }
        })
    });
    println!("one cell step, input 512, batch 1, 1 thread: {:.1} µs wall / {:.1} µs CPU", wall * 10.0, cpu_ms * 10.0);
    // The seed model's stack: 3 layers, 2 directions, input 10 then 512.
    let dims: Vec<LstmDims> = (0..6)
        .map(|i| LstmDims { batch: 1, t: 120, input: if i < 2 { 10 } else { 512 }, hidden: 256, reverse: i % 2 == 1 })
        .collect();
    let params: Vec<Vec<Vec<f32>>> = dims.iter().map(|d| make(d, &mut rng)).collect();
    let packed: Vec<cpu::PackedRecurrent> =
        dims.iter().zip(&params).map(|(d, p)| cpu::pack_recurrent(d, &p[4])).collect();
    let run_dir = |i: usize, x: &[f32], prepacked: bool| -> Vec<f32> {
        let (d, p) = (&dims[i], &params[i]);
        let (mut hs, mut cs, mut g) = (vec![0.0; d.seq_len()], vec![0.0; d.seq_len()], vec![0.0; d.seq_gates_len()]);
        if prepacked {
            cpu::lstm_seq_forward_packed(d, x, &p[1], &p[2], &p[3], &packed[i], &p[5], &p[6], &mut hs, &mut cs, &mut g);
        } else {
            cpu::lstm_seq_forward(d, x, &p[1], &p[2], &p[3], &p[4], &p[5], &p[6], &mut hs, &mut cs, &mut g);
        }
        hs
    };
    let concat = |f: &[f32], r: &[f32]| -> Vec<f32> {
        f.chunks(256).zip(r.chunks(256)).flat_map(|(a, b)| [a, b].concat()).collect()
    };
    let x0 = params[0][0].clone();
    let stack = |parallel_dirs: bool, prepacked: bool| {
        let mut x = x0.clone();
        for layer in 0..3 {
            let (f, r) = if parallel_dirs {
                rayon::join(|| run_dir(2 * layer, &x, prepacked), || run_dir(2 * layer + 1, &x, prepacked))
            } else {
                (run_dir(2 * layer, &x, prepacked), run_dir(2 * layer + 1, &x, prepacked))
            };
            x = concat(&f, &r);
        }
    };
    for (parallel_dirs, prepacked, single) in
        [(false, false, true), (false, false, false), (true, false, false), (true, true, false), (false, true, true)]
    {
        let (wall, cpu) = if single {
            one_thread.install(|| measure(&mut || stack(parallel_dirs, prepacked)))
        } else {
            measure(&mut || stack(parallel_dirs, prepacked))
        };
        println!(
            "3-layer bidirectional stack, batch 1, {} thread(s), directions in parallel: {parallel_dirs}, \
             prepacked: {prepacked}: {wall:.2} ms wall / {cpu:.2} ms CPU",
            if single { 1 } else { threads }
        );
    }
}

/// Every device against the CPU backend: one direction over a sequence, forward (hs, cs, gates) and backward
/// through time, both directions. (batch, t, input, hidden, input scale): the former wgpu suite's sizes, then
/// the former CUDA suite's, where H = 8 takes CUDA's on-chip whole-sequence kernels and H = 128 (256 KiB of
/// w_hh) its per-step kernels.
#[test]
fn sequence_forward_and_backward_match_cpu_on_every_device() {
    let mut rng = Rng::new(100);
    let cases = [(1, 1, 1, 1, 1.0), (2, 5, 3, 4, 1.0), (3, 9, 7, 16, 1.0), (1, 20, 5, 33, 1.0), (4, 3, 10, 64, 1.0)];
    let cases = cases.into_iter().chain([(2, 6, 5, 8, 0.5), (1, 3, 4, 128, 0.5)]);
    let cases: Vec<(usize, usize, usize, usize, f32)> = cases.collect();
    for be in devices("lstm sequence_forward_and_backward_match_cpu_on_every_device") {
        let c = cpu_backend();
        for &(batch, t, input, hidden, scale) in &cases {
            for reverse in [false, true] {
                let d = LstmDims { batch, t, input, hidden, reverse };
                let what = format!("{d:?}");
                let mut s = |n: usize| rng.vec32(n).iter().map(|v| v * scale).collect::<Vec<f32>>();
                let host_in = [
                    s(d.x_len()),
                    s(d.state_len()),
                    s(d.state_len()),
                    s(d.w_ih_len()),
                    s(d.w_hh_len()),
                    s(d.gates()),
                    s(d.gates()),
                ];
                let dhs = rng.vec32(d.seq_len());
                let ins_c: Vec<_> = host_in.iter().map(|v| up(c, v)).collect();
                let ins_g: Vec<_> = host_in.iter().map(|v| up(be, v)).collect();
                let (ac, ag) = (lstm_args(&ins_c), lstm_args(&ins_g));
                let sc = c.lstm_seq(&d, &ac).unwrap();
                let sg = be.lstm_seq(&d, &ag).unwrap();
                close(&format!("lstm hs {what}"), &sg.hs, &sc.hs, 1e-5);
                close(&format!("lstm cs {what}"), &sg.cs, &sc.cs, 1e-5);
                close(&format!("lstm gates {what}"), &sg.gates, &sc.gates, 1e-5);
                let gc = c.lstm_seq_backward(&d, &ac, &sc, &up(c, &dhs)).unwrap();
                let gg = be.lstm_seq_backward(&d, &ag, &sg, &up(be, &dhs)).unwrap();
                let t = tol(be, 1e-4, 1e-5);
                close(&format!("lstm dx {what}"), &gg.dx, &gc.dx, t);
                close(&format!("lstm dh0 {what}"), &gg.dh0, &gc.dh0, t);
                close(&format!("lstm dc0 {what}"), &gg.dc0, &gc.dc0, t);
                close(&format!("lstm dw_ih {what}"), &gg.dw_ih, &gc.dw_ih, t);
                close(&format!("lstm dw_hh {what}"), &gg.dw_hh, &gc.dw_hh, t);
                close(&format!("lstm db {what}"), &gg.db, &gc.db, t);
            }
        }
    }
}

/// The LSTM arguments from `[x, h0, c0, w_ih, w_hh, b_ih, b_hh]`.
fn lstm_args(i: &[crate::backend::Storage]) -> LstmArgs<'_> {
    LstmArgs { x: &i[0], h0: &i[1], c0: &i[2], w_ih: &i[3], w_hh: &i[4], b_ih: &i[5], b_hh: &i[6] }
}
