// Drives the TypeScript system's own scheduler code for `bin/bench compare` (bench/ts_system.py).
// Run with the checkout as working directory: `node ts_driver.mjs MODULE_ROOT COMMAND [ARG]`,
// where MODULE_ROOT is the checkout's built `dist/src` (or `src` under tsx). Nothing of the other
// system is copied here: its modules are imported from the checkout the user gave.
//
// Commands (each prints one line `BENCH_JSON {...}`):
//   precalc        its daily job, preCalculateTodaysBirthdays(): message rows for today's birthdays
//   enqueue        its minute job's status step, enqueueUpcomingMessages(): SCHEDULED -> QUEUED
//   publish        every QUEUED message published with its MessagePublisher (its minute job
//                  publishes at most 100 a run; this publishes them all, one by one as it does)
//   empty N        N runs of precalc + enqueue with nothing due (the idle tick)
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [root, command, arg] = process.argv.slice(2);
const load = (rel) => import(pathToFileURL(path.join(root, rel)).href);

function out(payload) {
  process.stdout.write(`BENCH_JSON ${JSON.stringify(payload)}\n`);
}

async function timed(fn) {
  const started = process.hrtime.bigint();
  const cpu = process.cpuUsage();
  const value = await fn();
  const used = process.cpuUsage(cpu);
  return {
    seconds: Number(process.hrtime.bigint() - started) / 1e9,
    cpu_seconds: (used.user + used.system) / 1e6,
    value,
  };
}

async function main() {
  const { schedulerService } = await load('services/scheduler.service.js');
  if (command === 'precalc') {
    const r = await timed(() => schedulerService.preCalculateTodaysBirthdays());
    out({ seconds: r.seconds, cpu_seconds: r.cpu_seconds, scheduled: r.value.messagesScheduled, total: r.value.totalBirthdays,
          errors: r.value.errors.length });
  } else if (command === 'enqueue') {
    const r = await timed(() => schedulerService.enqueueUpcomingMessages());
    out({ seconds: r.seconds, cpu_seconds: r.cpu_seconds, enqueued: r.value });
  } else if (command === 'publish') {
    const { initializeRabbitMQ, MessagePublisher } = await load('queue/index.js');
    const { messageLogRepository } = await load('repositories/message-log.repository.js');
    await initializeRabbitMQ();
    const publisher = new MessagePublisher();
    await publisher.initialize();
    const r = await timed(async () => {
      const messages = await messageLogRepository.findAll({ status: 'QUEUED', limit: 10_000_000, offset: 0 });
      let published = 0;
      for (const message of messages) {
        await publisher.publishMessage({
          messageId: message.id,
          userId: message.userId,
          messageType: message.messageType,
          scheduledSendTime: message.scheduledSendTime.toISOString(),
          timestamp: Date.now(),
          retryCount: message.retryCount,
        });
        published++;
      }
      return published;
    });
    out({ seconds: r.seconds, cpu_seconds: r.cpu_seconds, published: r.value });
  } else if (command === 'empty') {
    const runs = Number(arg || 20);
    const durations = [];
    for (let i = 0; i < runs; i++) {
      const r = await timed(async () => {
        await schedulerService.preCalculateTodaysBirthdays();
        await schedulerService.enqueueUpcomingMessages();
      });
      durations.push(r.seconds * 1000);
    }
    out({ durations_ms: durations });
  } else {
    throw new Error(`unknown command ${command}`);
  }
}

main().then(
  () => process.exit(0),
  (error) => {
    process.stderr.write(`${error?.stack || error}\n`);
    process.exit(1);
  },
);
