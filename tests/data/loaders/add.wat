;; main(a, b) = a + b; prints "adding" to stdout. copy(src, len, dst) copies bytes.
(module
  (import "env" "print" (func $print (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "adding\n")
  (func (export "main") (param $a i32) (param $b i32) (result i32)
    (call $print (i32.const 16) (i32.const 7))
    (i32.add (local.get $a) (local.get $b)))
  (func (export "copy") (param $src i32) (param $len i32) (param $dst i32)
    (local $i i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
        (i32.store8 (i32.add (local.get $dst) (local.get $i))
                    (i32.load8_u (i32.add (local.get $src) (local.get $i))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))))
