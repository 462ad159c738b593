//! Motivus guest helpers (declared with `mod motivus;` in `lib.rs`; keep this file as it is).
//!
//! - `log!(...)` writes a line to the task's stdout, `elog!(...)` to its stderr
//!   (plain `println!` goes nowhere on `wasm32-unknown-unknown`).
//! - A panic's message reaches the task's stderr and the task fails: the loader calls the
//!   exported `__motivus_init` once per instance, which installs the panic hook below.
//!
//! The loader provides the one import used here, `motivus.log(fd, ptr, len)`.

#[link(wasm_import_module = "motivus")]
extern "C" {
    #[link_name = "log"]
    fn motivus_log(fd: u32, ptr: *const u8, len: usize);
}

/// Write `text` to the task's stdout (`fd` 1) or stderr (`fd` 2).
pub fn write(fd: u32, text: &str) {
    // Safety: the loader only reads `len` bytes at `ptr` during the call.
    unsafe { motivus_log(fd, text.as_ptr(), text.len()) }
}

/// Print a line to the task's stdout: `log!("x = {}", x);`
#[macro_export]
macro_rules! log {
    ($($arg:tt)*) => {
        $crate::motivus::write(1, &format!("{}\n", format_args!($($arg)*)))
    };
}

/// Print a line to the task's stderr: `elog!("warning: {}", w);`
#[macro_export]
macro_rules! elog {
    ($($arg:tt)*) => {
        $crate::motivus::write(2, &format!("{}\n", format_args!($($arg)*)))
    };
}

/// Called by the loader right after instantiation: route panic messages to stderr.
#[no_mangle]
pub extern "C" fn __motivus_init() {
    std::panic::set_hook(Box::new(|info| write(2, &format!("{}\n", info))));
}
