/*
 * Motivus loader, C/C++ part (mvcc). Concatenated by toolchains/mvcc/build.sh after
 * common.js and the Emscripten glue (which defines the factory `MotivusModule`, built with
 * -sMODULARIZE -sINVOKE_RUN=0 -sEXIT_RUNTIME=1 -sEXPORTED_RUNTIME_METHODS=FS,callMain), and
 * before the closing of the bundle's function scope. `MOTIVUS_PROGRAM` (argv[0]) is defined
 * by the bundle.
 *
 * Per task (worker-contract.md): compile the wasm once per worker (cached by its bytes),
 * make a fresh instance and a fresh MEMFS, unpack the data_link zip at "/", write
 * preload_files on top, create the result files' parent directories, write
 * /motivus/params.json, run main(argc, argv), read result_files and /motivus/data.json,
 * and reply once. The body has one key per result file the program wrote (base64 of its
 * bytes) and `data` only when the program wrote /motivus/data.json. See docs/c-cpp.md.
 */

var MOTIVUS_PARAMS_PATH = "/motivus/params.json";
var MOTIVUS_DATA_PATH = "/motivus/data.json";
// Exit code for a program that trapped or called abort() (128 + SIGABRT, as a shell shows it).
var MOTIVUS_EXIT_TRAP = 134;

var motivusCachedKey = null;
var motivusCachedModule = null;

/** The compiled WebAssembly.Module for the task's wasm, reusing the last one when a warm
 * worker gets the same bytes again (compiling is the expensive part of a cold task). */
function motivusWasmModule(task) {
  var key;
  var bytes;
  if (task.buffWasm !== undefined && task.buffWasm !== null) {
    bytes = motivusToBytes(task.buffWasm, "buffWasm");
    key = bytes;
  } else if (typeof task.wasm === "string" && task.wasm !== "") {
    key = task.wasm;
  } else {
    throw new Error("the task has neither wasm (base64) nor buffWasm (bytes)");
  }
  if (motivusCachedKey !== null && motivusSameKey(motivusCachedKey, key)) {
    return motivusCachedModule;
  }
  if (bytes === undefined) {
    bytes = motivusB64Decode(key, "wasm");
  }
  var compiled = WebAssembly.compile(bytes);
  // Keep a private copy of posted bytes: the caller may reuse its buffer.
  motivusCachedKey = typeof key === "string" ? key : key.slice();
  motivusCachedModule = compiled;
  compiled.catch(function () {
    if (motivusCachedModule === compiled) {
      motivusCachedKey = null;
      motivusCachedModule = null;
    }
  });
  return compiled;
}

function motivusSameKey(a, b) {
  if (typeof a === "string" || typeof b === "string") {
    return a === b;
  }
  if (a.length !== b.length) {
    return false;
  }
  for (var i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) {
      return false;
    }
  }
  return true;
}

/** argv[1:] from the task's `arguments`: a list (one entry per argument) or a string split
 * like a shell does (whitespace separates; '...' and "..." group; backslash escapes). */
function motivusArguments(args) {
  if (args === undefined || args === null) {
    return [];
  }
  if (Array.isArray(args)) {
    return args.map(function (a) {
      if (a !== null && typeof a === "object") {
        throw new Error("arguments must be strings, numbers or booleans, got " + JSON.stringify(a));
      }
      return String(a);
    });
  }
  if (typeof args !== "string") {
    throw new Error("arguments must be a list or a string");
  }
  var out = [];
  var cur = null;
  var quote = null;
  for (var i = 0; i < args.length; i++) {
    var c = args.charAt(i);
    if (quote === "'") {
      if (c === "'") {
        quote = null;
      } else {
        cur += c;
      }
    } else if (c === "\\" && i + 1 < args.length && (quote === null || /["\\$`]/.test(args.charAt(i + 1)))) {
      cur = (cur === null ? "" : cur) + args.charAt(++i);
    } else if (quote === '"') {
      if (c === '"') {
        quote = null;
      } else {
        cur += c;
      }
    } else if (c === "'" || c === '"') {
      quote = c;
      cur = cur === null ? "" : cur;
    } else if (/\s/.test(c)) {
      if (cur !== null) {
        out.push(cur);
        cur = null;
      }
    } else {
      cur = (cur === null ? "" : cur) + c;
    }
  }
  if (quote !== null) {
    throw new Error("arguments has an unterminated " + quote + " quote");
  }
  if (cur !== null) {
    out.push(cur);
  }
  return out;
}

/** A guest path: absolute, no "." or ".." components. */
function motivusGuestPath(path, what) {
  if (typeof path !== "string" || path.charAt(0) !== "/") {
    throw new Error(what + " path " + JSON.stringify(path) + " is not absolute");
  }
  var parts = path.split("/").filter(function (p) {
    return p !== "";
  });
  parts.forEach(function (p) {
    if (p === "." || p === "..") {
      throw new Error(what + " path " + JSON.stringify(path) + " contains " + p);
    }
  });
  if (parts.length === 0) {
    throw new Error(what + " path " + JSON.stringify(path) + " names the root directory");
  }
  return "/" + parts.join("/");
}

function motivusWriteFile(FS, path, data) {
  var dir = path.substring(0, path.lastIndexOf("/"));
  if (dir) {
    FS.mkdirTree(dir);
  }
  FS.writeFile(path, data);
}

function motivusExists(FS, path) {
  try {
    return !FS.isDir(FS.stat(path).mode);
  } catch (e) {
    return false;
  }
}

/** The starting filesystem: data_zip (bytes or base64, handed over by a local worker that
 * already fetched and verified it) or data_link; null when the task has none. */
function motivusDataZip(task) {
  if (task.data_zip !== undefined && task.data_zip !== null) {
    if (typeof task.data_zip === "string") {
      return Promise.resolve(motivusB64Decode(task.data_zip, "data_zip"));
    }
    return Promise.resolve(motivusToBytes(task.data_zip, "data_zip"));
  }
  if (task.data_link !== undefined && task.data_link !== null && task.data_link !== "") {
    return motivusFetchBytes(task.data_link).catch(function (e) {
      throw new Error("could not get the filesystem from data_link " + task.data_link + ": " + (e && e.message ? e.message : e));
    });
  }
  return Promise.resolve(null);
}

function motivusErrorText(e) {
  if (e && e.name && e.message) {
    return e.name + ": " + e.message;
  }
  return String(e);
}

/** Run one task body; resolves to {out, stdout, stderr, exitCode}. */
function motivusRunC(task) {
  if (task === null || typeof task !== "object" || Array.isArray(task)) {
    return Promise.reject(new Error("the task body is not an object"));
  }
  var stdout = [];
  var stderr = [];
  var args = motivusArguments(task.arguments);
  var preload = task.preload_files || {};
  var resultFiles = task.result_files || {};
  if (typeof preload !== "object" || Array.isArray(preload)) {
    throw new Error("preload_files must be an object {path: base64}");
  }
  if (typeof resultFiles !== "object") {
    throw new Error("result_files must be an object {path: local path} or a list of paths");
  }
  var resultPaths = Array.isArray(resultFiles) ? resultFiles : Object.keys(resultFiles);
  var preloads = Object.keys(preload).map(function (path) {
    return [motivusGuestPath(path, "preload_files"), motivusB64Decode(preload[path], "preload_files[" + path + "]")];
  });
  resultPaths.forEach(function (path) {
    motivusGuestPath(path, "result_files");
  });
  var params = task.params === undefined ? null : task.params;
  var paramsJson = JSON.stringify(params);

  return Promise.all([motivusWasmModule(task), motivusDataZip(task)])
    .then(function (got) {
      var wasmModule = got[0];
      var zip = got[1];
      return (zip ? motivusReadZip(zip) : Promise.resolve([])).then(function (entries) {
        return [wasmModule, entries];
      });
    })
    .then(function (got) {
      var wasmModule = got[0];
      var entries = got[1];
      // If instantiation fails the glue would wait for receiveInstance forever: race it.
      var failInstantiate;
      var instantiateFailed = new Promise(function (resolve, reject) {
        failInstantiate = reject;
      });
      var ready = MotivusModule({
        noInitialRun: true,
        thisProgram: MOTIVUS_PROGRAM,
        print: function (line) {
          stdout.push(line);
        },
        printErr: function (line) {
          stderr.push(line);
        },
        // Never let the glue end the process or worker: turn every exit into a throw that
        // callMain catches (ExitStatus) or that reaches us (a trap).
        quit: function (status, toThrow) {
          throw toThrow;
        },
        instantiateWasm: function (imports, receiveInstance) {
          WebAssembly.instantiate(wasmModule, imports).then(
            function (instance) {
              receiveInstance(instance, wasmModule);
            },
            function (e) {
              failInstantiate(new Error("could not instantiate the wasm: " + motivusErrorText(e)));
            }
          );
          return {};
        },
      });
      return Promise.race([ready, instantiateFailed]).then(function (Module) {
        return [Module, entries];
      });
    })
    .then(function (got) {
      var Module = got[0];
      var entries = got[1];
      var FS = Module.FS;
      entries.forEach(function (entry) {
        var path = motivusGuestPath("/" + entry.name, "data_link entry");
        if (entry.dir) {
          FS.mkdirTree(path);
        } else {
          motivusWriteFile(FS, path, entry.data);
        }
      });
      preloads.forEach(function (p) {
        motivusWriteFile(FS, p[0], p[1]);
      });
      resultPaths.forEach(function (path) {
        var guest = motivusGuestPath(path, "result_files");
        var dir = guest.substring(0, guest.lastIndexOf("/"));
        if (dir) {
          FS.mkdirTree(dir);
        }
      });
      motivusWriteFile(FS, MOTIVUS_PARAMS_PATH, paramsJson);

      var exitCode;
      var problems = [];
      try {
        exitCode = Module.callMain(args);
      } catch (e) {
        exitCode = MOTIVUS_EXIT_TRAP;
        problems.push("the program crashed: " + motivusErrorText(e));
      }
      if (typeof exitCode !== "number") {
        exitCode = 0;
      }

      var out = {};
      var missing = [];
      resultPaths.forEach(function (path) {
        var guest = motivusGuestPath(path, "result_files");
        if (motivusExists(FS, guest)) {
          out[path] = motivusB64Encode(FS.readFile(guest));
        } else {
          missing.push(path);
        }
      });
      if (missing.length) {
        problems.push("result file(s) not written by the program: " + missing.join(", "));
      }
      if (motivusExists(FS, MOTIVUS_DATA_PATH)) {
        var text = FS.readFile(MOTIVUS_DATA_PATH, { encoding: "utf8" });
        try {
          out.data = JSON.parse(text);
        } catch (e) {
          problems.push(MOTIVUS_DATA_PATH + " is not valid JSON: " + e.message);
        }
      }
      if (problems.length && exitCode === 0) {
        exitCode = 1;
      }
      var errText = stderr.length ? stderr.join("\n") + "\n" : "";
      problems.forEach(function (p) {
        errText += "motivus: " + p + "\n";
      });
      return {
        out: out,
        stdout: stdout.length ? stdout.join("\n") + "\n" : "",
        stderr: errText,
        exitCode: exitCode,
      };
    })
    .catch(function (e) {
      // Failures before main ran (bad input, no filesystem, instantiation).
      var errText = stderr.length ? stderr.join("\n") + "\n" : "";
      return {
        out: {},
        stdout: stdout.length ? stdout.join("\n") + "\n" : "",
        stderr: errText + "motivus: " + (e && e.message ? e.message : String(e)) + "\n",
        exitCode: 1,
      };
    });
}

motivusServe(motivusRunC);
