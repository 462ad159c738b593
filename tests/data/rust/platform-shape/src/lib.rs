mod utils;

use wasm_bindgen::prelude::*;

// When the `wee_alloc` feature is enabled, use `wee_alloc` as the global allocator.
#[cfg(feature = "wee_alloc")]
#[global_allocator]
static ALLOC: wee_alloc::WeeAlloc = wee_alloc::WeeAlloc::INIT;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = console)]
    fn log(s: &str);
}

/// Sums a list of numbers and says so on stdout; panics (message on stderr) on an empty one.
#[wasm_bindgen]
pub fn main(values: Vec<f64>) -> f64 {
    utils::set_panic_hook();
    if values.is_empty() {
        panic!("main needs at least one number");
    }
    let total: f64 = values.iter().sum();
    log(&format!("sum of {} numbers", values.len()));
    total
}
