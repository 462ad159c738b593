//! K-means clustering as a Motivus algorithm.
//!
//! A driver calls it with `params: [points, k]`; it returns one cluster label per point.
//! Labels are numbered in order of first appearance, so the first point is always in
//! cluster 0 and the result does not depend on how the clusters were initialised.

use wasm_bindgen::prelude::*;

/// A line on the task's stdout (`console.log`); `web_sys::console::error_1` writes to its
/// stderr. Plain `println!` goes nowhere on `wasm32-unknown-unknown`.
macro_rules! log {
    ($($arg:tt)*) => {
        web_sys::console::log_1(&JsValue::from(format!($($arg)*)))
    };
}

/// Entry point called by the Motivus worker with the task's `params`.
#[wasm_bindgen]
pub fn main(input: &JsValue, clusters: &JsValue) -> Box<[JsValue]> {
    // A panic's message goes to the task's stderr (the feature is on by default).
    #[cfg(feature = "console_error_panic_hook")]
    console_error_panic_hook::set_once();
    let xs: Vec<Vec<f32>> =
        from_json(input).expect("params[0] must be a list of points, each a list of numbers");
    let k: usize =
        from_json(clusters).expect("params[1] must be the number of clusters, a positive integer");
    log!("kmeans: {} points, k = {}", xs.len(), k);
    let clustering = kmeans(&xs, k);

    // Transform to JS array
    clustering
        .into_iter()
        .map(|s| JsValue::from(s as u32))
        .collect::<Vec<JsValue>>()
        .into_boxed_slice()
}

/// The algorithm built for this machine, for `motivus bench --native`: the task's params as
/// JSON text in, what `main` returns as JSON text out. The same code as the wasm, so the
/// bench's wasm/native ratio is the cost of running it as WebAssembly.
pub fn motivus_native(params: &str) -> String {
    let (xs, k): (Vec<Vec<f32>>, usize) =
        serde_json::from_str(params).expect("params must be [points, k]");
    serde_json::to_string(&kmeans(&xs, k)).expect("labels are JSON")
}

/// A task parameter read as JSON, as the platform's own Rust packages read theirs.
///
/// `JsValue::into_serde` goes through `JSON.stringify`, so a parameter means what the
/// driver's JSON says; wasm-bindgen deprecated it only to break a dependency cycle
/// (`serde-wasm-bindgen`, its suggested replacement, reads some values differently).
#[allow(deprecated)]
fn from_json<T: serde::de::DeserializeOwned>(value: &JsValue) -> serde_json::Result<T> {
    value.into_serde()
}

/// Lloyd's algorithm with a deterministic farthest-first initialisation.
pub fn kmeans(xs: &[Vec<f32>], k: usize) -> Vec<usize> {
    assert!(k > 0, "k must be at least 1");
    if xs.is_empty() {
        return Vec::new();
    }
    let dims = xs[0].len();
    assert!(
        xs.iter().all(|x| x.len() == dims),
        "all points must have the same number of dimensions"
    );
    let k = k.min(xs.len());
    let n = xs.len();
    let columns = Columns::new(xs, dims);
    let mut centroids = farthest_first(xs, k);
    let mut labels = vec![0usize; n];
    let mut nearest_of = vec![0u32; n];
    for _ in 0..300 {
        columns.nearest(&centroids, &mut nearest_of);
        let mut changed = false;
        for (label, &best) in labels.iter_mut().zip(&nearest_of) {
            if *label != best as usize {
                *label = best as usize;
                changed = true;
            }
        }
        let mut sums = vec![vec![0f64; dims]; k];
        let mut counts = vec![0usize; k];
        for (x, &label) in xs.iter().zip(&labels) {
            counts[label] += 1;
            for (s, v) in sums[label].iter_mut().zip(x) {
                *s += f64::from(*v);
            }
        }
        for c in 0..k {
            if counts[c] > 0 {
                for d in 0..dims {
                    centroids[c][d] = (sums[c][d] / counts[c] as f64) as f32;
                }
            }
        }
        if !changed {
            break;
        }
    }
    canonical(&labels)
}

/// The points stored by dimension (one column per dimension, padded to whole lanes), so that
/// the distance loop works on `LANES` points at once: SIMD registers, natively and in wasm
/// (SIMD128), while each point's sum still adds its dimensions in order (the same labels as a
/// loop per point). The lane loops have a constant trip count, which LLVM unrolls and
/// vectorises, keeping the sums in registers.
struct Columns {
    n: usize,
    stride: usize,
    values: Vec<f32>,
}

const LANES: usize = 8;

impl Columns {
    fn new(xs: &[Vec<f32>], dims: usize) -> Self {
        let n = xs.len();
        let stride = n.div_ceil(LANES) * LANES;
        let mut values = vec![0f32; stride * dims];
        for (i, x) in xs.iter().enumerate() {
            for (d, v) in x.iter().enumerate() {
                values[d * stride + i] = *v;
            }
        }
        Columns { n, stride, values }
    }

    /// The index of each point's nearest centroid (the first of equals).
    fn nearest(&self, centroids: &[Vec<f32>], out: &mut [u32]) {
        for start in (0..self.n).step_by(LANES) {
            let mut best_d = [f32::INFINITY; LANES];
            let mut best = [0u32; LANES];
            for (c, centroid) in centroids.iter().enumerate() {
                let mut dist = [0f32; LANES];
                for (d, &y) in centroid.iter().enumerate() {
                    let column = &self.values[d * self.stride + start..][..LANES];
                    for j in 0..LANES {
                        dist[j] += (column[j] - y) * (column[j] - y);
                    }
                }
                for j in 0..LANES {
                    if dist[j] < best_d[j] {
                        best_d[j] = dist[j];
                        best[j] = c as u32;
                    }
                }
            }
            let len = LANES.min(self.n - start);
            out[start..start + len].copy_from_slice(&best[..len]);
        }
    }
}

fn distance2(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

fn farthest_first(xs: &[Vec<f32>], k: usize) -> Vec<Vec<f32>> {
    let mut centroids = vec![xs[0].clone()];
    let mut dist: Vec<f32> = xs.iter().map(|x| distance2(x, &xs[0])).collect();
    while centroids.len() < k {
        let (far, _) = dist
            .iter()
            .enumerate()
            .fold((0, f32::NEG_INFINITY), |acc, (i, &d)| if d > acc.1 { (i, d) } else { acc });
        centroids.push(xs[far].clone());
        for (i, x) in xs.iter().enumerate() {
            dist[i] = dist[i].min(distance2(x, &xs[far]));
        }
    }
    centroids
}

/// Renumber labels in order of first appearance.
fn canonical(labels: &[usize]) -> Vec<usize> {
    let mut mapping: Vec<Option<usize>> = vec![None; labels.len().max(1)];
    let mut next = 0;
    labels
        .iter()
        .map(|&l| {
            *mapping[l].get_or_insert_with(|| {
                next += 1;
                next - 1
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_clusters() {
        let xs = vec![
            vec![-1.0, -1.0],
            vec![-1.2, -0.9],
            vec![5.0, 5.0],
            vec![5.1, 4.9],
        ];
        assert_eq!(kmeans(&xs, 2), vec![0, 0, 1, 1]);
    }
}
