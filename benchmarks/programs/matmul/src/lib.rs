//! f32 vector-heavy benchmark: C = A x B for two n x n matrices of f32 made from a fixed
//! pseudo-random sequence, `rounds` times over, in the i-k-j order (the inner loop runs along a
//! row of B and of C: lanes of SIMD registers, natively and in wasm, without reordering any
//! sum). Returns a checksum of C, so that builds can be compared for their results as well as
//! their time.

use wasm_bindgen::prelude::*;

/// `params: [n, rounds]`; the checksum of the last product.
#[wasm_bindgen]
pub fn main(n: u32, rounds: u32) -> f64 {
    checksum(n as usize, rounds as usize)
}

/// The same computation natively, for `motivus bench --native`.
pub fn motivus_native(params: &str) -> String {
    let numbers: Vec<usize> = params
        .trim_matches(|c| c == '[' || c == ']')
        .split(',')
        .map(|s| s.trim().parse().expect("params must be [n, rounds]"))
        .collect();
    format!("{}", checksum(numbers[0], numbers[1]))
}

fn checksum(n: usize, rounds: usize) -> f64 {
    let mut seed = 42u64;
    let mut next = || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((seed >> 40) as f32) / (1u64 << 24) as f32 - 0.5
    };
    let a: Vec<f32> = (0..n * n).map(|_| next()).collect();
    let b: Vec<f32> = (0..n * n).map(|_| next()).collect();
    let mut c = vec![0f32; n * n];
    for _ in 0..rounds {
        c.iter_mut().for_each(|v| *v = 0.0);
        multiply(&a, &b, &mut c, n);
    }
    c.iter().map(|&v| f64::from(v)).sum()
}

fn multiply(a: &[f32], b: &[f32], c: &mut [f32], n: usize) {
    for i in 0..n {
        let row = &mut c[i * n..(i + 1) * n];
        for k in 0..n {
            let scale = a[i * n + k];
            let b_row = &b[k * n..(k + 1) * n];
            for (out, &x) in row.iter_mut().zip(b_row) {
                *out += scale * x;
            }
        }
    }
}
