// The status page: polls GET /v1/status every second and follows GET /v1/events, and draws what it
// gets with plain DOM and SVG. No framework, no build step, nothing from another origin (the page
// runs under `default-src 'self'`). Every value from the node is set as text, never as markup.

const POLL_MS = 1000;
const REQUEST_TIMEOUT_MS = 2500;
const HISTORY_MS = 120_000;
const FEED_MAX = 12;
const SVG = 'http://www.w3.org/2000/svg';
/** Why a node gave up on a view, in words (the engine's `view-change` reasons). */
const REASONS = {
  timeout: 'leader timed out',
  joined: 'joined f + 1 others',
  'new-view-timeout': 'new view timed out',
  'primary-banned': 'leader banned',
};

const $ = (id) => document.getElementById(id);
const count = new Intl.NumberFormat('en-US');
const fixed1 = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1 });

/** Per poll: time, throughput and finality quantiles, for the charts. */
const samples = [];
let previous = null;
let lastAnswerAt = null;
let feed = [];
let feedSeen = 0;
let feedDirty = false;

function text(id, value) {
  const element = $(id);
  if (element.textContent !== value) element.textContent = value;
}

function element(tag, className, content) {
  const created = document.createElement(tag);
  if (className) created.className = className;
  if (content !== undefined) created.textContent = content;
  return created;
}

function seconds(value) {
  if (value === null || value === undefined) return '–';
  return value < 1 ? `${Math.round(value * 1000)} ms` : `${fixed1.format(value)} s`;
}

function clock(iso) {
  return iso ? new Date(iso).toLocaleTimeString('en-GB', { hour12: false }) : '–';
}

function duration(totalSeconds) {
  const h = Math.floor(totalSeconds / 3600);
  const m = Math.floor((totalSeconds % 3600) / 60);
  const s = totalSeconds % 60;
  return h > 0 ? `${h}h ${m}m` : m > 0 ? `${m}m ${s}s` : `${s}s`;
}

// ---------------------------------------------------------------------------------------------
// Polling

async function poll() {
  try {
    const response = await fetch('/v1/status', {
      cache: 'no-store',
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    if (!response.ok) throw new Error(`status ${response.status}`);
    const status = await response.json();
    lastAnswerAt = Date.now();
    connected(true);
    render(status, performance.now());
  } catch {
    connected(false);
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

function connected(up) {
  document.body.classList.toggle('disconnected', !up);
  $('banner').hidden = up;
  const conn = $('conn');
  conn.className = up ? 'conn live' : 'conn down';
  conn.textContent = up ? 'live' : 'disconnected';
  if (!up) {
    const age = lastAnswerAt === null ? 'never' : `${Math.round((Date.now() - lastAnswerAt) / 1000)} s ago`;
    text('banner-age', age);
  }
}

function render(status, now) {
  let throughput = null;
  // A smaller total than before means the node restarted: start the difference afresh.
  if (previous !== null && status.finalizedTotal >= previous.total && now > previous.at) {
    throughput = ((status.finalizedTotal - previous.total) * 1000) / (now - previous.at);
  }
  previous = { at: now, total: status.finalizedTotal };
  const { p50, p99, p999 } = status.finality;
  samples.push({ at: now, throughput, p50, p99, p999 });
  while (samples.length > 0 && samples[0].at < now - HISTORY_MS) samples.shift();

  document.title = `${status.nodeId} · view ${status.view} · ${status.clusterId}`;
  text('cluster', status.clusterId);
  text('node', status.nodeId);
  text('uptime', duration(status.uptimeSeconds));
  text('leader', status.leader);
  text('view', `view ${status.view}`);
  $('view-changing').hidden = status.viewActive;
  text('sequence', count.format(status.sequence));
  text('durable', `durable ${count.format(status.durableSequence)}`);
  text('checkpoint', count.format(status.stableCheckpoint));
  text('pending', `${count.format(status.pendingProposals)} pending here`);
  text('tps', throughput === null ? '–' : count.format(Math.round(throughput)));
  text('finalized-total', `vertices/s · ${count.format(status.finalizedTotal)} finalized`);
  text('finality', p50 === null ? '–' : `${seconds(p50)} / ${seconds(p99)}`);
  text(
    'finality-hint',
    `${count.format(status.finality.count)} vertices, last ${status.finality.windowSeconds} s`,
  );
  text('validators', `${status.peers.length} / ${status.validators.length - 1}`);
  text('fault', `f = ${status.faultTolerance}, quorum ${status.quorum} · ${status.evidence} evidence`);

  renderReplicas(status);
  renderViewChanges(status.recentViewChanges);
  chart($('chart-throughput'), now, [{ key: 'throughput', color: '#60a5fa', area: true }], (v) =>
    count.format(Math.round(v)),
  );
  chart(
    $('chart-finality'),
    now,
    [
      { key: 'p999', color: '#c084fc' },
      { key: 'p99', color: '#fbbf24' },
      { key: 'p50', color: '#5eead4' },
    ],
    seconds,
  );
}

function renderReplicas(status) {
  const peers = new Set(status.peers);
  const banned = new Set(status.banned);
  const progress = status.replicas.map((replica) =>
    replica.nodeId === status.nodeId
      ? { ...replica, sequence: status.sequence, checkpoint: status.stableCheckpoint, view: status.view }
      : { ...replica, sequence: Math.max(replica.commitSequence, replica.checkpoint) },
  );
  const highest = Math.max(0, ...progress.map((replica) => replica.sequence));
  const rows = progress.map((replica) => {
    const self = replica.nodeId === status.nodeId;
    const row = element('tr');
    row.dataset.node = replica.nodeId;
    row.append(element('td', 'mono', replica.nodeId));

    const role = element('td');
    if (replica.nodeId === status.leader) role.append(element('span', 'pill lead', 'leader'), ' ');
    if (self) role.append(element('span', 'pill self', 'this node'));
    if (!role.hasChildNodes()) role.textContent = 'backup';
    row.append(role);

    // Nothing held from a replica (it is down, or its messages were all below the stable
    // checkpoint) says nothing of where it is: shown as unknown rather than as 0.
    const known = self || replica.view !== null || replica.sequence > 0;
    const sequence = element('td', 'num', known ? count.format(replica.sequence) : '–');
    if (known && highest > replica.sequence)
      sequence.append(element('span', 'lag', `−${highest - replica.sequence}`));
    row.append(sequence, element('td', 'num', known ? count.format(replica.checkpoint) : '–'));
    row.append(element('td', 'num', replica.view === null ? '–' : String(replica.view)));

    const reputation = status.reputations[replica.nodeId] ?? 0;
    const tone = banned.has(replica.nodeId) ? 'bad' : reputation < 1 ? 'warn' : '';
    const bar = element('span', `bar ${tone}`);
    const fill = element('i');
    fill.style.width = `${Math.round(reputation * 100)}%`;
    bar.append(fill);
    const reputationCell = element('td');
    reputationCell.append(bar, reputation.toFixed(2));
    row.append(reputationCell);

    const state = banned.has(replica.nodeId)
      ? element('span', 'pill bad', 'banned')
      : reputation < 1
        ? element('span', 'pill warn', 'suspected')
        : element('span', 'pill ok', 'ok');
    const stateCell = element('td');
    stateCell.append(state);
    row.append(stateCell);

    const link = self
      ? ['self', 'self']
      : peers.has(replica.nodeId)
        ? ['up', 'connected']
        : ['down', 'no link'];
    row.append(element('td', `dot ${link[0]}`, link[1]));
    return row;
  });
  $('replicas').tBodies[0].replaceChildren(...rows);
}

function renderViewChanges(changes) {
  const rows = [...changes].reverse().map((change) => {
    const row = element('tr');
    row.append(
      element('td', 'num', String(change.view)),
      element('td', 'mono', change.leader),
      element('td', '', REASONS[change.reason] ?? change.reason ?? 'followed the others'),
      element('td', '', clock(change.startedAt)),
      element('td', '', change.enteredAt ? clock(change.enteredAt) : 'under way'),
    );
    return row;
  });
  $('view-changes').tBodies[0].replaceChildren(...rows);
  $('view-changes').hidden = rows.length === 0;
  $('view-changes-empty').hidden = rows.length > 0;
}

// ---------------------------------------------------------------------------------------------
// Charts: one SVG each, redrawn per poll; the x axis spans the samples held (two minutes at most,
// ten seconds at least), so that a page just opened does not squeeze its data into a corner.

const W = 600;
const H = 190;
const PAD = { left: 58, right: 10, top: 10, bottom: 22 };

function svg(tag, attributes) {
  const created = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) created.setAttribute(name, String(value));
  return created;
}

/** A round upper bound for the y axis: 1, 2 or 5 times a power of ten. */
function niceMax(value) {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (value <= step * power) return step * power;
  return 10 * power;
}

function chart(target, now, series, format) {
  const values = samples.flatMap((sample) => series.map((line) => sample[line.key]));
  const top = niceMax(Math.max(0, ...values.filter((value) => value !== null && value !== undefined)));
  const span = Math.min(HISTORY_MS, Math.max(10_000, now - (samples[0]?.at ?? now)));
  const x = (at) => PAD.left + ((at - (now - span)) / span) * (W - PAD.left - PAD.right);
  const y = (value) => H - PAD.bottom - (value / top) * (H - PAD.top - PAD.bottom);
  const nodes = [];
  for (const fraction of [0, 0.2, 0.4, 0.6, 0.8, 1]) {
    const at = y(top * fraction);
    nodes.push(svg('line', { class: 'grid', x1: PAD.left, x2: W - PAD.right, y1: at, y2: at }));
    const label = svg('text', { x: PAD.left - 6, y: at + 4, 'text-anchor': 'end' });
    label.textContent = format(top * fraction);
    nodes.push(label);
  }
  for (const [offset, name] of [
    [span, `−${Math.round(span / 1000)} s`],
    [span / 2, `−${Math.round(span / 2000)} s`],
    [0, 'now'],
  ]) {
    const anchor = offset === span ? 'start' : offset === 0 ? 'end' : 'middle';
    const label = svg('text', { x: x(now - offset), y: H - 6, 'text-anchor': anchor });
    label.textContent = name;
    nodes.push(label);
  }
  let points = 0;
  for (const line of series) {
    // A missing value (no vertex finalized in the window) breaks the line.
    const runs = [[]];
    for (const sample of samples) {
      const value = sample[line.key];
      if (value === null || value === undefined) {
        if (runs.at(-1).length > 0) runs.push([]);
      } else runs.at(-1).push([x(sample.at), y(value)]);
    }
    for (const run of runs) {
      if (run.length === 0) continue;
      points += run.length;
      const d = run.map(([px, py], i) => `${i === 0 ? 'M' : 'L'}${px.toFixed(1)},${py.toFixed(1)}`).join('');
      if (line.area && run.length > 1) {
        const base = y(0).toFixed(1);
        const area = `${d}L${run.at(-1)[0].toFixed(1)},${base}L${run[0][0].toFixed(1)},${base}Z`;
        nodes.push(svg('path', { d: area, fill: line.color, 'fill-opacity': 0.18, stroke: 'none' }));
      }
      nodes.push(
        svg('path', { d, fill: 'none', stroke: line.color, 'stroke-width': 2, 'stroke-linejoin': 'round' }),
      );
      if (run.length === 1)
        nodes.push(svg('circle', { cx: run[0][0], cy: run[0][1], r: 2.5, fill: line.color }));
    }
  }
  target.replaceChildren(...nodes);
  target.dataset.points = String(points);
}

// ---------------------------------------------------------------------------------------------
// The live feed of finalized vertices

function follow() {
  const events = new EventSource('/v1/events');
  // The feed shows the latest vertices only: after a dropped connection, open a new live stream
  // rather than let EventSource resume with Last-Event-ID, which would replay everything the
  // node finalized meanwhile (and end for good on a 410 once that is pruned).
  events.addEventListener('error', () => {
    events.close();
    setTimeout(follow, 1000);
  });
  events.addEventListener('finalized', (message) => {
    const event = JSON.parse(message.data);
    feedSeen++;
    feed.push(event);
    if (feed.length > FEED_MAX) feed = feed.slice(-FEED_MAX);
    if (!feedDirty) {
      feedDirty = true;
      requestAnimationFrame(renderFeed);
    }
  });
}

function renderFeed() {
  feedDirty = false;
  const items = [...feed].reverse().map((event) => {
    const item = element('li');
    item.append(
      element('span', 'mono', `${count.format(event.sequence)}.${event.position}`),
      element('span', 'mono', `${event.hash.slice(0, 16)}…`),
      element('span', 'hint', `${count.format(event.payloadBytes)} B`),
      element('span', 'hint', `view ${event.view}`),
    );
    return item;
  });
  $('feed').replaceChildren(...items);
  $('feed').dataset.count = String(items.length);
  $('feed-empty').hidden = items.length > 0;
  text('feed-count', count.format(feedSeen));
}

follow();
poll();
