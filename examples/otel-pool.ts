// A Pool's tasks as OpenTelemetry spans, from weft's diagnostics channels alone: no wrapper
// around the pool, so an instrumentation package could do the same for every pool of a program.
// Not part of `weft tour`. Run: node dist/examples/otel-pool.js, in a project that has
// @opentelemetry/api installed (`npm i @opentelemetry/api`): weft itself does not depend on it.
//
// @opentelemetry/api is only the API: without an SDK registered (for instance
// @opentelemetry/sdk-trace-node with a console exporter) its spans go nowhere. This example
// registers none and counts the spans it ended; register a provider first to see them exported.
import diagnostics from 'node:diagnostics_channel';
import { SpanStatusCode, trace, type Span } from '@opentelemetry/api';
import { Pool, isMainModule, task, type TaskEvent } from 'weft';

export const square = task(import.meta, function square(x: number) {
  if (x === 13) throw new RangeError('13 is unlucky');
  return x * x;
});

/** Subscribes to the pool channels; returns the unsubscribe function and a count of spans ended. */
export function instrumentPools(): { stop: () => void; ended: () => number } {
  const tracer = trace.getTracer('weft-pool-example');
  const spans = new WeakMap<object, Map<number, Span>>();
  let ended = 0;
  const of = (e: TaskEvent) => {
    let m = spans.get(e.pool);
    if (!m) spans.set(e.pool, (m = new Map()));
    return m;
  };
  const handlers: Record<string, (message: unknown) => void> = {
    'weft:pool:task:queued': (m) => {
      const e = m as TaskEvent;
      of(e).set(e.id, tracer.startSpan(`weft.pool ${e.task}`, { attributes: { 'weft.task.id': e.id } }));
    },
    'weft:pool:task:start': (m) => {
      const e = m as TaskEvent;
      of(e).get(e.id)?.addEvent('handed to worker', { 'weft.worker.pid': e.worker, 'weft.task.queue_seconds': e.wait });
    },
    'weft:pool:task:finish': (m) => finish(m as TaskEvent),
    'weft:pool:task:fail': (m) => finish(m as TaskEvent),
  };
  const finish = (e: TaskEvent) => {
    const span = of(e).get(e.id);
    if (!span) return; // queued before we subscribed
    of(e).delete(e.id);
    span.setAttributes({ 'weft.worker.pid': e.worker, 'weft.task.wait_seconds': e.wait, 'weft.task.run_seconds': e.run, 'weft.task.attempt': e.attempt });
    if (e.error !== undefined) {
      span.recordException(e.error instanceof Error ? e.error : String(e.error));
      span.setStatus({ code: SpanStatusCode.ERROR });
    }
    span.end();
    ended++;
  };
  for (const [name, handler] of Object.entries(handlers)) diagnostics.subscribe(name, handler);
  return {
    stop: () => {
      for (const [name, handler] of Object.entries(handlers)) diagnostics.unsubscribe(name, handler);
    },
    ended: () => ended,
  };
}

if (isMainModule(import.meta)) {
  const otel = instrumentPools();
  const pool = new Pool({ processes: 2 });
  try {
    const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => pool.apply(square, [i])));
    console.log(`${results.filter((r) => r.status === 'fulfilled').length} tasks done, 1 failed; ${otel.ended()} spans ended`);
  } finally {
    await pool.terminate();
    otel.stop();
  }
}
