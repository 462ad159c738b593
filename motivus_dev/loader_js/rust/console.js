/*
 * The guest's console during one Rust task: log/info/debug to the task's stdout,
 * warn/error to its stderr.
 */
"use strict";

var motivusNodeRequire = require("../env").motivusNodeRequire;

/** A console whose output goes to the task's stdout or stderr. */
function motivusTaskConsole(out) {
  var util = motivusNodeRequire("util");
  function format(args) {
    if (util) {
      return util.format.apply(null, args);
    }
    return Array.prototype.map.call(args, function (a) {
      if (typeof a === "string") {
        return a;
      }
      try {
        return a instanceof Error ? String(a) : JSON.stringify(a);
      } catch (e) {
        return String(a);
      }
    }).join(" ");
  }
  function writer(key) {
    return function () {
      out[key] += format(arguments) + "\n";
    };
  }
  var quiet = function () {};
  return {
    log: writer("stdout"), info: writer("stdout"), debug: writer("stdout"), dir: writer("stdout"),
    table: writer("stdout"), warn: writer("stderr"), error: writer("stderr"), trace: writer("stderr"),
    assert: function (ok) {
      if (!ok) {
        out.stderr += "Assertion failed: " + format(Array.prototype.slice.call(arguments, 1)) + "\n";
      }
    },
    group: quiet, groupCollapsed: quiet, groupEnd: quiet, time: quiet, timeEnd: quiet,
    timeLog: quiet, count: quiet, countReset: quiet, clear: quiet
  };
}

module.exports = { motivusTaskConsole: motivusTaskConsole };
