;; main() never returns: the deadline test.
(module
  (memory (export "memory") 1)
  (func (export "main") (result i32)
    (loop $forever (br $forever))
    (i32.const 0)))
