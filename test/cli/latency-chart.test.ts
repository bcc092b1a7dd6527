/**
 * The latency-versus-throughput chart of `cretoai-node bench --chart`: a well-formed,
 * self-contained SVG document with a point per rate and series, axes with ticks, and every
 * text escaped.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type ChartedReport, escapeXml, latencyChartSvg } from '../../src/cli/latency-chart.ts';
import { allElements, parseXml, type XmlElement } from '../support/xml.ts';

function report(
  rate: number | 'max',
  finalizedPerSecond: number,
  p50Ms: number,
  p99Ms: number,
): ChartedReport {
  return { rate, finalizedPerSecond, latency: { count: 100, p50Ms, p99Ms } };
}

const reports = [
  report(10_000, 9_969, 126, 255),
  report(1000, 1000, 42, 76),
  report('max', 17_380, 268, 533),
  report(100, 100, 8.5, 14),
];

function points(root: XmlElement, series: string): XmlElement[] {
  const group = allElements(root).find(
    (element) => element.name === 'g' && element.attributes.class === `series ${series}`,
  );
  assert.ok(group !== undefined, `no group for ${series}`);
  return group.children.filter((child) => child.name === 'circle');
}

function texts(root: XmlElement, className: string): string[] {
  const group = allElements(root).find((element) => element.attributes.class === className);
  assert.ok(group !== undefined, `no group ${className}`);
  return group.children.map((child) => child.text);
}

test('the chart is a well-formed SVG document with a title', () => {
  const root = parseXml(latencyChartSvg(reports, { subtitle: '4 nodes, 128-byte payloads' }));
  assert.equal(root.name, 'svg');
  assert.equal(root.attributes.xmlns, 'http://www.w3.org/2000/svg');
  assert.equal(root.children[0]!.name, 'title');
  assert.equal(root.children[0]!.text, 'Finality latency versus throughput');
  const shown = allElements(root)
    .filter((element) => element.name === 'text')
    .map((element) => element.text);
  assert.ok(shown.includes('4 nodes, 128-byte payloads'));
  assert.ok(shown.includes('finalized vertices/s'));
});

test('it holds nothing external: no scripts, links, images or style sheets', () => {
  const elements = allElements(parseXml(latencyChartSvg(reports)));
  for (const element of elements) {
    assert.ok(
      !['script', 'image', 'use', 'style', 'foreignObject', 'a'].includes(element.name),
      element.name,
    );
    for (const name of Object.keys(element.attributes)) assert.ok(!name.includes('href'), name);
  }
});

test('every rate has a p50 and a p99 point, in the order the rates rise', () => {
  const root = parseXml(latencyChartSvg(reports));
  for (const series of ['p50', 'p99']) {
    const rates = points(root, series).map((point) => point.attributes['data-rate']);
    assert.deepEqual(rates, ['100', '1000', '10000', 'max']);
  }
  assert.deepEqual(texts(root, 'rate-labels'), ['100/s', '1,000/s', '10,000/s', 'max']);
});

test('points lie further right with throughput and higher with latency', () => {
  const root = parseXml(latencyChartSvg(reports));
  const [p50, p99] = [points(root, 'p50'), points(root, 'p99')];
  const cx = p50.map((point) => Number(point.attributes.cx));
  assert.deepEqual(
    cx,
    [...cx].sort((a, b) => a - b),
  );
  // SVG's y grows downwards: a higher latency has a smaller cy.
  for (const [i, point] of p99.entries())
    assert.ok(Number(point.attributes.cy) < Number(p50[i]!.attributes.cy));
});

test('latencies over more than a factor of ten get a logarithmic axis, a narrow range a linear one', () => {
  const wide = parseXml(latencyChartSvg(reports));
  assert.deepEqual(texts(wide, 'y-ticks'), ['5', '10', '20', '50', '100', '200', '500', '1,000']);
  assert.ok(allElements(wide).some((element) => element.text.endsWith('(log scale)')));
  const narrow = parseXml(latencyChartSvg([report(100, 100, 40, 60), report(200, 200, 45, 80)]));
  assert.deepEqual(texts(narrow, 'y-ticks'), ['0', '20', '40', '60', '80', '100']);
  assert.deepEqual(texts(narrow, 'x-ticks'), ['0', '50', '100', '150', '200', '250']);
});

test('text is escaped, so that any title or subtitle keeps the document well formed', () => {
  const title = 'p99 < 500 ms & "fast" <script>';
  const svg = latencyChartSvg(reports, { title, subtitle: "it's <b>bold</b>" });
  assert.ok(!svg.includes('<script>'));
  const root = parseXml(svg);
  assert.equal(root.children[0]!.text, title);
  assert.ok(allElements(root).some((element) => element.text === "it's <b>bold</b>"));
  assert.equal(escapeXml(`a<b>&"c'`), 'a&#60;b&#62;&#38;&#34;c&#39;');
});

test('a rate without measured latencies has no point; with none, the chart says so', () => {
  const none = { ...report(50, 0, 0, 0), latency: { count: 0, p50Ms: 0, p99Ms: 0 } };
  const root = parseXml(latencyChartSvg([none, report(100, 100, 8, 12)]));
  assert.deepEqual(
    points(root, 'p50').map((point) => point.attributes['data-rate']),
    ['100'],
  );
  const empty = parseXml(latencyChartSvg([none]));
  assert.equal(points(empty, 'p99').length, 0);
  assert.ok(allElements(empty).some((element) => element.text === 'no rate finalized a measured vertex'));
});

test('the test parser refuses what is not well formed', () => {
  for (const bad of [
    '<a><b></a></b>',
    '<a x=1/>',
    '<a x="1" x="2"/>',
    '<a>1 < 2</a>',
    '<a>&nbsp;</a>',
    '<a/><b/>',
    '<a>',
    'text<a/>',
  ])
    assert.throws(() => parseXml(bad), /not well-formed XML/, bad);
});
