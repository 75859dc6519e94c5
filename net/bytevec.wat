;; serde Vec<u8> as rmp-serde writes it (a msgpack array of u8 ints), element
;; bodies only: a byte x < 0x80 is the one byte x, a byte x >= 0x80 is cc x.
;; Assembled by net/build_bytevec.ts into net/bytevec_wasm.ts; net/bytevec.ts
;; fills the shuffle tables and moves bytes in and out of this memory.
;;
;; Memory layout (all written by the host):
;;   0    .. 4096  encode shuffles: 256 x 16 bytes, indexed by the 8-bit mask of
;;                 high bytes in 8 input bytes; lane 8 of the source holds 0xcc
;;   4096 .. 6144  decode compaction, low half: 256 x 8 bytes, indexed by the
;;                 8-bit mask of bytes to keep (lanes 0..7)
;;   6144 .. 8192  decode compaction, high half: same, for lanes 8..15
;;   65536 ..      input and output areas, placed by the host
(module
  (memory (export "memory") 1)

  ;; Encodes n bytes at $src to $dst; returns the end of the output. Writes up to
  ;; 16 bytes past the returned end (scratch). The input may lie inside the output
  ;; area as long as $src >= $dst + n + 8: after i input bytes the writes end by
  ;; $dst + 2i + 16, short of the first unread byte $src + i + 8.
  (func (export "encode") (param $src i32) (param $n i32) (param $dst i32) (result i32)
    (local $end i32)
    (local $v v128)
    (local $m i32)
    (local $x i32)
    (local.set $end (i32.add (local.get $src) (i32.and (local.get $n) (i32.const -8))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
        ;; 8 input bytes in lanes 0..7, 0xcc in lanes 8..15
        (local.set $v
          (v128.or
            (v128.load64_zero (local.get $src))
            (v128.const i32x4 0 0 0xcccccccc 0xcccccccc)))
        (local.set $m (i8x16.bitmask (local.get $v)))
        ;; lanes 8..15 are all high: keep only the input's 8 bits
        (local.set $m (i32.and (local.get $m) (i32.const 0xff)))
        (v128.store
          (local.get $dst)
          (i8x16.swizzle
            (local.get $v)
            (v128.load (i32.shl (local.get $m) (i32.const 4)))))
        (local.set $dst
          (i32.add (local.get $dst) (i32.add (i32.const 8) (i32.popcnt (local.get $m)))))
        (local.set $src (i32.add (local.get $src) (i32.const 8)))
        (br $next)))
    ;; the last n % 8 bytes one at a time
    (local.set $end (i32.add (local.get $end) (i32.and (local.get $n) (i32.const 7))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
        (local.set $x (i32.load8_u (local.get $src)))
        (i32.store8 (local.get $dst) (i32.const 0xcc))
        (local.set $dst (i32.add (local.get $dst) (i32.shr_u (local.get $x) (i32.const 7))))
        (i32.store8 (local.get $dst) (local.get $x))
        (local.set $dst (i32.add (local.get $dst) (i32.const 1)))
        (local.set $src (i32.add (local.get $src) (i32.const 1)))
        (br $next)))
    (local.get $dst))

  ;; Markers (cc) among 64 bytes whose high-bit mask is $h, the block starting at
  ;; an element boundary: in every run of high bytes the 1st, 3rd, 5th ... byte.
  ;; Adding the run starts at even positions to $h clears those runs (the carry
  ;; ripples through them) and leaves runs starting at odd positions; flipping the
  ;; even bits of that sum then selects the run's even offsets in both cases. A
  ;; carry out of bit 63 only concerns the next block, so wrap-around is fine.
  (func $markers (param $h i64) (result i64)
    (i64.and
      (local.get $h)
      (i64.xor
        (i64.add
          (local.get $h)
          (i64.and
            (i64.and
              (local.get $h)
              (i64.xor (i64.shl (local.get $h) (i64.const 1)) (i64.const -1)))
            (i64.const 0x5555555555555555)))
        (i64.const 0x5555555555555555))))

  ;; Decodes n elements from the $len bytes at $src into $dst. Returns the number
  ;; of input bytes consumed, or -1 if the input holds anything but the two forms
  ;; or ends early. Reads only [$src, $src + $len), writes only [$dst, $dst + n).
  ;; $dst may equal $src (in place): each element takes at least one input byte,
  ;; and a block's stores end by the next block's start, all loaded beforehand.
  (func (export "decode")
    (param $src i32) (param $len i32) (param $n i32) (param $dst i32) (result i32)
    (local $p i32)
    (local $srcEnd i32)
    (local $dstEnd i32)
    (local $v0 v128)
    (local $v1 v128)
    (local $v2 v128)
    (local $v3 v128)
    (local $cc v128)
    (local $h i64)
    (local $m i64)
    (local $carry i64)
    (local $bad i64)
    (local $keep i64)
    (local $k i32)
    (local $x i32)
    (local.set $p (local.get $src))
    (local.set $srcEnd (i32.add (local.get $src) (local.get $len)))
    (local.set $dstEnd (i32.add (local.get $dst) (local.get $n)))
    (local.set $cc (i8x16.splat (i32.const 0xcc)))
    ;; 64 input bytes a step while they cannot hold more elements than remain.
    ;; $carry: the previous block's last byte was a marker, so this block's byte 0
    ;; is its payload. $bad collects errors, checked once after the loop.
    (block $done
      (loop $next
        (br_if $done
          (i32.or
            (i32.lt_s (i32.sub (local.get $dstEnd) (local.get $dst)) (i32.const 64))
            (i32.lt_s (i32.sub (local.get $srcEnd) (local.get $p)) (i32.const 64))))
        (local.set $v0 (v128.load (local.get $p)))
        (local.set $v1 (v128.load offset=16 (local.get $p)))
        (local.set $v2 (v128.load offset=32 (local.get $p)))
        (local.set $v3 (v128.load offset=48 (local.get $p)))
        (local.set $h
          (i64.or
            (i64.extend_i32_u (i32.or (i8x16.bitmask (local.get $v0)) (i32.shl (i8x16.bitmask (local.get $v1)) (i32.const 16))))
            (i64.shl
              (i64.extend_i32_u (i32.or (i8x16.bitmask (local.get $v2)) (i32.shl (i8x16.bitmask (local.get $v3)) (i32.const 16))))
              (i64.const 32))))
        ;; a payload carried in from the previous block is no marker
        (local.set $m
          (call $markers (i64.and (local.get $h) (i64.xor (local.get $carry) (i64.const -1)))))
        ;; every marker must be cc, and every payload (after a marker) high
        (local.set $bad
          (i64.or
            (local.get $bad)
            (i64.or
              (i64.and
                (local.get $m)
                (i64.xor
                  (i64.or
            (i64.extend_i32_u (i32.or (i8x16.bitmask (i8x16.eq (local.get $v0) (local.get $cc))) (i32.shl (i8x16.bitmask (i8x16.eq (local.get $v1) (local.get $cc))) (i32.const 16))))
            (i64.shl
              (i64.extend_i32_u (i32.or (i8x16.bitmask (i8x16.eq (local.get $v2) (local.get $cc))) (i32.shl (i8x16.bitmask (i8x16.eq (local.get $v3) (local.get $cc))) (i32.const 16))))
              (i64.const 32)))
                  (i64.const -1)))
              (i64.and
                (i64.or (i64.shl (local.get $m) (i64.const 1)) (local.get $carry))
                (i64.xor (local.get $h) (i64.const -1))))))
        (local.set $carry (i64.shr_u (local.get $m) (i64.const 63)))
        (local.set $keep (i64.xor (local.get $m) (i64.const -1)))
        ;; each 8-byte quarter: shuffle its kept bytes to the front, store 8 bytes,
        ;; advance by the number kept ($k is the table offset, mask * 8)
        (local.set $k (i32.and (i32.shl (i32.wrap_i64 (local.get $keep)) (i32.const 3)) (i32.const 0x7f8)))
        (v128.store64_lane 0
          (local.get $dst)
          (i8x16.swizzle (local.get $v0) (v128.load64_zero offset=4096 (local.get $k))))
        (local.set $dst (i32.add (local.get $dst) (i32.popcnt (local.get $k))))
        (local.set $k (i32.and (i32.wrap_i64 (i64.shr_u (local.get $keep) (i64.const 5))) (i32.const 0x7f8)))
        (v128.store64_lane 0
          (local.get $dst)
          (i8x16.swizzle (local.get $v0) (v128.load64_zero offset=6144 (local.get $k))))
        (local.set $dst (i32.add (local.get $dst) (i32.popcnt (local.get $k))))
        (local.set $k (i32.and (i32.wrap_i64 (i64.shr_u (local.get $keep) (i64.const 13))) (i32.const 0x7f8)))
        (v128.store64_lane 0
          (local.get $dst)
          (i8x16.swizzle (local.get $v1) (v128.load64_zero offset=4096 (local.get $k))))
        (local.set $dst (i32.add (local.get $dst) (i32.popcnt (local.get $k))))
        (local.set $k (i32.and (i32.wrap_i64 (i64.shr_u (local.get $keep) (i64.const 21))) (i32.const 0x7f8)))
        (v128.store64_lane 0
          (local.get $dst)
          (i8x16.swizzle (local.get $v1) (v128.load64_zero offset=6144 (local.get $k))))
        (local.set $dst (i32.add (local.get $dst) (i32.popcnt (local.get $k))))
        (local.set $k (i32.and (i32.wrap_i64 (i64.shr_u (local.get $keep) (i64.const 29))) (i32.const 0x7f8)))
        (v128.store64_lane 0
          (local.get $dst)
          (i8x16.swizzle (local.get $v2) (v128.load64_zero offset=4096 (local.get $k))))
        (local.set $dst (i32.add (local.get $dst) (i32.popcnt (local.get $k))))
        (local.set $k (i32.and (i32.wrap_i64 (i64.shr_u (local.get $keep) (i64.const 37))) (i32.const 0x7f8)))
        (v128.store64_lane 0
          (local.get $dst)
          (i8x16.swizzle (local.get $v2) (v128.load64_zero offset=6144 (local.get $k))))
        (local.set $dst (i32.add (local.get $dst) (i32.popcnt (local.get $k))))
        (local.set $k (i32.and (i32.wrap_i64 (i64.shr_u (local.get $keep) (i64.const 45))) (i32.const 0x7f8)))
        (v128.store64_lane 0
          (local.get $dst)
          (i8x16.swizzle (local.get $v3) (v128.load64_zero offset=4096 (local.get $k))))
        (local.set $dst (i32.add (local.get $dst) (i32.popcnt (local.get $k))))
        (local.set $k (i32.and (i32.wrap_i64 (i64.shr_u (local.get $keep) (i64.const 53))) (i32.const 0x7f8)))
        (v128.store64_lane 0
          (local.get $dst)
          (i8x16.swizzle (local.get $v3) (v128.load64_zero offset=6144 (local.get $k))))
        (local.set $dst (i32.add (local.get $dst) (i32.popcnt (local.get $k))))
        (local.set $p (i32.add (local.get $p) (i32.const 64)))
        (br $next)))
    (if (i64.ne (local.get $bad) (i64.const 0)) (then (return (i32.const -1))))
    ;; a marker ended the last block: its payload comes first
    (if (i32.wrap_i64 (local.get $carry))
      (then
        (if (i32.ge_u (local.get $p) (local.get $srcEnd)) (then (return (i32.const -1))))
        (local.set $x (i32.load8_u (local.get $p)))
        (if (i32.lt_u (local.get $x) (i32.const 0x80)) (then (return (i32.const -1))))
        (i32.store8 (local.get $dst) (local.get $x))
        (local.set $dst (i32.add (local.get $dst) (i32.const 1)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))))
    ;; the rest one element at a time
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $dst) (local.get $dstEnd)))
        (if (i32.ge_u (local.get $p) (local.get $srcEnd)) (then (return (i32.const -1))))
        (local.set $x (i32.load8_u (local.get $p)))
        (if (i32.ge_u (local.get $x) (i32.const 0x80))
          (then
            (if (i32.ne (local.get $x) (i32.const 0xcc)) (then (return (i32.const -1))))
            (local.set $p (i32.add (local.get $p) (i32.const 1)))
            (if (i32.ge_u (local.get $p) (local.get $srcEnd)) (then (return (i32.const -1))))
            (local.set $x (i32.load8_u (local.get $p)))
            (if (i32.lt_u (local.get $x) (i32.const 0x80)) (then (return (i32.const -1))))))
        (i32.store8 (local.get $dst) (local.get $x))
        (local.set $dst (i32.add (local.get $dst) (i32.const 1)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $next)))
    (i32.sub (local.get $p) (local.get $src))))
