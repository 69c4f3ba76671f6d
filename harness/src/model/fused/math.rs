//! Element math (branch-free so that it vectorises) and the slice kernels built on it.

use std::mem::MaybeUninit;

use clipscale_data::multiversion;

pub(super) use super::elementwise::LAYER_NORM_EPS;

/// e^v for v <= 0 (0 below -87): Cody-Waite range reduction and a degree-6 polynomial.
#[inline(always)]
fn exp_nonpos(v: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0; // 1.5 * 2^23: adding it rounds to an integer
    let c = v.max(-87.0);
    let t = c * std::f32::consts::LOG2_E + MAGIC;
    let n = t - MAGIC;
    let n_int = (t.to_bits() as i32).wrapping_sub(0x4B40_0000);
    let r = c - n * 0.693_145_75 - n * 1.428_606_8e-6;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    let scale = f32::from_bits(((n_int + 127) << 23) as u32);
    if v < -87.0 { 0.0 } else { p * scale }
}

/// (Phi(x), e^(-x^2/2)) for GELU: the standard normal CDF and the unnormalised density.
#[inline(always)]
fn normal_cdf_and_density(x: f32) -> (f32, f32) {
    const P: f32 = 0.327_591_1;
    const A1: f32 = 0.254_829_6;
    const A2: f32 = -0.284_496_74;
    const A3: f32 = 1.421_413_7;
    const A4: f32 = -1.453_152;
    const A5: f32 = 1.061_405_4;
    let z = x.abs() * std::f32::consts::FRAC_1_SQRT_2;
    let t = 1.0 / (1.0 + P * z);
    let poly = t * (A1 + t * (A2 + t * (A3 + t * (A4 + t * A5))));
    let e = exp_nonpos(-z * z);
    let half_erfc = 0.5 * poly * e;
    let cdf = if x >= 0.0 { 1.0 - half_erfc } else { half_erfc };
    (cdf, e)
}

pub(super) const INV_SQRT_2PI: f32 = 0.398_942_3;

multiversion! {
    pub(super) fn gelu_slice(x: &[f32], y: &mut [MaybeUninit<f32>]) {
        for (yi, &xi) in y.iter_mut().zip(x) {
            let (cdf, _) = normal_cdf_and_density(xi);
            yi.write(xi * cdf);
        }
    }
}

multiversion! {
    /// g <- g * gelu'(x), in place.
    pub(super) fn gelu_backward_slice(x: &[f32], g: &mut [f32]) {
        for (gi, &xi) in g.iter_mut().zip(x) {
            let (cdf, e) = normal_cdf_and_density(xi);
            *gi *= cdf + xi * e * INV_SQRT_2PI;
        }
    }
}

multiversion! {
    /// Softmax over rows of `n` (in place on `y`, which holds the input); with `causal`, entry j
    /// of row r (query r % n) is masked when j > r % n.
    pub(super) fn softmax_rows(y: &mut [f32], n: usize, first_row: usize, causal: bool) {
        for (i, row) in y.chunks_exact_mut(n).enumerate() {
            let q = (first_row + i) % n;
            let valid = if causal { q + 1 } else { n };
            let (live, masked) = row.split_at_mut(valid);
            let mut max = f32::NEG_INFINITY;
            for &v in live.iter() {
                max = max.max(v);
            }
            let mut sum = 0.0f32;
            for v in live.iter_mut() {
                *v = exp_nonpos(*v - max);
                sum += *v;
            }
            let inv = 1.0 / sum;
            for v in live.iter_mut() {
                *v *= inv;
            }
            for v in masked.iter_mut() {
                *v = 0.0;
            }
        }
    }
}

multiversion! {
    pub(super) fn softmax_backward_rows(y: &[f32], g: &[f32], dx: &mut [f32], n: usize) {
        for ((yr, gr), dr) in y.chunks_exact(n).zip(g.chunks_exact(n)).zip(dx.chunks_exact_mut(n)) {
            let mut dot = 0.0f32;
            for (&yi, &gi) in yr.iter().zip(gr) {
                dot += yi * gi;
            }
            for ((d, &yi), &gi) in dr.iter_mut().zip(yr).zip(gr) {
                *d = yi * (gi - dot);
            }
        }
    }
}

multiversion! {
    /// y = (x - mean) * rstd * gamma + beta per row of `w`; also keeps x_hat and rstd for the
    /// backward pass. Mean and variance in two passes, as PyTorch does.
    pub(super) fn layer_norm_rows(
        x: &[f32],
        gamma: &[f32],
        beta: &[f32],
        y: &mut [f32],
        x_hat: &mut [f32],
        rstd: &mut [f32],
        w: usize
    ) {
        for (((xr, yr), hr), r) in x
            .chunks_exact(w)
            .zip(y.chunks_exact_mut(w))
            .zip(x_hat.chunks_exact_mut(w))
            .zip(rstd.iter_mut())
        {
            let mut sum = 0.0f32;
            for &v in xr {
                sum += v;
            }
            let mean = sum / w as f32;
            let mut sq = 0.0f32;
            for &v in xr {
                sq += (v - mean) * (v - mean);
            }
            let inv = 1.0 / (sq / w as f32 + LAYER_NORM_EPS).sqrt();
            *r = inv;
            for ((((yv, hv), &xv), &gv), &bv) in
                yr.iter_mut().zip(hr.iter_mut()).zip(xr).zip(gamma).zip(beta)
            {
                let h = (xv - mean) * inv;
                *hv = h;
                *yv = h * gv + bv;
            }
        }
    }
}

multiversion! {
    #[allow(clippy::too_many_arguments)]
    /// dx per row, and the rows' contributions to dgamma and dbeta added to the accumulators.
    pub(super) fn layer_norm_backward_rows(
        g: &[f32],
        x_hat: &[f32],
        rstd: &[f32],
        gamma: &[f32],
        dx: &mut [f32],
        dgamma: &mut [f32],
        dbeta: &mut [f32],
        w: usize
    ) {
        for (((gr, hr), &r), dr) in g
            .chunks_exact(w)
            .zip(x_hat.chunks_exact(w))
            .zip(rstd)
            .zip(dx.chunks_exact_mut(w))
        {
            let mut mean_gh = 0.0f32;
            let mut mean_ghh = 0.0f32;
            for ((&gv, &hv), &gam) in gr.iter().zip(hr).zip(gamma) {
                let gh = gv * gam;
                mean_gh += gh;
                mean_ghh += gh * hv;
            }
            mean_gh /= w as f32;
            mean_ghh /= w as f32;
            for ((((d, &gv), &hv), &gam), (dg, db)) in dr
                .iter_mut()
                .zip(gr)
                .zip(hr)
                .zip(gamma)
                .zip(dgamma.iter_mut().zip(dbeta.iter_mut()))
            {
                *d = r * (gv * gam - mean_gh - hv * mean_ghh);
                *dg += gv * hv;
                *db += gv;
            }
        }
    }
}
