/**
 * The node's structured log (pino): the line shape that tools parse, levels, redaction of
 * secrets, the pretty format, and lines that survive an immediate exit.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';
import { Logger, REDACTED } from '../../src/node/log.ts';

function capture(level: 'debug' | 'info' | 'warn' | 'error' = 'debug'): {
  logger: Logger;
  lines: Record<string, unknown>[];
} {
  const lines: Record<string, unknown>[] = [];
  return { logger: new Logger('node-3', level, { sink: (line) => lines.push(JSON.parse(line)) }), lines };
}

describe('node log', () => {
  it('one JSON line per event: time (ISO), level (a word), node, event, then the fields', () => {
    const texts: string[] = [];
    const logger = new Logger('node-3', 'info', { sink: (line) => texts.push(line) });
    logger.warn('http-connection-refused', { address: '10.0.0.1', count: 2 });
    assert.equal(texts.length, 1);
    assert.ok(texts[0]!.endsWith('}\n') && !texts[0]!.slice(0, -1).includes('\n'), texts[0]);
    const line = JSON.parse(texts[0]!);
    assert.equal(new Date(line.time).toISOString(), line.time);
    assert.deepEqual(
      { ...line, time: 'T' },
      {
        time: 'T',
        level: 'warn',
        node: 'node-3',
        event: 'http-connection-refused',
        address: '10.0.0.1',
        count: 2,
      },
    );
    // What `cretoai-node up` and the process tests wait for.
    logger.info('node-started', {});
    assert.match(texts[1]!, /"event":"node-started"/);
  });

  it('levels below the chosen one are not written', () => {
    const { logger, lines } = capture('warn');
    logger.debug('a');
    logger.info('b');
    logger.warn('c');
    logger.error('d');
    assert.deepEqual(
      lines.map((line) => [line.level, line.event]),
      [
        ['warn', 'c'],
        ['error', 'd'],
      ],
    );
  });

  it('an error field is its name, code and message, without the stack', () => {
    const { logger, lines } = capture();
    const error = Object.assign(new RangeError('too far'), { code: 'ERR_OUT_OF_RANGE' });
    logger.error('stop-failed', { error, other: new Error('plain') });
    assert.deepEqual(lines[0]!.error, { name: 'RangeError', code: 'ERR_OUT_OF_RANGE', message: 'too far' });
    assert.deepEqual(lines[0]!.other, { name: 'Error', message: 'plain' });
  });

  it('secret fields are redacted: private keys, PEM text and authorization headers', () => {
    const texts: string[] = [];
    const logger = new Logger('node-3', 'info', { sink: (line) => texts.push(line) });
    const pem =
      '-----BEGIN PRIVATE KEY-----\nMIIKPgIBADALBglghkgBZQMEAxMEggoqBIIKJsecret\n-----END PRIVATE KEY-----';
    logger.info('settings', {
      privateKey: pem,
      settings: { privateKey: pem, dataDir: '/var/lib/node-3' },
      request: { headers: { authorization: 'Bearer s3cret-token', host: 'node-3' } },
      headers: { authorization: 'Basic czNjcmV0' },
      pem,
    });
    const line = JSON.parse(texts[0]!);
    assert.equal(line.privateKey, REDACTED);
    assert.deepEqual(line.settings, { privateKey: REDACTED, dataDir: '/var/lib/node-3' });
    assert.deepEqual(line.request.headers, { authorization: REDACTED, host: 'node-3' });
    assert.equal(line.headers.authorization, REDACTED);
    assert.equal(line.pem, REDACTED);
    for (const secret of ['secret', 's3cret-token', 'czNjcmV0', 'BEGIN PRIVATE KEY']) {
      assert.ok(!texts[0]!.includes(secret), `${secret} was written`);
    }
  });

  it('the pretty format is text for a person: time, level, node and event, then the fields', () => {
    const texts: string[] = [];
    const logger = new Logger('node-3', 'info', { sink: (line) => texts.push(line), format: 'pretty' });
    logger.warn('http-connection-refused', { address: '10.0.0.1', privateKey: 'secret' });
    const text = texts.join('');
    assert.match(text, /^\[\d\d:\d\d:\d\d\.\d{3}\] WARN: node-3: http-connection-refused\n/);
    assert.match(text, /address: "10\.0\.0\.1"/);
    assert.ok(!text.includes('secret'), text);
    assert.ok(!text.includes('\u001b['), 'no colours when the lines do not go to a terminal');
  });

  it('a line written just before process.exit reaches stderr (writes to stderr are synchronous)', () => {
    const log = path.join(import.meta.dirname, '../../src/node/log.ts');
    const child = spawnSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import { Logger } from ${JSON.stringify(log)};
         const logger = new Logger('node-3');
         for (let i = 0; i < 1000; i++) logger.info('step', { i, padding: 'x'.repeat(200) });
         logger.error('last-words', {});
         process.exit(3);`,
      ],
      { encoding: 'utf8' },
    );
    assert.equal(child.status, 3, child.stderr);
    assert.equal(child.stdout, '', 'logs keep off stdout');
    const lines = child.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 1001);
    assert.equal(JSON.parse(lines.at(-1)!).event, 'last-words');
  });
});
