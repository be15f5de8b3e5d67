/**
 * White-box access for weft's own tests, not part of the package's exports.
 * The build bundles weft's modules into one script (scripts/bundle.mjs) and
 * keeps only entry points as files; this entry lets a test reach an internal
 * and get the very instance the public API uses.
 * @module
 */
export { addonFile, loadAddon, native } from './native.js';
export { context as hubContext } from './coro/hub.js';
export { isAlive } from './multiprocessing/util.js';
export { BootAhead, SHORT_LIFE_MS, Spares } from './multiprocessing/boot_ahead.js';
export { STOP_GRACE_SECONDS } from './multiprocessing/thread_stop.js';
export { dumps, loads } from './multiprocessing/reduction.js';
export { KEEP_FINISHED } from './redis/pool.js';
export { memfdPool } from './multiprocessing/transfer.js';
export { Client } from './multiprocessing/manager_proxy.js';
export { MAGIC, answerChallenge, frame } from './multiprocessing/manager_wire.js';
export { NAP_MS, SpinEstimate, Word, spinUntil } from './multiprocessing/futex.js';
export { cpuQuota } from './multiprocessing/cgroup.js';
export { TimeBuckets } from './multiprocessing/pool_stats.js';
export { AuthenticationError, FrameReader, Outbox, ProtocolError, decode, deliverChallenge } from './multiprocessing/manager_wire.js';
export { main as cliMain } from './cli/commands.js';
export { MODELS, QUICK_IDLE, SCENARIOS, cannotTake, openFileLimit, processTree, quickVariant, runBench, sampleTree } from './servers/bench.js';
export { charts, chartTitles, describeModel, formatTable, renderHtml } from './servers/report.js';
