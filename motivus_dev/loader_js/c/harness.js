/*
 * Motivus loader, C/C++ part (mvcc): runs a classic Emscripten program per task.
 *
 * `glue` is what the kit generates around the program's glue (c/program, see
 * motivus_dev/toolchain/loader.py): {name (argv[0]), dataPackage (the name of the program's
 * --preload-file package, or null), start(settings)}, where start runs the glue afresh with
 * those Module settings and returns its FS, callMain, string helper and Module.
 *
 * Per task (worker-contract.md): compile the wasm once per worker (cached by its bytes),
 * run the glue afresh (a fresh instance and a fresh MEMFS), hand it the preloaded package
 * from the data zip or unpack the data zip at "/", write preload_files on top, create the
 * result files' parent directories, write /motivus/params.json, then either call the
 * exported function params[0] names with params[1:] (its return value is `data`) or run
 * main(argc, argv); read result_files and /motivus/data.json, and reply once. The body has
 * one key per result file the program wrote (base64 of its bytes) and `data` only when the
 * program produced a value. See docs/c-cpp.md.
 */
"use strict";

var bytes = require("../bytes");
var motivusToBytes = bytes.motivusToBytes;
var motivusB64Decode = bytes.motivusB64Decode;
var motivusB64Encode = bytes.motivusB64Encode;
var motivusReadZip = require("../zip").motivusReadZip;
var motivusFetchBytes = require("../fetch").motivusFetchBytes;
var motivusServe = require("../serve").motivusServe;
var cArgs = require("./args");
var motivusArguments = cArgs.motivusArguments;
var motivusGuestPath = cArgs.motivusGuestPath;
var cCall = require("./call");
var motivusExportedCall = cCall.motivusExportedCall;
var motivusJsonValue = cCall.motivusJsonValue;
var timings = require("../timings");
var motivusTimings = timings.motivusTimings;
var motivusWithTimings = timings.motivusWithTimings;

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
/** Run one task body with the program `glue`; resolves to {out, stdout, stderr, exitCode}. */
function motivusRunC(glue, task) {
  if (task === null || typeof task !== "object" || Array.isArray(task)) {
    return Promise.reject(new Error("the task body is not an object"));
  }
  var clock = motivusTimings(task);
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
  clock.lap("input");

  return Promise.all([motivusWasmModule(task), motivusDataZip(task)])
    .then(function (got) {
      var wasmModule = got[0];
      var zip = got[1];
      clock.lap("instantiate");
      return (zip ? motivusReadZip(zip) : Promise.resolve(null)).then(function (entries) {
        clock.lap("input");
        return [wasmModule, entries];
      });
    })
    .then(function (got) {
      var wasmModule = got[0];
      var zipEntries = got[1];
      var entries = zipEntries || [];
      // The program's preloaded package (--preload-file), or the filesystem's entries.
      var dataPackage = null;
      if (glue.dataPackage !== null) {
        if (zipEntries === null) {
          throw new Error("this program preloads " + glue.dataPackage + " (--preload-file), and the task " +
            "has no data_link to get it from");
        }
        var files = entries.filter(function (entry) {
          return !entry.dir;
        });
        var found = files.filter(function (entry) {
          return entry.name === glue.dataPackage;
        })[0] || (files.length === 1 ? files[0] : null);
        if (!found) {
          throw new Error("the data zip holds no " + glue.dataPackage + ", the file package this program preloads");
        }
        dataPackage = found.data.buffer.slice(found.data.byteOffset, found.data.byteOffset + found.data.byteLength);
        entries = [];
      }
      // The glue waits for the instance (and the preloaded package) and then calls
      // onRuntimeInitialized; a failed instantiation or an abort before that must not hang.
      return new Promise(function (resolve, reject) {
        var program = null;
        var settings = {
          noInitialRun: true,
          thisProgram: glue.name,
          print: function (line) {
            stdout.push(line);
          },
          printErr: function (line) {
            stderr.push(line);
          },
          // Never let the glue end the process or worker: turn every exit into a throw that
          // callMain catches (ExitStatus) or that reaches us (a trap). (Older glue honours it;
          // newer glue throws by itself.)
          quit: function (status, toThrow) {
            throw toThrow;
          },
          onAbort: function (what) {
            reject(new Error("the program aborted before it ran: " + what));
          },
          onRuntimeInitialized: function () {
            // Called from inside the glue's run(), possibly before glue.start returned.
            Promise.resolve().then(function () {
              resolve([program, entries, wasmModule]);
            });
          },
          instantiateWasm: function (imports, receiveInstance) {
            WebAssembly.instantiate(wasmModule, imports).then(
              function (instance) {
                receiveInstance(instance, wasmModule);
              },
              function (e) {
                reject(new Error("could not instantiate the wasm: " + motivusErrorText(e)));
              }
            );
            return {};
          },
        };
        if (dataPackage !== null) {
          settings.getPreloadedPackage = function () {
            return dataPackage;
          };
        }
        program = glue.start(settings);
      });
    })
    .then(function (got) {
      var program = got[0];
      var entries = got[1];
      clock.lap("instantiate");
      var wasmExports = WebAssembly.Module.exports(got[2]).filter(function (e) {
        return e.kind === "function";
      }).map(function (e) {
        return e.name;
      });
      var FS = program.FS;
      if (FS === null && (entries.length || preloads.length || resultPaths.length)) {
        throw new Error("the program was linked without a filesystem, so it cannot take files: " +
          "link it with -sFORCE_FILESYSTEM=1");
      }
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
      if (FS !== null) {
        motivusWriteFile(FS, MOTIVUS_PARAMS_PATH, paramsJson);
      }
      var call = motivusExportedCall(program, wasmExports, task.params);
      clock.lap("input");

      var exitCode = 0;
      var returned;
      var problems = [];
      try {
        if (call !== null) {
          returned = call();
        } else {
          exitCode = program.callMain(args);
        }
      } catch (e) {
        exitCode = MOTIVUS_EXIT_TRAP;
        problems.push("the program crashed: " + motivusErrorText(e));
      }
      if (typeof exitCode !== "number") {
        exitCode = 0;
      }
      clock.lap("call");

      var out = {};
      var missing = [];
      resultPaths.forEach(function (path) {
        var guest = motivusGuestPath(path, "result_files");
        if (FS !== null && motivusExists(FS, guest)) {
          out[path] = motivusB64Encode(FS.readFile(guest));
        } else {
          missing.push(path);
        }
      });
      if (missing.length) {
        problems.push("result file(s) not written by the program: " + missing.join(", "));
      }
      if (call !== null && exitCode !== MOTIVUS_EXIT_TRAP) {
        out.data = motivusJsonValue(returned);
      } else if (FS !== null && motivusExists(FS, MOTIVUS_DATA_PATH)) {
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
      clock.lap("output");
      return motivusWithTimings({
        out: out,
        stdout: stdout.length ? stdout.join("\n") + "\n" : "",
        stderr: errText,
        exitCode: exitCode,
      }, clock);
    })
    .catch(function (e) {
      // Failures before main ran (bad input, no filesystem, instantiation).
      var errText = stderr.length ? stderr.join("\n") + "\n" : "";
      return motivusWithTimings({
        out: {},
        stdout: stdout.length ? stdout.join("\n") + "\n" : "",
        stderr: errText + "motivus: " + (e && e.message ? e.message : String(e)) + "\n",
        exitCode: 1,
      }, clock);
    });
}

/** Serve tasks with the program `glue`: the loader's entry point. */
function motivusStartC(glue) {
  motivusServe(function (task) {
    return motivusRunC(glue, task);
  });
}

module.exports = { motivusRunC: motivusRunC, motivusStartC: motivusStartC };
