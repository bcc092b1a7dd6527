/**
 * The latency-versus-throughput chart of `cretoai-node bench --chart`: finalized vertices/s
 * across, finality p50 and p99 up, one point per rate the bench ran, as an SVG document.
 *
 * The document stands alone: no scripts, no external fonts or styles (text uses the viewer's
 * generic sans-serif), so it renders the same in a browser, an image viewer or a README. Text
 * is escaped, so any title makes well-formed XML.
 */
import type { LoadReport } from './load.ts';

/** What the chart needs of a report. */
export type ChartedReport = Pick<LoadReport, 'rate' | 'finalizedPerSecond'> & {
  readonly latency: Pick<LoadReport['latency'], 'count' | 'p50Ms' | 'p99Ms'>;
};

/** Options of {@link latencyChartSvg}. */
export interface LatencyChartOptions {
  /** Default "Finality latency versus throughput". */
  readonly title?: string;
  /** A second line under the title: what was measured, and how. */
  readonly subtitle?: string;
  /** The document's size in pixels. Default 760 by 480. */
  readonly width?: number;
  readonly height?: number;
}

/** The two series drawn, in drawing order, with their colours. */
const SERIES = Object.freeze([
  { key: 'p50Ms', label: 'p50', colour: '#1f77b4' },
  { key: 'p99Ms', label: 'p99', colour: '#d62728' },
] as const);

/**
 * The y axis turns logarithmic when the latencies span this factor or more: then the low rates'
 * p50 and the overloaded rates' p99 are both readable, where a linear axis would flatten the
 * former against zero.
 */
const LOG_SCALE_SPAN_MIN = 10;

/** Escapes text for XML character data and attribute values. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

/** A number without float noise: 0.30000000000000004 as 0.3, 10000 as "10,000". */
function formatNumber(value: number): string {
  return Number(value.toPrecision(6)).toLocaleString('en-US', { maximumFractionDigits: 3 });
}

/** The "nice" step (1, 2 or 5 times a power of ten) at least `raw`. */
function niceStep(raw: number): number {
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const fraction = raw / magnitude;
  return (fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10) * magnitude;
}

/** Ticks from 0 by a nice step, about `count` of them, the last at or above `max` (> 0). */
function linearTicks(max: number, count = 6): number[] {
  const step = niceStep(max / count);
  const steps = Math.max(1, Math.ceil(max / step - 1e-9));
  return Array.from({ length: steps + 1 }, (_, i) => Number((i * step).toPrecision(12)));
}

/** The values 1, 2 and 5 times a power of ten, from the largest at most `min` to the smallest at least `max`. */
function oneTwoFive(min: number, max: number): number[] {
  const values: number[] = [];
  for (
    let decade = 10 ** Math.floor(Math.log10(min));
    values.at(-1) === undefined || values.at(-1)! < max;
    decade *= 10
  ) {
    for (const multiple of [1, 2, 5]) {
      const value = Number((decade * multiple).toPrecision(6));
      if (value <= min) values.length = 0;
      if (values.at(-1) === undefined || values.at(-1)! < max) values.push(value);
    }
  }
  return values;
}

/** The order the rates were offered in: ascending, 'max' last. */
function byOfferedRate(a: ChartedReport, b: ChartedReport): number {
  const rank = (report: ChartedReport): number => (report.rate === 'max' ? Infinity : report.rate);
  return rank(a) - rank(b);
}

function rateLabel(rate: number | 'max'): string {
  return rate === 'max' ? 'max' : `${formatNumber(rate)}/s`;
}

/**
 * The chart of `reports` as an SVG document. The points of each series are joined in the order
 * the rates rise ('max' last), so that the line follows the load as it grows, even where an
 * overloaded rate finalizes less than a lower one. A report without measured latencies has no
 * point.
 */
export function latencyChartSvg(
  reports: readonly ChartedReport[],
  options: LatencyChartOptions = {},
): string {
  const width = options.width ?? 760;
  const height = options.height ?? 480;
  const title = options.title ?? 'Finality latency versus throughput';
  const plot = {
    left: 84,
    right: width - 32,
    top: options.subtitle === undefined ? 76 : 96,
    bottom: height - 62,
  };
  const charted = reports.filter((report) => report.latency.count > 0).sort(byOfferedRate);

  const xMax = Math.max(0, ...charted.map((report) => report.finalizedPerSecond)) * 1.05;
  const xTicks = linearTicks(xMax > 0 ? xMax : 1);
  const xDomainMax = xTicks.at(-1)!;
  const x = (value: number): number => plot.left + (value / xDomainMax) * (plot.right - plot.left);

  const latencies = charted
    .flatMap((report) => [report.latency.p50Ms, report.latency.p99Ms])
    .filter((ms) => ms > 0);
  const yMin = Math.min(...latencies);
  const yMax = Math.max(...latencies);
  const logScale = latencies.length > 0 && yMax / yMin >= LOG_SCALE_SPAN_MIN;
  let yTicks: number[];
  let y: (ms: number) => number;
  if (logScale) {
    yTicks = oneTwoFive(yMin, yMax);
    const low = yTicks[0]!;
    const high = yTicks.at(-1)!;
    const span = Math.log10(high / low);
    y = (ms) => plot.bottom - (Math.log10(ms / low) / span) * (plot.bottom - plot.top);
  } else {
    yTicks = linearTicks(latencies.length > 0 ? yMax * 1.1 : 1);
    const top = yTicks.at(-1)!;
    y = (ms) => plot.bottom - (ms / top) * (plot.bottom - plot.top);
  }

  const round = (value: number): string => value.toFixed(1);
  const parts: string[] = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ` +
      'font-family="sans-serif" font-size="12" role="img">',
    `<title>${escapeXml(title)}</title>`,
    `<desc>${escapeXml(
      charted
        .map(
          (report) =>
            `offered ${rateLabel(report.rate)}: ${formatNumber(Math.round(report.finalizedPerSecond))} finalized/s, ` +
            `p50 ${formatNumber(report.latency.p50Ms)} ms, p99 ${formatNumber(report.latency.p99Ms)} ms`,
        )
        .join('; '),
    )}</desc>`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${width / 2}" y="30" text-anchor="middle" font-size="17" font-weight="bold">${escapeXml(title)}</text>`,
  ];
  if (options.subtitle !== undefined) {
    parts.push(
      `<text x="${width / 2}" y="52" text-anchor="middle" fill="#444444">${escapeXml(options.subtitle)}</text>`,
    );
  }

  // Grid and ticks.
  parts.push('<g class="grid" stroke="#e4e4e4" stroke-width="1">');
  for (const tick of xTicks)
    parts.push(`<line x1="${round(x(tick))}" y1="${plot.top}" x2="${round(x(tick))}" y2="${plot.bottom}"/>`);
  for (const tick of yTicks)
    parts.push(`<line x1="${plot.left}" y1="${round(y(tick))}" x2="${plot.right}" y2="${round(y(tick))}"/>`);
  parts.push('</g>');
  parts.push(
    `<g class="axes" stroke="#333333" stroke-width="1"><line x1="${plot.left}" y1="${plot.bottom}" x2="${plot.right}" y2="${plot.bottom}"/>` +
      `<line x1="${plot.left}" y1="${plot.top}" x2="${plot.left}" y2="${plot.bottom}"/></g>`,
  );
  parts.push('<g class="x-ticks" text-anchor="middle" fill="#333333">');
  for (const tick of xTicks)
    parts.push(`<text x="${round(x(tick))}" y="${plot.bottom + 18}">${escapeXml(formatNumber(tick))}</text>`);
  parts.push('</g>');
  parts.push('<g class="y-ticks" text-anchor="end" fill="#333333">');
  for (const tick of yTicks)
    parts.push(
      `<text x="${plot.left - 8}" y="${round(y(tick) + 4)}">${escapeXml(formatNumber(tick))}</text>`,
    );
  parts.push('</g>');
  parts.push(
    `<text class="x-label" x="${round((plot.left + plot.right) / 2)}" y="${height - 18}" text-anchor="middle">finalized vertices/s</text>`,
    `<text class="y-label" transform="translate(22 ${round((plot.top + plot.bottom) / 2)}) rotate(-90)" text-anchor="middle">` +
      `finality latency, ms${logScale ? ' (log scale)' : ''}</text>`,
  );

  // The series: a line through the points, then the points, each with a tooltip.
  for (const series of SERIES) {
    const points = charted.filter((report) => report.latency[series.key] > 0);
    const path = points.map(
      (report) => `${round(x(report.finalizedPerSecond))},${round(y(report.latency[series.key]))}`,
    );
    parts.push(`<g class="series ${series.label}" fill="${series.colour}" stroke="${series.colour}">`);
    if (points.length > 1) parts.push(`<polyline points="${path.join(' ')}" fill="none" stroke-width="2"/>`);
    for (const [i, report] of points.entries()) {
      const [cx, cy] = path[i]!.split(',');
      parts.push(
        `<circle class="point" cx="${cx}" cy="${cy}" r="4" data-rate="${escapeXml(String(report.rate))}">` +
          `<title>${escapeXml(`offered ${rateLabel(report.rate)}: ${series.label} ${formatNumber(report.latency[series.key])} ms at ${formatNumber(Math.round(report.finalizedPerSecond))} finalized/s`)}</title></circle>`,
      );
    }
    parts.push('</g>');
  }

  // Each point pair is labelled with its offered rate, above the p99 point.
  parts.push('<g class="rate-labels" text-anchor="middle" fill="#555555" font-size="11">');
  for (const report of charted) {
    const top = Math.max(report.latency.p50Ms, report.latency.p99Ms);
    if (top <= 0) continue;
    // Kept clear of the axes: a label centred on a point near an edge would cross them.
    const labelX = Math.min(plot.right - 28, Math.max(plot.left + 28, x(report.finalizedPerSecond)));
    parts.push(
      `<text x="${round(labelX)}" y="${round(y(top) - 9)}">${escapeXml(rateLabel(report.rate))}</text>`,
    );
  }
  parts.push('</g>');

  // The legend, top right inside the plot.
  parts.push('<g class="legend">');
  for (const [i, series] of SERIES.entries()) {
    const lx = plot.right - 150 + i * 75;
    const ly = plot.top - 14;
    parts.push(
      `<line x1="${lx}" y1="${ly}" x2="${lx + 22}" y2="${ly}" stroke="${series.colour}" stroke-width="2"/>` +
        `<circle cx="${lx + 11}" cy="${ly}" r="4" fill="${series.colour}"/>` +
        `<text x="${lx + 28}" y="${ly + 4}">${series.label}</text>`,
    );
  }
  parts.push('</g>');
  if (charted.length === 0) {
    parts.push(
      `<text x="${round((plot.left + plot.right) / 2)}" y="${round((plot.top + plot.bottom) / 2)}" text-anchor="middle" fill="#888888">no rate finalized a measured vertex</text>`,
    );
  }
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
