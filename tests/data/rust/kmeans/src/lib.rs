//! K-means clustering, written as the Motivus docs show.
use wasm_bindgen::prelude::*;

mod motivus;

struct Clustering {
    membership: Vec<usize>,
}

fn dist2(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

fn nearest(p: &[f32], centroids: &[Vec<f32>]) -> usize {
    let mut best = 0;
    for (i, c) in centroids.iter().enumerate() {
        if dist2(p, c) < dist2(p, &centroids[best]) {
            best = i;
        }
    }
    best
}

fn kmeans(xs: Vec<Vec<f32>>, k: usize) -> Clustering {
    let k = k.max(1).min(xs.len().max(1));
    if xs.is_empty() {
        return Clustering { membership: vec![] };
    }
    // Deterministic farthest-point initialisation.
    let mut centroids: Vec<Vec<f32>> = vec![xs[0].clone()];
    while centroids.len() < k {
        let far = xs
            .iter()
            .max_by(|a, b| {
                let da = dist2(a, &centroids[nearest(a, &centroids)]);
                let db = dist2(b, &centroids[nearest(b, &centroids)]);
                da.partial_cmp(&db).unwrap()
            })
            .unwrap();
        centroids.push(far.clone());
    }
    let dim = xs[0].len();
    let mut membership = vec![0usize; xs.len()];
    for _ in 0..100 {
        let next: Vec<usize> = xs.iter().map(|p| nearest(p, &centroids)).collect();
        let changed = next != membership;
        membership = next;
        for (c, centroid) in centroids.iter_mut().enumerate() {
            let members: Vec<&Vec<f32>> =
                xs.iter().zip(&membership).filter(|(_, m)| **m == c).map(|(p, _)| p).collect();
            if members.is_empty() {
                continue;
            }
            *centroid = (0..dim)
                .map(|d| members.iter().map(|p| p[d]).sum::<f32>() / members.len() as f32)
                .collect();
        }
        if !changed {
            break;
        }
    }
    Clustering { membership }
}

#[wasm_bindgen]
pub fn main(input: &JsValue, clusters: &JsValue) -> Box<[JsValue]> {
    let xs: Vec<Vec<f32>> = input.into_serde().unwrap();
    let k: usize = clusters.into_serde().unwrap();
    log!("k-means of {} points, k = {}", xs.len(), k);
    let clustering = kmeans(xs, k);

    // Transform to JS array
    clustering
        .membership
        .iter()
        .map(|s| JsValue::from(*s as u32))
        .collect::<Vec<JsValue>>()
        .into_boxed_slice()
}
