/** Turns measurements into the stdout tables, the target verdicts and the JSON summary. */
import { GENERATOR, type Measurement } from './scenarios/common.js';
import { JOINS_ID, scalingExponent } from './scenarios/joins.js';
import { median, minMax } from './stats.js';
import { COALESCE_MS, COALESCE_WIDE_MS, type TargetId } from './targets.js';

export interface RowInfo {
  id: string;
  title: string;
  metricName: string;
  lowerIsBetter: boolean;
}

export interface Cell {
  target: TargetId;
  runs: number;
  /** Runs with a loss, reordering, relay ERROR or relay-closed socket. */
  failedRuns: number;
  /** Runs where only the generator fell short of the offered load (everything sent arrived). */
  unsustainedRuns: number;
  failures: string[];
  metric: number;
  metricMin: number;
  metricMax: number;
  ratePerS: number;
  p50Us: number;
  p99Us: number;
  p99Min: number;
  p99Max: number;
  relayCores: number;
  genCores: number;
  otherCores: number;
  relayCpuStatVsSched: number;
  /** Median of each numeric `extra` figure (e.g. the signed scenario's raw verify ceiling). */
  extra: Record<string, number>;
}

export interface Row {
  scenario: string;
  variant: string;
  info: RowInfo;
  cells: Partial<Record<TargetId, Cell>>;
  vsWs: number;
  vsBare: number;
}

const med = (ms: Measurement[], f: (m: Measurement) => number | null): number =>
  median(ms.map(f).filter((v): v is number => v !== null && Number.isFinite(v)));

export function summarize(all: Measurement[], infos: Map<string, RowInfo>, order: TargetId[]): Row[] {
  const keys: string[] = [];
  for (const m of all) {
    const k = `${m.scenario}\u0000${m.variant}`;
    if (!keys.includes(k)) keys.push(k);
  }
  return keys.map((k) => {
    const [scenario, variant] = k.split('\u0000');
    const cells: Partial<Record<TargetId, Cell>> = {};
    for (const t of order) {
      const ms = all.filter((m) => m.scenario === scenario && m.variant === variant && m.target === t);
      if (ms.length === 0) continue;
      const finite = ms.map((m) => m.metric).filter(Number.isFinite);
      const [lo, hi] = minMax(finite);
      const p99s = ms.map((m) => m.p99Us).filter((v): v is number => v !== null && Number.isFinite(v));
      const [p99lo, p99hi] = minMax(p99s);
      cells[t] = {
        target: t,
        runs: ms.length,
        failedRuns: ms.filter((m) => m.failures.some((f) => !f.startsWith(GENERATOR))).length,
        unsustainedRuns: ms.filter((m) => m.failures.length > 0 && m.failures.every((f) => f.startsWith(GENERATOR))).length,
        failures: [...new Set(ms.flatMap((m) => m.failures))],
        metric: median(finite),
        metricMin: lo,
        metricMax: hi,
        ratePerS: med(ms, (m) => m.ratePerS),
        p50Us: med(ms, (m) => m.p50Us),
        p99Us: med(ms, (m) => m.p99Us),
        p99Min: p99lo,
        p99Max: p99hi,
        relayCores: med(ms, (m) => m.window.relayCpuS / m.window.wallS),
        genCores: med(ms, (m) => m.window.genCpuS / m.window.wallS),
        otherCores: med(ms, (m) => m.window.otherCores),
        relayCpuStatVsSched: med(ms, (m) => m.window.relayCpuStatS / m.window.relayCpuS),
        extra: Object.fromEntries(
          [...new Set(ms.flatMap((m) => Object.keys(m.extra)))].map((k) => [k, med(ms, (m) => (typeof m.extra[k] === 'number' ? (m.extra[k] as number) : null))]),
        ),
      };
    }
    const a = cells.agentchat?.metric ?? NaN;
    return {
      scenario,
      variant,
      info: infos.get(scenario) ?? { id: scenario, title: scenario, metricName: 'figure', lowerIsBetter: true },
      cells,
      vsWs: a / (cells['ws-baseline']?.metric ?? NaN),
      vsBare: a / (cells['bare-uws']?.metric ?? NaN),
    };
  });
}

export function fmt(v: number, digits = 3): string {
  if (!Number.isFinite(v)) return '—';
  const a = Math.abs(v);
  if (a >= 1e6) return `${(v / 1e6).toPrecision(digits)}M`;
  if (a >= 1e4) return `${(v / 1e3).toPrecision(digits)}k`;
  if (a >= 100) return v.toFixed(0);
  return v.toPrecision(digits);
}

function fmtMetric(info: RowInfo, v: number): string {
  if (info.metricName.startsWith('relay bytes')) return Number.isFinite(v) ? `${(v / 1024).toPrecision(3)} KiB` : '—';
  return fmt(v);
}

const ms = (us: number): string => (Number.isFinite(us) ? `${fmt(us / 1000)} ms` : '—');
const ratio = (r: number): string => (Number.isFinite(r) ? `${r.toFixed(2)}×` : '—');
const pct = (cores: number): string => (Number.isFinite(cores) ? `${Math.round(cores * 100)}%` : '—');

const LABEL: Record<TargetId, string> = { agentchat: 'agentchat', 'agentchat-sqlite': 'agentchat, SQLite', 'agentchat-sync-verify': 'agentchat, node:crypto on loop', 'agentchat-coalesce': `agentchat, coalesce ${COALESCE_MS} ms`, 'agentchat-coalesce-wide': `agentchat, coalesce ${COALESCE_WIDE_MS} ms`, 'ws-baseline': 'ws baseline', 'bare-uws': 'bare uWS' };

function table(head: string[], rows: string[][]): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(w[i])).join(' | ')} |`;
  return [line(head), `|${w.map((n) => '-'.repeat(n + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

/** Every figure of every target, with spread and the CPU of each side: the table a reader audits. */
export function detailTable(rows: Row[]): string {
  const out: string[][] = [];
  for (const r of rows) {
    for (const c of Object.values(r.cells)) {
      if (!c) continue;
      out.push([
        `${r.info.title} ${r.variant}`,
        LABEL[c.target],
        `${fmtMetric(r.info, c.metric)} (${fmtMetric(r.info, c.metricMin)}–${fmtMetric(r.info, c.metricMax)})`,
        fmt(c.ratePerS),
        ms(c.p50Us),
        ms(c.p99Us),
        pct(c.relayCores),
        pct(c.genCores),
        pct(c.otherCores),
        c.failedRuns ? `FAILED ${c.failedRuns}/${c.runs}` : c.unsustainedRuns ? `UNSUSTAINED ${c.unsustainedRuns}/${c.runs}` : `ok ${c.runs}/${c.runs}`,
      ]);
    }
    if (Number.isFinite(r.vsWs) || Number.isFinite(r.vsBare)) {
      out.push(['', '  agentchat ÷ ws / ÷ bare', `${ratio(r.vsWs)} / ${ratio(r.vsBare)}`, '', '', '', '', '', '', '']);
    }
    const bare = r.cells['bare-uws'];
    for (const [id, budget] of [['agentchat-coalesce', COALESCE_MS], ['agentchat-coalesce-wide', COALESCE_WIDE_MS]] as const) {
      const coalesced = r.cells[id];
      if (!coalesced || !r.cells.agentchat) continue;
      const vsBare = bare ? ` / ÷ bare ${ratio(coalesced.metric / bare.metric)}` : '';
      out.push(['', `  coalesced ${budget} ms ÷ not`, `${ratio(coalesced.metric / r.cells.agentchat.metric)}${vsBare}`, '', '', '', '', '', '', '']);
    }
    const onLoop = r.cells['agentchat-sync-verify'];
    if (onLoop && r.cells.agentchat) {
      out.push(['', '  verified/s: threads ÷ node:crypto on loop', ratio(r.cells.agentchat.ratePerS / onLoop.ratePerS), '', '', '', '', '', '', '']);
    }
    const sqlite = r.cells['agentchat-sqlite'];
    if (sqlite && r.cells.agentchat) {
      const vsBare = bare ? ` / ÷ bare ${ratio(sqlite.metric / bare.metric)}` : '';
      out.push(['', '  SQLite ÷ memory store', `${ratio(sqlite.metric / r.cells.agentchat.metric)}${vsBare}`, '', '', '', '', '', '', '']);
    }
  }
  return table(['scenario', 'relay', 'figure: median (min–max)', 'rate/s', 'p50', 'p99', 'relay CPU', 'gen CPU', 'other', 'verified'], out);
}

/** The compact table for README's Performance section. */
export function readmeTable(rows: Row[]): string {
  const cell = (r: Row, t: TargetId): string => {
    const c = r.cells[t];
    if (!c) return '—';
    const lat = c.p99Us !== null && Number.isFinite(c.p99Us) ? `, p99 ${ms(c.p99Us)}` : '';
    const onLoop = r.cells['agentchat-sync-verify'];
    const ceiling = !r.scenario.startsWith('signed') ? ''
      : r.variant === 'max' ? ` (${fmt(c.ratePerS)} verified/s${onLoop ? `; node:crypto on the event loop ${fmt(onLoop.ratePerS)}/s: ${ratio(c.ratePerS / onLoop.ratePerS)}` : ''})`
      : c.extra.rawVerifyPerCpuS ? ` (${fmt(1e6 / c.metric)}/CPU-s; raw verify ${fmt(c.extra.rawVerifyPerCpuS)}/CPU-s)` : '';
    const coalesced = t !== 'agentchat' ? '' : ([['agentchat-coalesce', COALESCE_MS], ['agentchat-coalesce-wide', COALESCE_WIDE_MS]] as const)
      .map(([id, budget]) => {
        const co = r.cells[id];
        return co ? `; --coalesce-ms ${budget}: ${fmtMetric(r.info, co.metric)}${Number.isFinite(co.p99Us) ? `, p99 ${ms(co.p99Us)}` : ''}` : '';
      }).join('');
    return `${fmtMetric(r.info, c.metric)}${lat}${ceiling}${coalesced}${c.failedRuns ? ' FAILED' : c.unsustainedRuns ? ' UNSUSTAINED' : ''}`;
  };
  return table(
    ['scenario', 'figure', 'agentchat', 'ws baseline', 'bare uWS', 'agentchat ÷ ws', 'agentchat ÷ bare'],
    rows.map((r) => [`${r.info.title} ${r.variant}`, r.info.metricName, cell(r, 'agentchat'), cell(r, 'ws-baseline'), cell(r, 'bare-uws'), ratio(r.vsWs), ratio(r.vsBare)]),
  );
}

export interface Verdict {
  target: string;
  pass: boolean | null;
  detail: string;
}

/** The issue's targets, each PASS / FAIL / n/a (n/a: the relay or a figure is missing). */
export function verdicts(rows: Row[]): Verdict[] {
  const v: Verdict[] = [];
  const find = (s: string): Row[] => rows.filter((r) => r.scenario === s);
  const check = (target: string, items: Array<[string, number, number]>, limit: (ref: number) => number, cmp: 'le' | 'ge' = 'le'): void => {
    const usable = items.filter(([, a, ref]) => Number.isFinite(a) && Number.isFinite(ref));
    if (usable.length === 0 || usable.length < items.length) {
      v.push({ target, pass: null, detail: 'figures missing' });
      return;
    }
    const parts = usable.map(([name, a, ref]) => {
      const ok = cmp === 'le' ? a <= limit(ref) : a >= limit(ref);
      return { ok, text: `${name} ${fmt(a)} vs limit ${fmt(limit(ref))}${ok ? '' : ' ✗'}` };
    });
    v.push({ target, pass: parts.every((p) => p.ok), detail: parts.map((p) => p.text).join('; ') });
  };
  const fan = [...find('fanout-100'), ...find('fanout-1000')];
  const a = (r: Row): number => r.cells.agentchat?.metric ?? NaN;
  check('fan-out relay CPU/delivery ≤ 1.25× bare uWS (every load, max)', fan.map((r) => [`${r.scenario} ${r.variant}`, a(r), r.cells['bare-uws']?.metric ?? NaN]), (ref) => 1.25 * ref);
  check('fan-out relay CPU/delivery ≤ 1/2 ws baseline', fan.map((r) => [`${r.scenario} ${r.variant}`, a(r), r.cells['ws-baseline']?.metric ?? NaN]), (ref) => ref / 2);
  check('DM relay CPU/message ≤ 2/3 ws baseline', find('dm').map((r) => [`dm ${r.variant}`, a(r), r.cells['ws-baseline']?.metric ?? NaN]), (ref) => (2 * ref) / 3);
  const fixed = [...fan.filter((r) => r.variant !== 'max'), ...find('chatter')];
  check('latency p99 at fixed loads ≤ ws baseline', fixed.map((r) => [`${r.scenario} ${r.variant} p99 µs`, r.cells.agentchat?.p99Us ?? NaN, r.cells['ws-baseline']?.p99Us ?? NaN]), (ref) => ref);
  check('idle memory per connection ≤ 1/3 ws baseline', find('idle').map((r) => [`bytes/conn at ${r.variant}`, a(r), r.cells['ws-baseline']?.metric ?? NaN]), (ref) => ref / 3);
  // The issue's 20,000 is out of reach where `ulimit -n` is 20,000: the top step is what the limit admits.
  const idleRows = find('idle');
  const top = idleRows.reduce<Row | undefined>((best, r) => (best === undefined || Number.parseInt(r.variant.replace(/,/g, ''), 10) > Number.parseInt(best.variant.replace(/,/g, ''), 10) ? r : best), undefined);
  if (top !== undefined && idleRows.length > 1) {
    check('idle memory per connection at the top step ≤ 1.15× bare uWS', [[`bytes/conn at ${top.variant}`, a(top), top.cells['bare-uws']?.metric ?? NaN]], (ref) => 1.15 * ref);
  }
  for (const r of find('idle-marginal')) {
    const ref = r.cells['bare-uws']?.metric ?? NaN;
    v.push({ target: `idle memory per extra connection ${r.variant} (information: the bytes a large relay adds per agent)`, pass: null, detail: `agentchat ${fmt(a(r))} B, bare uWS ${fmt(ref)} B: ${ratio(a(r) / ref)}` });
  }
  check('join 1,000-member channel relay CPU ≤ 1/2 ws baseline', find('join-1000').map((r) => [`ms`, a(r), r.cells['ws-baseline']?.metric ?? NaN]), (ref) => ref / 2);
  const signed = find('signed').filter((r) => r.variant !== 'max');
  check('signed MSG ≥ 5,000 verified per relay CPU-second', signed.map((r) => [`verified/CPU-s`, 1e6 / a(r), 5000]), (ref) => ref, 'ge');
  const ceiling = signed[0]?.cells.agentchat?.extra.rawVerifyPerCpuS;
  if (ceiling && v.length) v[v.length - 1].detail += ` (node:crypto raw verify ceiling ${fmt(ceiling)}/CPU-s: relay at ${Math.round((1e6 / a(signed[0]) / ceiling) * 100)}% of it)`;
  // Judged on the raw-TCP senders: with them the generator takes the least of the two cores the relay
  // needs (the ws senders' row is printed beside it; there the ws client is a third of a core).
  check('signed MSGs verified per second at max ≥ 1.8× node:crypto on the event loop (same run, raw-TCP senders)',
    find('signed-raw').filter((r) => r.variant === 'max')
      .map((r) => [`${r.scenario} verified/s`, r.cells.agentchat?.ratePerS ?? NaN, r.cells['agentchat-sync-verify']?.ratePerS ?? NaN]), (ref) => 1.8 * ref, 'ge');
  const wsSigned = find('signed').find((r) => r.variant === 'max');
  if (wsSigned?.cells.agentchat && wsSigned.cells['agentchat-sync-verify'] && v.length) {
    v[v.length - 1].detail += ` (ws senders: ${fmt(wsSigned.cells.agentchat.ratePerS)} vs ${fmt(wsSigned.cells['agentchat-sync-verify'].ratePerS)}/s, ${ratio(wsSigned.cells.agentchat.ratePerS / wsSigned.cells['agentchat-sync-verify'].ratePerS)})`;
  }
  // Each paced fan-out row with the budgets it was run with (5 ms and 50 ms).
  const withBudgets = (paced: Row[]) => paced.filter((r) => r.variant.endsWith('paced')).flatMap((r) =>
    ([['agentchat-coalesce', COALESCE_MS], ['agentchat-coalesce-wide', COALESCE_WIDE_MS]] as const)
      .filter(([id]) => r.cells[id] !== undefined).map(([id, budget]) => ({ r, cell: r.cells[id]!, budget, name: `${r.scenario} ${r.variant} @${budget} ms` })));
  // Judged where raw-TCP receivers read the deliveries: ws receivers take ~10 µs a frame, so a flush of
  // k messages to 500 of them is read over k × 5 ms, latency of the generator's own (the ws rows follow as information).
  // A row passes when one of its budgets meets both: 1 → 1,000 paced publishes every 20 ms, which no 5 ms budget can merge.
  const judged = withBudgets([...find('fanout-100-raw'), ...find('fanout-1000-raw')]);
  for (const row of [...new Set(judged.map((j) => j.r))]) {
    const bare = row.cells['bare-uws']?.metric ?? NaN;
    const off = row.cells.agentchat?.p99Us ?? NaN;
    const budgets = judged.filter((j) => j.r === row).map(({ cell, budget }) => {
      const cpuOk = cell.metric <= 0.6 * bare;
      const p99Ok = cell.p99Us <= off + (budget + 2) * 1000;
      return {
        ok: cpuOk && p99Ok,
        usable: Number.isFinite(cell.metric) && Number.isFinite(bare) && Number.isFinite(cell.p99Us) && Number.isFinite(off),
        text: `@${budget} ms: ${ratio(cell.metric / bare)} bare${cpuOk ? '' : ' ✗'}, p99 ${ms(cell.p99Us)} (off ${ms(off)}, limit ${ms(off + (budget + 2) * 1000)}; budget + 2 ms = ${budget + 2} ms)${p99Ok ? '' : ' ✗'}`,
      };
    });
    v.push({
      target: `coalesced ${row.scenario} ${row.variant}: relay CPU/delivery ≤ 0.6× bare uWS and p99 ≤ uncoalesced p99 + budget + 2 ms (raw-TCP receivers; one budget suffices)`,
      pass: budgets.every((x) => x.usable) ? budgets.some((x) => x.ok) : null,
      detail: budgets.map((x) => x.text).join('; '),
    });
  }
  const wsCoalesced = withBudgets(fan);
  if (wsCoalesced.length > 0) {
    v.push({
      target: 'coalesced paced fan-out with ws receivers (information)',
      pass: null,
      detail: wsCoalesced.map(({ r, cell, name }) =>
        `${name}: ${ratio(cell.metric / (r.cells['bare-uws']?.metric ?? NaN))} bare, p99 ${ms(cell.p99Us)} against ${ms(r.cells.agentchat?.p99Us ?? NaN)} uncoalesced`).join('; '),
    });
  }
  const joinRows = find(JOINS_ID);
  if (joinRows.length >= 2) {
    const targets = [...new Set(joinRows.flatMap((r) => Object.keys(r.cells)))] as TargetId[];
    const exps = targets.map((t) => `${LABEL[t]} ${fmt(scalingExponent(joinRows.map((r) => [Number.parseInt(r.variant, 10), r.cells[t]?.metric ?? NaN])))}`);
    v.push({ target: `join scaling exponent, relay CPU over ${joinRows.map((r) => Number.parseInt(r.variant, 10)).join('/')} joiners (2 = quadratic)`, pass: null, detail: exps.join('; ') });
  }
  const cells = rows.flatMap((r) => Object.values(r.cells).filter((c): c is Cell => c !== undefined));
  const failedA = cells.filter((c) => c.target === 'agentchat' && c.failedRuns > 0);
  const failedRefs = cells.filter((c) => c.target !== 'agentchat' && c.failedRuns > 0);
  const unsustained = cells.filter((c) => c.unsustainedRuns > 0);
  const hasA = cells.some((c) => c.target === 'agentchat');
  v.push({
    target: 'no message lost (agentchat)',
    pass: hasA ? failedA.length === 0 : null,
    detail: hasA
      ? failedA.length
        ? failedA.map((c) => c.failures.filter((f) => !f.startsWith(GENERATOR)).join('; ')).join(' | ')
        : 'every delivery verified in every run'
      : 'relay not measured',
  });
  if (unsustained.length) {
    v.push({
      target: 'generator offered every load (harness)',
      pass: false,
      detail: unsustained.map((c) => `${c.target} ${c.unsustainedRuns}/${c.runs}: ${c.failures.join('; ')}`).join(' | '),
    });
  }
  if (failedRefs.length) v.push({ target: 'reference relays verified (harness sanity)', pass: false, detail: failedRefs.map((c) => `${c.target}: ${c.failures.join('; ')}`).join(' | ') });
  return v;
}
