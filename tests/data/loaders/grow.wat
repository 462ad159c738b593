;; main() grows memory 1 MiB at a time, touching every page, until memory.grow fails,
;; then traps (unreachable): the memory-cap test.
(module
  (memory (export "memory") 1 65536)
  (func (export "main") (result i32)
    (local $old i32) (local $p i32)
    (loop $more
      (local.set $old (memory.grow (i32.const 16)))
      (if (i32.eq (local.get $old) (i32.const -1)) (then unreachable))
      (local.set $p (i32.mul (local.get $old) (i32.const 65536)))
      (block $touched
        (loop $touch
          (br_if $touched (i32.ge_u (local.get $p)
                                    (i32.mul (i32.add (local.get $old) (i32.const 16)) (i32.const 65536))))
          (i32.store8 (local.get $p) (i32.const 1))
          (local.set $p (i32.add (local.get $p) (i32.const 4096)))
          (br $touch)))
      (br $more))
    (i32.const 0)))
