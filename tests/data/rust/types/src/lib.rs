//! Exercises what wasm-bindgen supports through the Motivus harness: scalars, strings,
//! vectors, options, results, JS values, extern blocks, js-sys, closures and structs.
//! `main` is the default entry; the tests pick other exports with the task field `entry`.
use std::sync::atomic::{AtomicU32, Ordering};
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = console, js_name = log)]
    fn console_log(s: &str);
    #[wasm_bindgen(js_namespace = console, js_name = error)]
    fn console_error(s: &str);
}

/// An exported struct: wasm-bindgen gives its class a toJSON with the public fields.
#[wasm_bindgen]
#[derive(Clone, Copy)]
pub struct Point {
    pub x: f64,
    pub y: f64,
}

#[wasm_bindgen]
pub fn point(x: f64, y: f64) -> Point {
    Point { x, y }
}

/// js-sys: the JS Math object and an Array reduced with a Rust closure.
#[wasm_bindgen]
pub fn js_sys_sum(v: Vec<f64>) -> f64 {
    let array: js_sys::Array = v.iter().map(|x| JsValue::from(js_sys::Math::sqrt(*x))).collect();
    let add = Closure::wrap(Box::new(|acc: JsValue, x: JsValue| {
        JsValue::from(acc.as_f64().unwrap_or(0.0) + x.as_f64().unwrap_or(0.0))
    }) as Box<dyn FnMut(JsValue, JsValue) -> JsValue>);
    let add_fn: &js_sys::Function = add.as_ref().unchecked_ref();
    let mut total = JsValue::from(0.0);
    for item in array.iter() {
        total = add_fn.call2(&JsValue::NULL, &total, &item).unwrap();
    }
    total.as_f64().unwrap()
}

static CALLS: AtomicU32 = AtomicU32::new(0);

#[wasm_bindgen]
pub fn main(input: &JsValue, k: &JsValue) -> Box<[JsValue]> {
    let v: serde_json::Value = input.into_serde().unwrap();
    let n: u32 = k.into_serde().unwrap();
    (0..n).map(|_| JsValue::from_serde(&v).unwrap()).collect::<Vec<_>>().into_boxed_slice()
}

#[wasm_bindgen]
pub fn echo_ref(v: &JsValue) -> JsValue {
    v.clone()
}

#[wasm_bindgen]
pub fn echo_owned(v: JsValue) -> JsValue {
    v
}

#[wasm_bindgen]
pub fn strings(a: &str, b: String) -> String {
    format!("{}|{}", a, b)
}

#[wasm_bindgen]
pub fn id_i8(x: i8) -> i8 { x }
#[wasm_bindgen]
pub fn id_u8(x: u8) -> u8 { x }
#[wasm_bindgen]
pub fn id_i16(x: i16) -> i16 { x }
#[wasm_bindgen]
pub fn id_u16(x: u16) -> u16 { x }
#[wasm_bindgen]
pub fn id_i32(x: i32) -> i32 { x }
#[wasm_bindgen]
pub fn id_u32(x: u32) -> u32 { x }
#[wasm_bindgen]
pub fn id_i64(x: i64) -> i64 { x }
#[wasm_bindgen]
pub fn id_u64(x: u64) -> u64 { x }
#[wasm_bindgen]
pub fn id_isize(x: isize) -> isize { x }
#[wasm_bindgen]
pub fn id_usize(x: usize) -> usize { x }
#[wasm_bindgen]
pub fn id_f32(x: f32) -> f32 { x }
#[wasm_bindgen]
pub fn id_f64(x: f64) -> f64 { x }
#[wasm_bindgen]
pub fn id_bool(x: bool) -> bool { x }
#[wasm_bindgen]
pub fn id_char(x: char) -> char { x }

/// Mixed scalars in one call: checks argument order and widths.
#[wasm_bindgen]
pub fn mixed(a: u8, b: f64, c: i64, d: bool, e: f32) -> f64 {
    a as f64 + b + c as f64 + if d { 1000.0 } else { 0.0 } + e as f64
}

#[wasm_bindgen]
pub fn vec_f64(v: Vec<f64>) -> Vec<f64> { v.into_iter().rev().collect() }
#[wasm_bindgen]
pub fn slice_i32(v: &[i32]) -> Vec<i32> { v.iter().map(|x| x * 2).collect() }
#[wasm_bindgen]
pub fn slice_f32(v: &[f32]) -> Box<[f32]> { v.to_vec().into_boxed_slice() }
#[wasm_bindgen]
pub fn vec_u8(v: Vec<u8>) -> Vec<u8> { v.into_iter().rev().collect() }
#[wasm_bindgen]
pub fn box_u16(v: Box<[u16]>) -> Box<[u16]> { v }
#[wasm_bindgen]
pub fn vec_i64(v: Vec<i64>) -> Vec<i64> { v.into_iter().map(|x| x - 1).collect() }
#[wasm_bindgen]
pub fn vec_u64(v: Vec<u64>) -> Vec<u64> { v }
#[wasm_bindgen]
pub fn vec_i8(v: Vec<i8>) -> Vec<i8> { v }
#[wasm_bindgen]
pub fn vec_u32(v: Vec<u32>) -> Vec<u32> { v }
#[wasm_bindgen]
pub fn vec_i16(v: Vec<i16>) -> Vec<i16> { v }

#[wasm_bindgen]
pub fn js_vec(v: Vec<JsValue>) -> Box<[JsValue]> { v.into_iter().rev().collect::<Vec<_>>().into_boxed_slice() }
#[wasm_bindgen]
pub fn js_box(v: Box<[JsValue]>) -> Vec<JsValue> { v.into_vec() }

#[wasm_bindgen]
pub fn opt_i32(x: Option<i32>) -> Option<i32> { x.map(|v| v + 1) }
#[wasm_bindgen]
pub fn opt_u32(x: Option<u32>) -> Option<u32> { x }
#[wasm_bindgen]
pub fn opt_f64(x: Option<f64>) -> Option<f64> { x.map(|v| v * 2.0) }
#[wasm_bindgen]
pub fn opt_f32(x: Option<f32>) -> Option<f32> { x }
#[wasm_bindgen]
pub fn opt_i64(x: Option<i64>) -> Option<i64> { x }
#[wasm_bindgen]
pub fn opt_u8(x: Option<u8>) -> Option<u8> { x }
#[wasm_bindgen]
pub fn opt_bool(x: Option<bool>) -> Option<bool> { x.map(|b| !b) }
#[wasm_bindgen]
pub fn opt_char(x: Option<char>) -> Option<char> { x }
#[wasm_bindgen]
pub fn opt_string(x: Option<String>) -> Option<String> { x.map(|s| s.to_uppercase()) }
#[wasm_bindgen]
pub fn opt_vec(x: Option<Vec<f64>>) -> Option<Vec<f64>> { x }
#[wasm_bindgen]
pub fn opt_js(x: Option<Vec<JsValue>>) -> Option<Box<[JsValue]>> { x.map(|v| v.into_boxed_slice()) }

#[wasm_bindgen]
pub fn res_f64(x: f64) -> Result<f64, JsValue> {
    if x >= 0.0 { Ok(x.sqrt()) } else { Err(JsValue::from_str("negative input")) }
}
#[wasm_bindgen]
pub fn res_string(ok: bool) -> Result<String, JsValue> {
    if ok { Ok("fine".to_string()) } else { Err(JsValue::from_str("not fine")) }
}
#[wasm_bindgen]
pub fn res_unit(ok: bool) -> Result<(), JsValue> {
    if ok { Ok(()) } else { Err(JsValue::from_str("unit failed")) }
}
#[wasm_bindgen]
pub fn res_js(v: &JsValue) -> Result<JsValue, JsValue> {
    let parsed: Result<Vec<u32>, _> = v.into_serde();
    match parsed {
        Ok(xs) => JsValue::from_serde(&xs.iter().sum::<u32>()).map_err(|e| JsValue::from_str(&e.to_string())),
        Err(e) => Err(JsValue::from_str(&format!("bad input: {}", e))),
    }
}
#[wasm_bindgen]
pub fn res_vec(n: u32) -> Result<Vec<u32>, JsValue> {
    if n < 5 { Ok((0..n).collect()) } else { Err(JsValue::from_str("too many")) }
}
#[wasm_bindgen]
pub fn res_opt(n: i32) -> Result<Option<f64>, JsValue> {
    if n > 0 { Ok(Some(n as f64 / 2.0)) } else if n == 0 { Ok(None) } else { Err(JsValue::from_str("negative")) }
}

#[wasm_bindgen]
pub fn unit() {}

#[wasm_bindgen]
pub fn panics(msg: &str) -> u32 {
    console_error_panic_hook::set_once();
    panic!("{}", msg)
}

#[wasm_bindgen]
pub fn logs(s: &str) -> u32 {
    console_log(&format!("out: {}", s));
    console_error(&format!("err: {}", s));
    web_sys::console::log_1(&JsValue::from(format!("web-sys: {}", s)));
    s.len() as u32
}

/// Counts calls in this instance: a fresh instance per task must always return 1.
#[wasm_bindgen]
pub fn stateful() -> u32 {
    CALLS.fetch_add(1, Ordering::SeqCst) + 1
}

/// Leaks a JS heap slot per call (a forgotten JsValue): a fresh instance must not see it.
#[wasm_bindgen]
pub fn leak(v: &JsValue) -> u32 {
    std::mem::forget(v.clone());
    CALLS.fetch_add(1, Ordering::SeqCst) + 1
}
