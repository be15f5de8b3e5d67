/**
 * `weft worker --redis URL [--queue NAME] [--concurrency N] [--context process|thread] [--root DIR] [--lease S]`:
 * serves a weft/redis Pool queue with N consumers (processes or threads that
 * take jobs and run their tasks; this process supervises them) until SIGTERM or
 * SIGINT, then finishes the running tasks (their results are recorded) and
 * exits 0; a second signal stops at once (the running tasks go to another
 * worker after their lease). A status line on a TTY.
 * @module
 */
import { parseArgs } from 'node:util';
import { CommandError, type Command } from './commands.js';

const help = [
  'Usage: weft worker --redis URL [--queue NAME] [--concurrency N] [--context process|thread] [--root DIR] [--lease SECONDS] [--prefix P]',
  '',
  'Runs the tasks of a weft/redis Pool (cluster.Pool({ queue })) sent to Redis by programs on any host.',
  'A task is found by its module\'s path relative to --root and its name: give every host the same checkout.',
  'Nothing outside --root is imported, and no code is taken from Redis.',
  '',
  '      --redis URL          redis://[user:password@]host:port[/db] (rediss:// for TLS); or $WEFT_REDIS_URL',
  '      --queue NAME         the pool queue to serve (default "default")',
  '  -c, --concurrency N      tasks at once: N consumers, each a process (or thread) that takes a job and runs it (default 1)',
  '      --context NAME       process (default) or thread',
  '      --root DIR           where task modules are looked up (default: the current directory)',
  '      --lease SECONDS      a task whose worker stops renewing (dies, freezes) goes to another after this (default 30)',
  '      --prefix P           key prefix, as given to connect() (default "weft:")',
  '',
  'SIGTERM or SIGINT: finish running tasks, then exit 0; a second one exits at once.',
].join('\n');

export const command: Command = {
  summary: 'serve a weft/redis Pool queue: run its tasks in consumer processes or threads',
  help,
  async run(argv) {
    const { values } = parseArgs({
      args: argv,
      options: {
        redis: { type: 'string' },
        queue: { type: 'string', default: 'default' },
        concurrency: { type: 'string', short: 'c', default: '1' },
        context: { type: 'string', default: 'process' },
        root: { type: 'string' },
        lease: { type: 'string', default: '30' },
        prefix: { type: 'string', default: 'weft:' },
      },
    });
    const url = values.redis ?? process.env.WEFT_REDIS_URL;
    if (!url) throw new RangeError('no Redis server given: pass --redis redis://host:6379 (or set WEFT_REDIS_URL)');
    const concurrency = Number(values.concurrency);
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError(`--concurrency must be an integer >= 1, got ${values.concurrency}`);
    if (values.context !== 'process' && values.context !== 'thread') throw new RangeError(`--context must be process or thread, got ${values.context}`);
    const lease = Number(values.lease);
    if (!(lease > 0)) throw new RangeError(`--lease must be a positive number of seconds, got ${values.lease}`);
    const { connect, serve } = await import('../redis/index.js');
    let cluster;
    try {
      cluster = await connect(url, { prefix: values.prefix });
    } catch (err) {
      throw new CommandError((err as Error).message, 'check --redis, and that redis-server runs there', { cause: err });
    }
    const worker = await serve(cluster, { queue: values.queue, concurrency, context: values.context, root: values.root, lease });
    const tty = process.stderr.isTTY === true;
    console.error(`weft worker ${worker.name}: serving queue '${values.queue}' on ${cluster.url}, ${concurrency} at once (${values.context})`);
    const status = tty
      ? setInterval(() => {
          const s = worker.stats();
          process.stderr.write(`\r\x1b[Krunning ${s.running}  completed ${s.completed}  failed ${s.failed}`);
        }, 500)
      : undefined;
    await new Promise<void>((resolve) => {
      let stopping = false;
      const stop = (signal: NodeJS.Signals) => {
        if (stopping) {
          console.error(`\nweft worker: ${signal} again, stopping now`);
          void worker.terminate().then(resolve);
          return;
        }
        stopping = true;
        console.error(`\nweft worker: ${signal}, finishing the running tasks (again to stop now)`);
        void worker.close().then(resolve);
      };
      process.on('SIGTERM', stop);
      process.on('SIGINT', stop);
    });
    clearInterval(status);
    const s = worker.stats();
    console.error(`weft worker ${worker.name}: stopped; completed ${s.completed}, failed ${s.failed}`);
    await cluster.close();
    return 0;
  },
};
