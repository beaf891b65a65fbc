//! The fused kernels (attention, conv1d, LSTM, ensemble) on `Device::Cuda(0)` against the CPU backend; see
//! cuda_ops.rs for how devices are picked and skipped.
#![cfg(feature = "cuda")]

mod cuda_common;

use cuda_common::{close, cpu, cuda, down, up, Rng};
use tickgrad::ops::attention::{AttentionDims, Qkv};
use tickgrad::ops::conv1d::Conv1dDims;
use tickgrad::ops::ensemble::{cpu as ens_cpu, cuda as ens_cuda, EnsembleDims};
use tickgrad::ops::lstm::{LstmArgs, LstmDims};

#[test]
fn attention_forward_weights_backward() {
    let Some(g) = cuda("attention") else { return };
    let c = cpu();
    let mut rng = Rng::new(20);
    let cases = [
        AttentionDims::new(2, 7, 7, 8, 8, true),
        AttentionDims::new(3, 40, 40, 16, 8, false),
        AttentionDims::new(2, 40, 40, 16, 16, true),
        AttentionDims::new(2, 1, 37, 8, 4, true),
        AttentionDims::new(1, 9, 5, 4, 4, true), // early query rows see no key
        AttentionDims::new(1, 5, 70, 64, 64, false),
    ];
    for d in cases {
        let (q, k, v, dout) = (rng.vec(d.q_len()), rng.vec(d.k_len()), rng.vec(d.v_len()), rng.vec(d.o_len()));
        let (qg, kg, vg) = (up(g, &q), up(g, &k), up(g, &v));
        let (qc, kc, vc) = (up(c, &q), up(c, &k), up(c, &v));
        let (og, lg) = g.attention(&d, &Qkv { q: &qg, k: &kg, v: &vg }).unwrap();
        let (oc, lc) = c.attention(&d, &Qkv { q: &qc, k: &kc, v: &vc }).unwrap();
        close(&format!("attention o {d:?}"), g, &og, c, &oc, 1e-5);
        close(&format!("attention lse {d:?}"), g, &lg, c, &lc, 1e-5);
        close(
            &format!("attention weights {d:?}"),
            g,
            &g.attention_weights(&d, &qg, &kg, &lg).unwrap(),
            c,
            &c.attention_weights(&d, &qc, &kc, &lc).unwrap(),
            1e-5,
        );
        let bg = g.attention_backward(&d, &Qkv { q: &qg, k: &kg, v: &vg }, &og, &lg, &up(g, &dout)).unwrap();
        let bc = c.attention_backward(&d, &Qkv { q: &qc, k: &kc, v: &vc }, &oc, &lc, &up(c, &dout)).unwrap();
        close(&format!("attention dq {d:?}"), g, &bg.0, c, &bc.0, 1e-5);
        close(&format!("attention dk {d:?}"), g, &bg.1, c, &bc.1, 1e-5);
        close(&format!("attention dv {d:?}"), g, &bg.2, c, &bc.2, 1e-5);
    }
}

#[test]
fn conv1d_forward_and_both_gradients() {
    let Some(g) = cuda("conv1d") else { return };
    let c = cpu();
    let mut rng = Rng::new(21);
    let cases = [
        Conv1dDims::causal(2, 3, 5, 20, 3, 1),
        Conv1dDims::causal(3, 17, 9, 150, 3, 4),
        Conv1dDims::causal(1, 2, 3, 40, 2, 16),
        Conv1dDims { batch: 2, c_in: 4, c_out: 3, t_in: 30, kernel: 5, dilation: 2, pad_left: 3 },
        // A dilation whose halo does not fit shared memory: the direct kernel.
        Conv1dDims::causal(1, 2, 2, 30, 2, 20000),
    ];
    for d in cases {
        let (x, w, b, dy) = (rng.vec(d.x_len()), rng.vec(d.w_len()), rng.vec(d.c_out), rng.vec(d.y_len()));
        for bias in [true, false] {
            let bgs = up(g, &b);
            let bcs = up(c, &b);
            let yg = g.conv1d(&d, &up(g, &x), &up(g, &w), bias.then_some(&bgs)).unwrap();
            let yc = c.conv1d(&d, &up(c, &x), &up(c, &w), bias.then_some(&bcs)).unwrap();
            close(&format!("conv1d bias={bias} {d:?}"), g, &yg, c, &yc, 1e-5);
        }
        close(
            &format!("conv1d dx {d:?}"),
            g,
            &g.conv1d_backward_input(&d, &up(g, &w), &up(g, &dy)).unwrap(),
            c,
            &c.conv1d_backward_input(&d, &up(c, &w), &up(c, &dy)).unwrap(),
            1e-5,
        );
        let (dwg, dbg) = g.conv1d_backward_weight(&d, &up(g, &x), &up(g, &dy)).unwrap();
        let (dwc, dbc) = c.conv1d_backward_weight(&d, &up(c, &x), &up(c, &dy)).unwrap();
        close(&format!("conv1d dw {d:?}"), g, &dwg, c, &dwc, 1e-5);
        close(&format!("conv1d db {d:?}"), g, &dbg, c, &dbc, 1e-5);
    }
}

#[test]
fn lstm_sequence_fused_and_per_step_with_backward() {
    let Some(g) = cuda("lstm") else { return };
    let c = cpu();
    let mut rng = Rng::new(22);
    // H = 8 takes the on-chip whole-sequence kernels; H = 128 (256 KiB of w_hh) the per-step kernels.
    for (batch, t, input, hidden) in [(2, 6, 5, 8), (1, 3, 4, 128)] {
        for reverse in [false, true] {
            let d = LstmDims { batch, t, input, hidden, reverse };
            let s = |rng: &mut Rng, n: usize| rng.vec(n).iter().map(|v| v * 0.5).collect::<Vec<f32>>();
            let (x, h0, c0) = (s(&mut rng, d.x_len()), s(&mut rng, d.state_len()), s(&mut rng, d.state_len()));
            let (wi, wh) = (s(&mut rng, d.w_ih_len()), s(&mut rng, d.w_hh_len()));
            let (bi, bh, dhs) = (s(&mut rng, d.gates()), s(&mut rng, d.gates()), rng.vec(d.seq_len()));
            let ins_g: Vec<_> = [&x, &h0, &c0, &wi, &wh, &bi, &bh].iter().map(|v| up(g, v)).collect();
            let ins_c: Vec<_> = [&x, &h0, &c0, &wi, &wh, &bi, &bh].iter().map(|v| up(c, v)).collect();
            let (ag, ac) = (lstm_args(&ins_g), lstm_args(&ins_c));
            let sg = g.lstm_seq(&d, &ag).unwrap();
            let sc = c.lstm_seq(&d, &ac).unwrap();
            close(&format!("lstm hs {d:?}"), g, &sg.hs, c, &sc.hs, 1e-5);
            close(&format!("lstm cs {d:?}"), g, &sg.cs, c, &sc.cs, 1e-5);
            close(&format!("lstm gates {d:?}"), g, &sg.gates, c, &sc.gates, 1e-5);
            let gg = g.lstm_seq_backward(&d, &ag, &sg, &up(g, &dhs)).unwrap();
            let gc = c.lstm_seq_backward(&d, &ac, &sc, &up(c, &dhs)).unwrap();
            for (what, a, b) in [
                ("dx", &gg.dx, &gc.dx),
                ("dh0", &gg.dh0, &gc.dh0),
                ("dc0", &gg.dc0, &gc.dc0),
                ("dw_ih", &gg.dw_ih, &gc.dw_ih),
                ("dw_hh", &gg.dw_hh, &gc.dw_hh),
                ("db", &gg.db, &gc.db),
            ] {
                close(&format!("lstm {what} {d:?}"), g, a, c, b, 1e-5);
            }
        }
    }
}

#[test]
fn ensemble_combiner_matches_cpu_exactly_on_classes() {
    let Some(g) = cuda("ensemble") else { return };
    let be = tickgrad::backend::cuda::backend(0).unwrap();
    let mut rng = Rng::new(23);
    let d = EnsembleDims { batch: 300, members: 4, classes: 3, hold_class: 2 };
    // Softmax-like rows, with some exact ties between classes.
    let mut p: Vec<f32> = rng.vec_in(d.p_len(), 0.01, 1.0);
    for row in p.chunks_mut(d.classes) {
        let s: f32 = row.iter().sum();
        row.iter_mut().for_each(|v| *v /= s);
    }
    p[0] = p[1];
    let weights = [0.4f32, 0.3, 0.2, 0.1];
    for (conf, agree) in [(0.5f32, 0.5f32), (0.45, 0.7), (0.0, 0.0)] {
        let (cg, fg, kg) = ens_cuda::ensemble_forward(be, &d, &up(g, &p), &weights, conf, agree).unwrap();
        let (mut cc, mut fc, mut kc) =
            (vec![f32::NAN; d.combined_len()], vec![f32::NAN; d.batch], vec![u32::MAX; d.batch]);
        ens_cpu::ensemble_forward(&d, &p, &weights, conf, agree, &mut cc, &mut fc, &mut kc);
        assert_eq!(down(g, &cg), cc, "combined");
        assert_eq!(down(g, &fg), fc, "confidence");
        assert_eq!(kg, kc, "classes at thresholds ({conf}, {agree})");
    }
    let (dcomb, dconf) = (rng.vec(d.combined_len()), rng.vec(d.batch));
    let dpg = ens_cuda::ensemble_backward(be, &d, &up(g, &p), &weights, &up(g, &dcomb), &up(g, &dconf)).unwrap();
    let mut dpc = vec![f32::NAN; d.p_len()];
    ens_cpu::ensemble_backward(&d, &p, &weights, &dcomb, &dconf, &mut dpc);
    let e = cuda_common::rel_err(&down(g, &dpg), &dpc);
    assert!(e < 1e-6, "ensemble dp relative error {e:.3e}");
    assert!(ens_cuda::ensemble_forward(be, &d, &up(g, &p), &[0.0; 4], 0.5, 0.5).is_err(), "zero weights are an error");
}

/// The LSTM arguments from `[x, h0, c0, w_ih, w_hh, b_ih, b_hh]`.
fn lstm_args(i: &[tickgrad::backend::Storage]) -> LstmArgs<'_> {
    LstmArgs { x: &i[0], h0: &i[1], c0: &i[2], w_ih: &i[3], w_hh: &i[4], b_ih: &i[5], b_hh: &i[6] }
}
