/*
 * The time split of one task, for `motivus profile` and `motivus bench`: where a task's time
 * goes between the worker posting the body and the loader replying.
 *
 *   input        the body's way in (the worker's postMessage, from `motivus_posted_at`) and
 *                what the loader does with it before the guest runs (files, arguments)
 *   instantiate  compiling the module (once per warm worker) and a fresh instance
 *   call         the guest: main() or the exported function (its own parsing included)
 *   output       the guest's answer made into the reply body (JSON, result files)
 *
 * Only a body that asks (`motivus_timings: true`, which the kit's pool sets) gets `timings`
 * in the reply; the platform's worker never asks, so its replies keep the contract's shape.
 */
"use strict";

function motivusNow() {
  return performance.timeOrigin + performance.now();
}

/** A stopwatch for one task body: lap(phase) adds the time since the last lap to phase;
 * result() is {phase: milliseconds} when the body asked for timings, else undefined. */
function motivusTimings(body) {
  var asked = !!(body && typeof body === "object" && body.motivus_timings === true);
  var last = motivusNow();
  var phases = {};
  if (asked && typeof body.motivus_posted_at === "number" && isFinite(body.motivus_posted_at)) {
    phases.input = Math.max(0, last - body.motivus_posted_at);
  }
  return {
    lap: function (phase) {
      var now = motivusNow();
      phases[phase] = (phases[phase] || 0) + (now - last);
      last = now;
    },
    result: function () {
      return asked ? phases : undefined;
    },
  };
}

/** `result` with `timings` added when the stopwatch has any (the reply's shape otherwise). */
function motivusWithTimings(result, clock) {
  var timings = clock.result();
  if (timings !== undefined) {
    result.timings = timings;
  }
  return result;
}

module.exports = { motivusTimings: motivusTimings, motivusWithTimings: motivusWithTimings };
