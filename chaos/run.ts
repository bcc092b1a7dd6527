/**
 * `npm run chaos -- --duration S --seed N [--nodes 4] [--rate R] [--faults LIST] [--dir D] [--keep] [--json out.json]`
 *
 * Runs a fresh local cluster of node processes under an open-loop load of unique vertices, each
 * submitted once to a seeded random node, while faults drawn from the seed hit the processes
 * and the links (see chaos.ts); then checks that every acknowledged vertex is final exactly
 * once, at one place, on every node. Prints the seed that replays the schedule, and ends with
 * `acked: A, lost: L, duplicated: D, divergent: V`. Exit status 0 only when nothing was lost,
 * duplicated or divergent and the nodes converged; 1 when an invariant broke; 2 on a usage or
 * harness error; 130 when interrupted.
 *
 * Ctrl-C (or SIGTERM) aborts the run: every node process is killed and the temporary directory
 * removed. A second Ctrl-C kills the nodes at once and exits.
 */
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { runChaos } from './chaos.ts';
import { ChaosOptionError, FAULT_KINDS, parseFaultList } from './options.ts';
import { formatReport, reportJson } from './report.ts';

const USAGE = `usage: npm run chaos -- --duration S --seed N [--nodes 4] [--rate 400] [--faults all|none|LIST] [--dir D] [--keep] [--json out.json]
  LIST: a comma list of ${FAULT_KINDS.join(', ')}`;

function number(name: string, value: string | undefined, fallback: number | undefined): number {
  if (value === undefined) {
    if (fallback === undefined) throw new ChaosOptionError(`--${name} is required\n${USAGE}`);
    return fallback;
  }
  const parsed = Number(value);
  if (!Number.isFinite(parsed)) throw new ChaosOptionError(`--${name} must be a number, got '${value}'`);
  return parsed;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string' },
      seed: { type: 'string' },
      nodes: { type: 'string' },
      rate: { type: 'string' },
      faults: { type: 'string' },
      dir: { type: 'string' },
      keep: { type: 'boolean' },
      json: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const seed = number('seed', values.seed, Math.floor(Math.random() * 2 ** 31));
  const durationS = number('duration', values.duration, undefined);
  const abort = new AbortController();
  let interrupts = 0;
  const onSignal = (name: NodeJS.Signals): void => {
    interrupts++;
    if (interrupts === 1) {
      console.error(`\n${name}: stopping the run and every node (again to force)`);
      abort.abort(new Error(`interrupted by ${name}`));
      return;
    }
    // runChaos's exit hook kills the node processes on the way out.
    process.exit(130);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const report = await runChaos({
      durationS,
      seed,
      nodes: number('nodes', values.nodes, 4),
      ratePerSecond: number('rate', values.rate, 400),
      faults: parseFaultList(values.faults ?? 'all'),
      ...(values.dir === undefined ? {} : { dir: values.dir }),
      keep: values.keep ?? false,
      log: (line) => console.log(line),
      signal: abort.signal,
    });
    for (const line of formatReport(report)) console.log(line);
    if (values.json !== undefined) {
      fs.writeFileSync(values.json, `${JSON.stringify(reportJson(report), null, 2)}\n`);
    }
    if (!report.ok)
      console.error(
        `replay the schedule: npm run chaos -- --duration ${durationS} --seed ${seed} --rate ${report.options.ratePerSecond} --faults ${report.options.faults.join(',') || 'none'}`,
      );
    return report.ok ? 0 : 1;
  } catch (error) {
    if (abort.signal.aborted) return 130;
    throw error;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

try {
  process.exitCode = await main();
} catch (error) {
  console.error(error instanceof Error ? error.message : String(error));
  process.exitCode = 2;
}
