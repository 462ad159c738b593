/* Motivus Rust loader runtime (wasm-bindgen 0.2.83 ABI, no wasm-bindgen CLI needed).
 * motivus-loader:reusable (a local pool may post it more than one task; see below)
 *
 * One self-contained classic script, 7-bit ASCII (the platform's worker decodes loaders as
 * ASCII): runs as a browser Web Worker and as a node (16 or newer) worker_threads worker
 * created with {eval: true, env: {}}. It follows the worker contract (docs/loopback.md):
 * each message posted to it is a task body ({params, wasm | buffWasm, entry?}); each gets
 * exactly one reply {body: {data}, stdout: base64, stderr: base64, exitCode}, with body a
 * plain JSON value (the worker gzips and base64s it). main is called as the platform calls
 * it, main.apply(null, params): extra params are ignored, a missing one is an error. Every
 * task runs in a fresh wasm instance with a fresh JS value heap; the compiled module is
 * cached, so a warm worker skips compiling.
 *
 * The kit generates the loader by replacing the PLAN placeholder below with the exported
 * functions' signatures, read from the module's wasm-bindgen descriptors at build time
 * (motivus_dev/wasm_bindgen). The optional task field `entry` names the export to call
 * (default "main").
 */
"use strict";
(function () {
  var PLAN = /*__MOTIVUS_RUST_PLAN__*/ null;

  var IS_NODE = typeof process === "object" && process.versions && process.versions.node &&
    typeof WorkerGlobalScope === "undefined";
  var encoder = new TextEncoder();
  var decoder = new TextDecoder("utf-8", { ignoreBOM: true, fatal: false });
  var JSIDX_OFFSET = 32; // wasm-bindgen src/lib.rs: first heap slot; below it the borrow stack
  var NONE_SENTINEL = 0xffffff; // OptionIntoWasmAbi::none() of the u32-sized types
  var NUM = {
    i8: [Int8Array, 1], u8: [Uint8Array, 1], i16: [Int16Array, 2], u16: [Uint16Array, 2],
    i32: [Int32Array, 4], u32: [Uint32Array, 4], i64: [BigInt64Array, 8], u64: [BigUint64Array, 8],
    f32: [Float32Array, 4], f64: [Float64Array, 8]
  };
  var INT_RANGE = {
    i8: [-128, 127], u8: [0, 255], i16: [-32768, 32767], u16: [0, 65535],
    i32: [-2147483648, 2147483647], u32: [0, 4294967295]
  };

  function TaskError(message) { this.message = message; }

  // ---- values that JSON can carry ------------------------------------------------------
  function big(v) {
    // 64-bit integers leave the loader as JSON numbers when exact, else as decimal strings.
    return v >= -9007199254740991n && v <= 9007199254740991n ? Number(v) : v.toString();
  }
  function jsonReplacer(_key, v) {
    if (typeof v === "bigint") return big(v);
    if (ArrayBuffer.isView(v) && !(v instanceof DataView)) return Array.from(v, function (x) {
      return typeof x === "bigint" ? big(x) : x;
    });
    return v;
  }
  function describeError(e) {
    if (e instanceof TaskError) return e.message;
    if (e instanceof Error) return (e.name || "Error") + ": " + e.message;
    if (typeof e === "string") return e;
    try { return JSON.stringify(e, jsonReplacer); } catch (_) { return String(e); }
  }

  // ---- one wasm instance with its wasm-bindgen JS heap -----------------------------------
  function Instance(module, out) {
    var heap = new Array(JSIDX_OFFSET).fill(undefined);
    heap.push(undefined, null, true, false);
    var heapNext = heap.length;
    var stackPointer = JSIDX_OFFSET;
    var w = null; // the instance's exports

    function getObject(i) { return heap[i]; }
    function dropObject(i) { if (i < JSIDX_OFFSET + 4) return; heap[i] = heapNext; heapNext = i; }
    function takeObject(i) { var v = getObject(i); dropObject(i); return v; }
    function addHeapObject(v) {
      if (heapNext === heap.length) heap.push(heap.length + 1);
      var i = heapNext; heapNext = heap[i]; heap[i] = v; return i;
    }
    function addBorrowedObject(v) {
      if (stackPointer === 1) throw new Error("out of js stack");
      heap[--stackPointer] = v; return stackPointer;
    }
    function bytes(ptr, len) { return new Uint8Array(w.memory.buffer, ptr, len); }
    function view() { return new DataView(w.memory.buffer); }
    function getString(ptr, len) { return decoder.decode(bytes(ptr >>> 0, len >>> 0)); }
    function passBytes(u8) {
      var ptr = w.__wbindgen_malloc(u8.length) >>> 0;
      bytes(ptr, u8.length).set(u8);
      return [ptr, u8.length];
    }
    function passString(s) { return passBytes(encoder.encode(s)); }
    function writeSlice(retptr, pair) {
      var dv = view();
      dv.setUint32(retptr, pair[0], true); dv.setUint32(retptr + 4, pair[1], true);
    }
    function bool(v) { return v ? 1 : 0; }
    function unsupported(what) {
      return function () { throw new Error(what + " is not supported by the Motivus Rust loader"); };
    }
    function logBytes(fd, ptr, len) {
      var text = getString(ptr, len);
      if (fd === 2) out.stderr += text; else out.stdout += text;
    }

    // The intrinsics of wasm-bindgen 0.2.83 src/lib.rs (`externs!` block), with the JS
    // semantics of the wasm-bindgen CLI's generated glue. Keep RUST_PROVIDED_INTRINSICS in
    // motivus_dev/wasm_bindgen/loader.py in sync with these names.
    var I = {
      __wbindgen_object_clone_ref: function (i) { return addHeapObject(getObject(i)); },
      __wbindgen_object_drop_ref: function (i) { takeObject(i); },
      __wbindgen_string_new: function (p, l) { return addHeapObject(getString(p, l)); },
      __wbindgen_number_new: function (f) { return addHeapObject(f); },
      __wbindgen_bigint_from_str: function (p, l) { return addHeapObject(BigInt(getString(p, l))); },
      __wbindgen_bigint_from_i64: function (n) { return addHeapObject(n); },
      __wbindgen_bigint_from_u64: function (n) { return addHeapObject(BigInt.asUintN(64, n)); },
      __wbindgen_bigint_from_i128: function (hi, lo) {
        return addHeapObject((hi << 64n) | BigInt.asUintN(64, lo));
      },
      __wbindgen_bigint_from_u128: function (hi, lo) {
        return addHeapObject((BigInt.asUintN(64, hi) << 64n) | BigInt.asUintN(64, lo));
      },
      __wbindgen_symbol_named_new: function (p, l) { return addHeapObject(Symbol(getString(p, l))); },
      __wbindgen_symbol_anonymous_new: function () { return addHeapObject(Symbol()); },
      __wbindgen_externref_heap_live_count: function () {
        var free = 0, next = heapNext;
        while (next < heap.length) { free++; next = heap[next]; }
        return heap.length - free - JSIDX_OFFSET - 4;
      },
      __wbindgen_is_null: function (i) { return bool(getObject(i) === null); },
      __wbindgen_is_undefined: function (i) { return bool(getObject(i) === undefined); },
      __wbindgen_is_symbol: function (i) { return bool(typeof getObject(i) === "symbol"); },
      __wbindgen_is_object: function (i) { var v = getObject(i); return bool(typeof v === "object" && v !== null); },
      __wbindgen_is_function: function (i) { return bool(typeof getObject(i) === "function"); },
      __wbindgen_is_string: function (i) { return bool(typeof getObject(i) === "string"); },
      __wbindgen_is_bigint: function (i) { return bool(typeof getObject(i) === "bigint"); },
      __wbindgen_typeof: function (i) { return addHeapObject(typeof getObject(i)); },
      __wbindgen_in: function (a, b) { return bool(getObject(a) in getObject(b)); },
      __wbindgen_is_falsy: function (i) { return bool(!getObject(i)); },
      __wbindgen_as_number: function (i) { return +getObject(i); },
      __wbindgen_try_into_number: function (i) {
        var r; try { r = +getObject(i); } catch (e) { r = e; } return addHeapObject(r);
      },
      __wbindgen_neg: function (i) { return addHeapObject(-getObject(i)); },
      __wbindgen_bit_and: function (a, b) { return addHeapObject(getObject(a) & getObject(b)); },
      __wbindgen_bit_or: function (a, b) { return addHeapObject(getObject(a) | getObject(b)); },
      __wbindgen_bit_xor: function (a, b) { return addHeapObject(getObject(a) ^ getObject(b)); },
      __wbindgen_bit_not: function (i) { return addHeapObject(~getObject(i)); },
      __wbindgen_shl: function (a, b) { return addHeapObject(getObject(a) << getObject(b)); },
      __wbindgen_shr: function (a, b) { return addHeapObject(getObject(a) >> getObject(b)); },
      __wbindgen_unsigned_shr: function (a, b) { return getObject(a) >>> getObject(b); },
      __wbindgen_add: function (a, b) { return addHeapObject(getObject(a) + getObject(b)); },
      __wbindgen_sub: function (a, b) { return addHeapObject(getObject(a) - getObject(b)); },
      __wbindgen_div: function (a, b) { return addHeapObject(getObject(a) / getObject(b)); },
      __wbindgen_checked_div: function (a, b) {
        var r;
        try { r = getObject(a) / getObject(b); } catch (e) { if (e instanceof RangeError) r = e; else throw e; }
        return addHeapObject(r);
      },
      __wbindgen_mul: function (a, b) { return addHeapObject(getObject(a) * getObject(b)); },
      __wbindgen_rem: function (a, b) { return addHeapObject(getObject(a) % getObject(b)); },
      __wbindgen_pow: function (a, b) { return addHeapObject(Math.pow(getObject(a), getObject(b))); },
      __wbindgen_lt: function (a, b) { return bool(getObject(a) < getObject(b)); },
      __wbindgen_le: function (a, b) { return bool(getObject(a) <= getObject(b)); },
      __wbindgen_ge: function (a, b) { return bool(getObject(a) >= getObject(b)); },
      __wbindgen_gt: function (a, b) { return bool(getObject(a) > getObject(b)); },
      __wbindgen_number_get: function (ret, i) {
        var v = getObject(i), dv = view(), ok = typeof v === "number";
        dv.setFloat64(ret + 8, ok ? v : 0, true); dv.setInt32(ret, ok ? 1 : 0, true);
      },
      __wbindgen_boolean_get: function (i) { var v = getObject(i); return typeof v === "boolean" ? bool(v) : 2; },
      __wbindgen_string_get: function (ret, i) {
        var v = getObject(i);
        writeSlice(ret, typeof v === "string" ? passString(v) : [0, 0]);
      },
      __wbindgen_bigint_get_as_i64: function (ret, i) {
        var v = getObject(i), dv = view(), ok = typeof v === "bigint";
        dv.setBigInt64(ret + 8, ok ? BigInt.asIntN(64, v) : 0n, true); dv.setInt32(ret, ok ? 1 : 0, true);
      },
      __wbindgen_debug_string: function (ret, i) { writeSlice(ret, passString(debugString(getObject(i)))); },
      __wbindgen_throw: function (p, l) { throw new Error(getString(p, l)); },
      __wbindgen_rethrow: function (i) { throw takeObject(i); },
      __wbindgen_error_new: function (p, l) { return addHeapObject(new Error(getString(p, l))); },
      __wbindgen_cb_drop: unsupported("a Rust closure"),
      __wbindgen_describe: unsupported("__wbindgen_describe (build-time only)"),
      __wbindgen_describe_closure: unsupported("a Rust closure"),
      __wbindgen_json_parse: function (p, l) { return addHeapObject(JSON.parse(getString(p, l))); },
      __wbindgen_json_serialize: function (ret, i) {
        var v = getObject(i);
        writeSlice(ret, passString(JSON.stringify(v === undefined ? null : v, jsonReplacer)));
      },
      __wbindgen_jsval_eq: function (a, b) { return bool(getObject(a) === getObject(b)); },
      __wbindgen_jsval_loose_eq: function (a, b) { return bool(getObject(a) == getObject(b)); },
      __wbindgen_not: function (i) { return bool(!getObject(i)); },
      __wbindgen_memory: function () { return addHeapObject(w.memory); },
      __wbindgen_module: function () { return addHeapObject(module); },
      __wbindgen_function_table: unsupported("the function table")
    };
    var imports = {
      __wbindgen_placeholder__: I,
      // Only reachable from the __externref_* exports (reference-types mode), never called here.
      __wbindgen_externref_xform__: {
        __wbindgen_externref_table_grow: unsupported("the externref table"),
        __wbindgen_externref_table_set_null: unsupported("the externref table")
      },
      motivus: { log: logBytes }
    };

    // ---- argument and return conversions, by the kinds motivus_dev/wasm_bindgen/abi.py emits
    function toInt(v, t, where) {
      if (typeof v !== "number" || !Number.isInteger(v) || v < INT_RANGE[t][0] || v > INT_RANGE[t][1]) {
        throw new TaskError(where + ": expected " + t + ", got " + JSON.stringify(v));
      }
      return v;
    }
    function toBig(v, t, where) {
      var b;
      if (typeof v === "bigint") b = v;
      else if (typeof v === "number" && Number.isSafeInteger(v)) b = BigInt(v);
      else if (typeof v === "string" && /^-?[0-9]+$/.test(v)) b = BigInt(v);
      else throw new TaskError(where + ": expected " + t + " (an integer, or a decimal string), got " + JSON.stringify(v));
      var lo = t === "u64" ? 0n : -(1n << 63n), hi = t === "u64" ? (1n << 64n) - 1n : (1n << 63n) - 1n;
      if (b < lo || b > hi) throw new TaskError(where + ": " + b + " is out of range for " + t);
      return b;
    }
    function toNum(v, t, where) {
      if (t === "i64" || t === "u64") return toBig(v, t, where);
      if (t === "f32" || t === "f64") {
        if (typeof v !== "number") throw new TaskError(where + ": expected " + t + ", got " + JSON.stringify(v));
        return v;
      }
      return toInt(v, t, where);
    }
    function fromNum(v, t) {
      switch (t) {
        case "i8": return (v << 24) >> 24;
        case "u8": return v & 0xff;
        case "i16": return (v << 16) >> 16;
        case "u16": return v & 0xffff;
        case "i32": return v | 0;
        case "u32": return v >>> 0;
        case "i64": return big(BigInt.asIntN(64, v));
        case "u64": return big(BigInt.asUintN(64, v));
        default: return v;
      }
    }
    function toBool(v, where) {
      if (typeof v !== "boolean") throw new TaskError(where + ": expected bool, got " + JSON.stringify(v));
      return v ? 1 : 0;
    }
    function toChar(v, where) {
      if (typeof v !== "string" || v.length === 0 || String.fromCodePoint(v.codePointAt(0)) !== v) {
        throw new TaskError(where + ": expected one character, got " + JSON.stringify(v));
      }
      return v.codePointAt(0);
    }
    function toArray(v, where) {
      if (Array.isArray(v)) return v;
      if (ArrayBuffer.isView(v)) return Array.from(v);
      throw new TaskError(where + ": expected an array, got " + JSON.stringify(v));
    }
    function passNumbers(v, t, where) {
      var arr = toArray(v, where), ctor = NUM[t][0];
      var typed = new ctor(arr.length);
      for (var i = 0; i < arr.length; i++) typed[i] = toNum(arr[i], t, where + "[" + i + "]");
      // Copy bytewise: malloc only guarantees 4-byte alignment, typed views need more.
      return [passBytes(new Uint8Array(typed.buffer))[0], arr.length];
    }
    function passJsArray(v, where) {
      var arr = toArray(v, where);
      var ptr = w.__wbindgen_malloc(arr.length * 4) >>> 0;
      for (var i = 0; i < arr.length; i++) view().setUint32(ptr + 4 * i, addHeapObject(arr[i]), true);
      return [ptr, arr.length];
    }
    function takeNumbers(ptr, len, t) {
      var size = NUM[t][1];
      var copy = bytes(ptr, len * size).slice();
      w.__wbindgen_free(ptr, len * size);
      return Array.from(new NUM[t][0](copy.buffer), function (x) { return fromNum(x, t); });
    }
    function takeString(ptr, len) { var s = getString(ptr, len); w.__wbindgen_free(ptr, len); return s; }
    function takeJsArray(ptr, len) {
      var dv = view(), res = [];
      for (var i = 0; i < len; i++) res.push(takeObject(dv.getUint32(ptr + 4 * i, true)));
      w.__wbindgen_free(ptr, len * 4);
      return res;
    }

    // Push the wasm arguments for one parameter; `borrowed` counts stack slots to release.
    function pushArg(kind, v, where, args, state) {
      var k = kind.split(":"), t = k[1];
      switch (k[0]) {
        case "jsref": args.push(addBorrowedObject(v)); state.borrowed++; return;
        case "js": args.push(addHeapObject(v)); return;
        case "str":
          if (typeof v !== "string") throw new TaskError(where + ": expected a string, got " + JSON.stringify(v));
          Array.prototype.push.apply(args, passString(v)); return;
        case "num": args.push(toNum(v, t, where)); return;
        case "bool": args.push(toBool(v, where)); return;
        case "char": args.push(toChar(v, where)); return;
        case "vec": Array.prototype.push.apply(args, passNumbers(v, t, where)); return;
        case "jsvec": Array.prototype.push.apply(args, passJsArray(v, where)); return;
        case "optnum": // WasmOption<T>: (present, value)
          if (v === null || v === undefined) args.push(0, t === "i64" || t === "u64" ? 0n : 0);
          else args.push(1, toNum(v, t, where));
          return;
        case "optsmall": // u32 with 0xFFFFFF as None
          if (v === null || v === undefined) { args.push(NONE_SENTINEL); return; }
          pushArg(t === "bool" || t === "char" ? t : "num:" + t, v, where, args, state); return;
        case "optslice": // WasmSlice with ptr 0 as None
          if (v === null || v === undefined) { args.push(0, 0); return; }
          pushArg(kind.slice(9), v, where, args, state); return;
      }
      throw new TaskError("unknown parameter kind " + kind);
    }

    // Read a value of `kind` from memory at `ptr` (return pointers and Result payloads).
    function readAt(kind, ptr) {
      var k = kind.split(":"), t = k[1], dv = view();
      switch (k[0]) {
        case "unit": return null;
        case "js": return takeObject(dv.getUint32(ptr, true));
        case "num":
          switch (t) {
            case "i64": return fromNum(dv.getBigInt64(ptr, true), t);
            case "u64": return fromNum(dv.getBigUint64(ptr, true), t);
            case "f32": return dv.getFloat32(ptr, true);
            case "f64": return dv.getFloat64(ptr, true);
            default: return fromNum(dv.getInt32(ptr, true), t);
          }
        case "bool": case "char": case "optsmall": return fromDirect(kind, dv.getInt32(ptr, true));
        case "str": case "vec": case "jsvec": case "optslice":
          return fromSlice(kind, dv.getUint32(ptr, true), dv.getUint32(ptr + 4, true));
        case "optnum":
          if (dv.getInt32(ptr, true) === 0) return null;
          return readAt("num:" + t, ptr + (NUM[t][1] === 8 ? 8 : 4));
      }
      throw new TaskError("unknown return kind " + kind);
    }
    function fromSlice(kind, ptr, len) {
      var k = kind.split(":");
      if (k[0] === "optslice") return ptr === 0 ? null : fromSlice(kind.slice(9), ptr, len);
      if (k[0] === "str") return takeString(ptr, len);
      if (k[0] === "vec") return takeNumbers(ptr, len, k[1]);
      return takeJsArray(ptr, len);
    }
    function fromDirect(kind, r) {
      var k = kind.split(":");
      switch (k[0]) {
        case "unit": return null;
        case "js": return takeObject(r >>> 0);
        case "num": return fromNum(r, k[1]);
        case "bool": return r !== 0;
        case "char": return String.fromCodePoint(r >>> 0);
        case "optsmall": return (r >>> 0) === NONE_SENTINEL ? null : fromDirect(k[1] === "bool" || k[1] === "char" ? k[1] : "num:" + k[1], r);
      }
      throw new TaskError("unknown return kind " + kind);
    }

    this.instantiate = function () {
      return WebAssembly.instantiate(module, imports).then(function (inst) {
        w = inst.exports;
        // The guest helper (src/motivus.rs) installs its panic hook here.
        if (typeof w.__motivus_init === "function") w.__motivus_init();
      });
    };

    // Call export `sig.name` with JSON params; returns the JSON-able result or throws.
    this.call = function (sig, params) {
      var args = [], state = { borrowed: 0 }, retptr = 0, trapped = true, fn = w[sig.name];
      if (typeof fn !== "function") throw new TaskError("the module does not export " + sig.name);
      if (sig.retsize > 0) {
        // A return area on the shadow stack, as the wasm-bindgen glue does.
        // The return area: the raw module has no stack-pointer export (the CLI adds one),
        // so it comes from the guest allocator and is freed after reading.
        retptr = w.__wbindgen_malloc(sig.retsize) >>> 0;
        args.push(retptr);
      }
      try {
        for (var i = 0; i < sig.args.length; i++) {
          pushArg(sig.args[i], params[i], sig.name + " parameter " + (i + 1), args, state);
        }
        var r = fn.apply(null, args);
        trapped = false;
        var ret = sig.ret;
        if (ret.slice(0, 4) === "res:") {
          var dv = view(), off = sig.erroff;
          if (dv.getUint32(retptr + off + 4, true) !== 0) {
            var err = takeObject(dv.getUint32(retptr + off, true));
            throw new TaskError(sig.name + " returned Err: " + describeError(err));
          }
          return readAt(ret.slice(4), retptr);
        }
        if (sig.retsize > 0) return readAt(ret, retptr);
        return fromDirect(ret, r);
      } finally {
        while (state.borrowed-- > 0) heap[stackPointer++] = undefined;
        if (retptr && !trapped) w.__wbindgen_free(retptr, sig.retsize);
      }
    };
  }

  function debugString(val) {
    var type = typeof val;
    if (type === "number" || type === "boolean" || val == null) return "" + val;
    if (type === "string") return JSON.stringify(val);
    if (type === "bigint") return val + "n";
    if (type === "symbol") return val.description == null ? "Symbol" : "Symbol(" + val.description + ")";
    if (type === "function") return "Function(" + (val.name || "") + ")";
    if (Array.isArray(val)) return "[" + val.map(debugString).join(", ") + "]";
    if (val instanceof Error) return val.name + ": " + val.message + "\n" + val.stack;
    try { return "Object(" + JSON.stringify(val, jsonReplacer) + ")"; } catch (_) { return "Object"; }
  }

  // ---- task handling --------------------------------------------------------------------
  var moduleCache = []; // [{bytes: Uint8Array, module: WebAssembly.Module}], most recent first

  function wasmBytes(body) {
    var b = body.buffWasm;
    if (b && typeof b === "object") {
      if (b instanceof Uint8Array) return b;
      if (b instanceof ArrayBuffer) return new Uint8Array(b);
      if (b.type === "Buffer" && Array.isArray(b.data)) return new Uint8Array(b.data);
    }
    if (typeof body.wasm === "string") {
      if (IS_NODE) { var buf = Buffer.from(body.wasm, "base64"); return new Uint8Array(buf.buffer, buf.byteOffset, buf.length); }
      var s = atob(body.wasm), u = new Uint8Array(s.length);
      for (var i = 0; i < s.length; i++) u[i] = s.charCodeAt(i);
      return u;
    }
    throw new TaskError("the task has neither wasm (base64) nor buffWasm (bytes)");
  }
  function sameBytes(a, b) {
    if (a.length !== b.length) return false;
    for (var i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }
  function compiled(bytesIn) {
    for (var i = 0; i < moduleCache.length; i++) {
      if (sameBytes(moduleCache[i].bytes, bytesIn)) return Promise.resolve(moduleCache[i].module);
    }
    var copy = bytesIn.slice();
    return WebAssembly.compile(copy).then(function (m) {
      moduleCache.unshift({ bytes: copy, module: m });
      if (moduleCache.length > 4) moduleCache.pop();
      return m;
    });
  }

  // stdout/stderr as the contract wants them: base64 of the UTF-8 text.
  function textBase64(text) {
    var u8 = encoder.encode(text);
    if (IS_NODE) return Buffer.from(u8.buffer, u8.byteOffset, u8.length).toString("base64");
    var s = "";
    for (var i = 0; i < u8.length; i += 0x8000) s += String.fromCharCode.apply(null, u8.subarray(i, i + 0x8000));
    return btoa(s);
  }

  function runTask(body) {
    var out = { stdout: "", stderr: "" };
    var reply = function (data, exitCode) {
      var value;
      try {
        // Through JSON once: 64-bit integers and typed arrays become what JSON can carry,
        // and a value JSON cannot carry fails here with a reason, not in the worker.
        value = JSON.parse(JSON.stringify({ data: data === undefined ? null : data }, jsonReplacer));
      } catch (e) {
        out.stderr += "the result cannot be converted to JSON: " + describeError(e) + "\n";
        value = {}; exitCode = exitCode || 1;
      }
      return { body: exitCode ? {} : value, stdout: textBase64(out.stdout), stderr: textBase64(out.stderr), exitCode: exitCode };
    };
    return Promise.resolve().then(function () {
      if (!body || typeof body !== "object") throw new TaskError("the task body is not an object");
      var entry = body.entry == null ? "main" : String(body.entry);
      var sig = PLAN.functions[entry];
      if (!sig) throw new TaskError(PLAN.package + " has no exported function " + JSON.stringify(entry));
      var params = body.params == null ? [] : body.params;
      if (!Array.isArray(params)) throw new TaskError("params must be a list, got " + JSON.stringify(params));
      // As the platform calls it, main.apply(null, params): extra params are ignored.
      if (params.length < sig.args.length) {
        throw new TaskError(entry + " takes " + sig.args.length + " params (" + sig.rust + "), the task gave " + params.length);
      }
      return compiled(wasmBytes(body)).then(function (module) {
        var inst = new Instance(module, out);
        return inst.instantiate().then(function () { return inst.call(sig, params); });
      });
    }).then(function (data) { return reply(data, 0); }, function (e) {
      var msg = describeError(e);
      if (out.stderr && out.stderr.slice(-1) !== "\n") out.stderr += "\n";
      out.stderr += msg + "\n";
      return reply(null, 1);
    });
  }

  // Tasks are answered one at a time, in order.
  var queue = Promise.resolve();
  function onTask(body, post) {
    queue = queue.then(function () { return runTask(body); }).then(post, function (e) {
      // Replying itself failed: still one answer, in the platform's failure shape.
      post({ body: {}, stdout: "", stderr: textBase64("loader failure: " + describeError(e) + "\n"), exitCode: 1 });
    });
  }
  if (!IS_NODE) {
    self.onmessage = function (ev) { onTask(ev.data, function (m) { self.postMessage(m); }); };
  } else {
    var port = require("worker_threads").parentPort;
    port.on("message", function (m) { onTask(m, function (r) { port.postMessage(r); }); });
  }
})();
