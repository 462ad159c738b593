use medians::Medianf64;
use wasm_bindgen::prelude::*;

/// The median of a list of numbers, by the crates.io crate `medians`.
#[wasm_bindgen]
pub fn main(values: Vec<f64>) -> Result<f64, JsValue> {
    values
        .medf_checked()
        .map_err(|e| JsValue::from_str(&format!("no median: {e}")))
}
