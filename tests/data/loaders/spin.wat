;; main(n, tag) counts to n (a CPU-bound task of a chosen length) and returns tag.
(module
  (memory (export "memory") 1)
  (func (export "main") (param $n i32) (param $tag i32) (result i32)
    (local $i i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (local.get $tag)))
