/**
 * The status page (`GET /` of every node), in a real browser against a real cluster: four
 * `cretoai-node start` processes on loopback under load, the page opened in headless Chromium
 * (Debian's `chromium`, driven by playwright-core) with every request to another origin refused,
 * so that it is shown to work with no internet. It must show what the cluster's own
 * `/v1/status` says (the leader, a sequence that rises, four replicas, charts with data, the
 * live feed), follow a view change when the leader is killed, say "disconnected" when its node
 * stops answering, and log no error on the way. A screenshot is taken and checked not to be
 * blank; STATUS_PAGE_SCREENSHOT=<path> keeps it.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { inflateSync } from 'node:zlib';
import { type Browser, chromium, type Page } from 'playwright-core';
import { histogramQuantile } from '../../src/node/status-history.ts';
import { processCluster, status, submitAll } from './process-cluster.ts';
import { tempDir } from './support.ts';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const MISSING = `${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium; .ci/run installs it in CI)`;
/** Without Chromium the browser test fails in CI (it must run there) and is skipped elsewhere. */
const skipBrowser = fs.existsSync(CHROMIUM) || process.env.CI === 'true' ? false : MISSING;

describe('finality quantiles from histogram buckets', () => {
  it('interpolate within the bucket holding the rank, as histogram_quantile does', () => {
    const bounds = [0.1, 0.2, 0.5, 1];
    // 10 at or below 0.1, 90 at or below 0.2, 100 at or below 0.5, none above.
    assert.equal(histogramQuantile(0.05, bounds, [10, 90, 100, 100], 100), 0.05);
    assert.ok(Math.abs(histogramQuantile(0.5, bounds, [10, 90, 100, 100], 100)! - 0.15) < 1e-9);
    assert.ok(Math.abs(histogramQuantile(0.99, bounds, [10, 90, 100, 100], 100)! - 0.47) < 1e-9);
    // A rank beyond the last finite bound reads as that bound; an empty histogram has no quantile.
    assert.equal(histogramQuantile(0.999, bounds, [0, 0, 0, 1], 2), 1);
    assert.equal(histogramQuantile(0.5, bounds, [0, 0, 0, 0], 0), null);
  });
});

describe('status page, four node processes, headless Chromium', { timeout: 120_000 }, () => {
  it('shows the live cluster (leader, rising sequence, four replicas, charts, feed), follows a view change and says when its node is gone, with no error and no request off the node', {
    skip: skipBrowser,
  }, async (t) => {
    assert.ok(fs.existsSync(CHROMIUM), MISSING);
    const cluster = await processCluster(t);
    const observer = 3;
    const origin = cluster.apiUrls[observer]!;

    // The files: the right types, the strict policy, nothing else under the prefix.
    const html = await fetch(`${origin}/`);
    assert.equal(html.status, 200);
    assert.match(html.headers.get('content-type')!, /^text\/html/);
    assert.match(html.headers.get('content-security-policy')!, /default-src 'self'/);
    assert.match(await html.text(), /<script type="module" src="\/status-page\/app.js">/);
    for (const [file, type] of [
      ['app.js', /^text\/javascript/],
      ['style.css', /^text\/css/],
      ['favicon.svg', /^image\/svg\+xml/],
    ] as const) {
      const answer = await fetch(`${origin}/status-page/${file}`);
      assert.equal(answer.status, 200, file);
      assert.match(answer.headers.get('content-type')!, type, file);
      await answer.arrayBuffer();
    }
    assert.equal((await fetch(`${origin}/status-page/../cluster.json`)).status, 404);
    assert.equal((await fetch(`${origin}/status-page/node.ts`)).status, 404);
    assert.equal((await fetch(`${origin}/`, { method: 'POST' })).status, 405);

    // Load until the test says stop (a bound of its own besides: about a minute at this pace).
    let loading = true;
    const load = submitAll({
      cluster,
      total: 20_000,
      perSecond: 300,
      label: 'status page',
      onSubmitted: () => {
        if (!loading) throw new Error('load stopped');
      },
    }).catch(() => undefined);

    const browser = await launch(t);
    const page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
    const problems: string[] = [];
    const offNode: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console error: ${message.text()}`);
    });
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('requestfailed', (request) =>
      problems.push(`request failed: ${request.url()} ${request.failure()?.errorText}`),
    );
    page.on('response', (response) => {
      if (response.status() >= 400) problems.push(`HTTP ${response.status()}: ${response.url()}`);
    });
    await page.route(
      (url) => url.origin !== origin,
      (route) => {
        offNode.push(route.request().url());
        return route.abort();
      },
    );
    await page.goto(`${origin}/`);

    // Real data: the leader the cluster reports, a sequence that rises, every replica seen making
    // progress, both charts drawn, finalized vertices in the feed.
    const leader = (await status(origin)).leader;
    await until(
      page,
      'the leader shown is the cluster leader',
      async () => (await textOf(page, '#leader')) === leader,
    );
    const firstSequence = await numberOf(page, '#sequence');
    await until(
      page,
      'the sequence rises',
      async () => (await numberOf(page, '#sequence')) > Math.max(0, firstSequence),
    );
    await until(page, 'four replicas, each seen past sequence 0', async () => {
      const rows = await replicaRows(page);
      return rows.length === 4 && rows.every((row) => row.sequence > 0);
    });
    assert.deepEqual(
      (await replicaRows(page)).map((row) => row.node),
      cluster.cluster.validators.map((validator) => validator.nodeId),
    );
    await until(page, 'both charts hold several points', async () => {
      const points = await page.$$eval('svg.chart', (charts) =>
        charts.map((chart) => Number(chart.getAttribute('data-points'))),
      );
      return points.length === 2 && points.every((count) => count >= 3);
    });
    await until(
      page,
      'the live feed shows finalized vertices',
      async () => Number(await page.getAttribute('#feed', 'data-count')) > 0,
    );
    assert.deepEqual(problems, []);

    // The leader dies: the page follows the cluster into the next view and records the change.
    const leaderIndex = cluster.cluster.validators.findIndex((validator) => validator.nodeId === leader);
    assert.notEqual(leaderIndex, observer);
    await cluster.kill(leaderIndex);
    await until(
      page,
      'the page shows the new leader and the view change',
      async () => {
        const now = await status(origin);
        const changes = await page.$$eval('#view-changes tbody tr', (rows) =>
          rows.map((row) => row.textContent ?? ''),
        );
        return (
          now.viewActive &&
          now.leader !== leader &&
          (await textOf(page, '#leader')) === now.leader &&
          changes.some((row) => row.includes(now.leader))
        );
      },
      30_000,
    );
    const sequenceAfter = await numberOf(page, '#sequence');
    await until(
      page,
      'the sequence rises in the new view',
      async () => (await numberOf(page, '#sequence')) > sequenceAfter,
    );
    const killed = (await replicaRows(page)).find((row) => row.node === leader)!;
    assert.equal(killed.link, 'no link');
    assert.deepEqual(problems, []);

    // A screenshot of the running dashboard, checked for real content rather than a blank page.
    const shot = await page.screenshot({ fullPage: true });
    const file =
      process.env.STATUS_PAGE_SCREENSHOT ?? path.join(tempDir(t, 'cretoai-status-page-'), 'status-page.png');
    fs.writeFileSync(file, shot);
    t.diagnostic(`screenshot: ${file} (${shot.length} bytes)`);
    const image = decodePng(shot);
    assert.ok(image.width >= 1440 && image.height >= 1000, `${image.width}x${image.height}`);
    const { colors, background, foreground } = pixelStats(image);
    assert.ok(colors >= 200, `${colors} distinct colours`);
    assert.ok(
      foreground >= 0.03,
      `${(foreground * 100).toFixed(1)}% of pixels differ from the background ${background}`,
    );
    assert.deepEqual(offNode, []);

    // The node the page watches stops: the page says so (its own failed requests are expected now).
    loading = false;
    await load;
    await cluster.stop(observer);
    await until(page, 'the page says it is disconnected', async () => {
      const banner = await page.isVisible('#banner');
      return banner && (await textOf(page, '#conn')) === 'disconnected';
    });
  });
});

async function launch(t: TestContext): Promise<Browser> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30_000 });
  t.after(() => browser.close());
  return browser;
}

/** Polls `condition` every 200 ms until it holds; fails with `what` after `timeoutMs`. */
async function until(
  page: Page,
  what: string,
  condition: () => Promise<boolean>,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (await condition().catch(() => false)) return;
    if (performance.now() > deadline) {
      const header = await page.textContent('header').catch(() => '');
      throw new Error(`${what}: not within ${timeoutMs} ms (page header: ${header?.replace(/\s+/g, ' ')})`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function textOf(page: Page, selector: string): Promise<string> {
  return ((await page.textContent(selector)) ?? '').trim();
}

async function numberOf(page: Page, selector: string): Promise<number> {
  const value = Number((await textOf(page, selector)).replaceAll(',', ''));
  return Number.isFinite(value) ? value : -1;
}

interface ReplicaRow {
  readonly node: string;
  readonly sequence: number;
  readonly link: string;
}

function replicaRows(page: Page): Promise<ReplicaRow[]> {
  return page.$$eval('#replicas tbody tr', (rows) =>
    rows.map((row) => {
      const cells = [...row.querySelectorAll('td')];
      // The sequence cell may carry a lag ("−12") after the number.
      const sequence = Number((cells[2]?.firstChild?.textContent ?? '').replaceAll(',', ''));
      return { node: cells[0]?.textContent ?? '', sequence, link: cells.at(-1)?.textContent ?? '' };
    }),
  );
}

// ---------------------------------------------------------------------------------------------
// A minimal PNG decoder (8-bit RGB or RGBA, not interlaced: what Chromium writes), so that the
// screenshot's pixels are checked without a canvas or an image library.

interface Image {
  readonly width: number;
  readonly height: number;
  readonly channels: number;
  readonly pixels: Uint8Array;
}

function decodePng(png: Buffer): Image {
  assert.equal(png.subarray(0, 8).toString('hex'), '89504e470d0a1a0a', 'a PNG signature');
  let width = 0;
  let height = 0;
  let channels = 0;
  const data: Buffer[] = [];
  for (let offset = 8; offset < png.length; ) {
    const length = png.readUInt32BE(offset);
    const type = png.toString('latin1', offset + 4, offset + 8);
    const body = png.subarray(offset + 8, offset + 8 + length);
    if (type === 'IHDR') {
      width = body.readUInt32BE(0);
      height = body.readUInt32BE(4);
      assert.equal(body[8], 8, '8 bits per channel');
      assert.equal(body[12], 0, 'not interlaced');
      channels = ({ 2: 3, 6: 4 } as Record<number, number>)[body[9]!] ?? 0;
      assert.ok(channels > 0, `colour type ${body[9]}`);
    } else if (type === 'IDAT') data.push(body);
    offset += 12 + length;
  }
  const raw = inflateSync(Buffer.concat(data));
  const stride = width * channels;
  const pixels = new Uint8Array(height * stride);
  for (let row = 0; row < height; row++) {
    const filter = raw[row * (stride + 1)]!;
    const line = raw.subarray(row * (stride + 1) + 1, (row + 1) * (stride + 1));
    const at = row * stride;
    for (let i = 0; i < stride; i++) {
      const left = i >= channels ? pixels[at + i - channels]! : 0;
      const up = row > 0 ? pixels[at - stride + i]! : 0;
      const upLeft = row > 0 && i >= channels ? pixels[at - stride + i - channels]! : 0;
      let predicted = 0;
      if (filter === 1) predicted = left;
      else if (filter === 2) predicted = up;
      else if (filter === 3) predicted = (left + up) >> 1;
      else if (filter === 4) {
        const p = left + up - upLeft;
        const [pa, pb, pc] = [Math.abs(p - left), Math.abs(p - up), Math.abs(p - upLeft)];
        predicted = pa <= pb && pa <= pc ? left : pb <= pc ? up : upLeft;
      }
      pixels[at + i] = (line[i]! + predicted) & 0xff;
    }
  }
  return { width, height, channels, pixels };
}

/** Distinct colours, the most common one (the background) and the share of pixels that are not it. */
function pixelStats(image: Image): { colors: number; background: string; foreground: number } {
  const counts = new Map<number, number>();
  for (let i = 0; i < image.pixels.length; i += image.channels) {
    const color = (image.pixels[i]! << 16) | (image.pixels[i + 1]! << 8) | image.pixels[i + 2]!;
    counts.set(color, (counts.get(color) ?? 0) + 1);
  }
  let background = 0;
  let most = 0;
  for (const [color, count] of counts)
    if (count > most) {
      most = count;
      background = color;
    }
  const total = image.width * image.height;
  return {
    colors: counts.size,
    background: `#${background.toString(16).padStart(6, '0')}`,
    foreground: (total - most) / total,
  };
}
