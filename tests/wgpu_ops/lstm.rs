//! One LSTM direction over a sequence, forward (hs, cs, gates) and backward through time, both directions.

use crate::common::{both, close, cpu, gpu, Rng};
use tickgrad::ops::lstm::{LstmArgs, LstmDims};

#[test]
fn sequence_forward_and_backward_match_cpu() {
    let mut rng = Rng::new(100);
    for (batch, t, input, hidden) in [(1, 1, 1, 1), (2, 5, 3, 4), (3, 9, 7, 16), (1, 20, 5, 33), (4, 3, 10, 64)] {
        for reverse in [false, true] {
            let d = LstmDims { batch, t, input, hidden, reverse };
            let what = format!("{d:?}");
            let (xc, xg) = both(&rng.vec(d.x_len()));
            let ((h0c, h0g), (c0c, c0g)) = (both(&rng.vec(d.state_len())), both(&rng.vec(d.state_len())));
            let ((wic, wig), (whc, whg)) = (both(&rng.vec(d.w_ih_len())), both(&rng.vec(d.w_hh_len())));
            let ((bic, big), (bhc, bhg)) = (both(&rng.vec(d.gates())), both(&rng.vec(d.gates())));
            let ac = LstmArgs { x: &xc, h0: &h0c, c0: &c0c, w_ih: &wic, w_hh: &whc, b_ih: &bic, b_hh: &bhc };
            let ag = LstmArgs { x: &xg, h0: &h0g, c0: &c0g, w_ih: &wig, w_hh: &whg, b_ih: &big, b_hh: &bhg };
            let sc = cpu().lstm_seq(&d, &ac).unwrap();
            let sg = gpu().lstm_seq(&d, &ag).unwrap();
            close(&format!("lstm hs {what}"), &sg.hs, &sc.hs, 1e-5);
            close(&format!("lstm cs {what}"), &sg.cs, &sc.cs, 1e-5);
            close(&format!("lstm gates {what}"), &sg.gates, &sc.gates, 1e-5);
            let (dc, dg) = both(&rng.vec(d.seq_len()));
            let gc = cpu().lstm_seq_backward(&d, &ac, &sc, &dc).unwrap();
            let gg = gpu().lstm_seq_backward(&d, &ag, &sg, &dg).unwrap();
            close(&format!("lstm dx {what}"), &gg.dx, &gc.dx, 1e-4);
            close(&format!("lstm dh0 {what}"), &gg.dh0, &gc.dh0, 1e-4);
            close(&format!("lstm dc0 {what}"), &gg.dc0, &gc.dc0, 1e-4);
            close(&format!("lstm dw_ih {what}"), &gg.dw_ih, &gc.dw_ih, 1e-4);
            close(&format!("lstm dw_hh {what}"), &gg.dw_hh, &gc.dw_hh, 1e-4);
            close(&format!("lstm db {what}"), &gg.db, &gc.db, 1e-4);
        }
    }
}
