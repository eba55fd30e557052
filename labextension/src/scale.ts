/** The colour scale of a heat map: linear or logarithmic, its ticks and number formatting. */

export interface IColorScale {
  /** Smallest and largest value of the domain (`lo > 0` for a log scale). */
  lo: number;
  hi: number;
  log: boolean;
  /** Position of a value in [0, 1]; values below the domain (e.g. 0 on a log scale) give 0. */
  normalize(v: number): number;
  ticks(maxTicks: number): number[];
}

/** Round ticks (steps 1, 2, 5 x 10^k) in [lo, hi], as close to `count` of them as possible. */
export function niceTicks(lo: number, hi: number, count: number): number[] {
  if (!(hi > lo)) {
    return Number.isFinite(lo) ? [lo] : [];
  }
  const mag = Math.pow(10, Math.floor(Math.log10((hi - lo) / Math.max(count, 1))));
  let best: number[] = [];
  for (const step of [1, 2, 5, 10].map(m => m * mag)) {
    const ticks: number[] = [];
    for (let k = Math.ceil(lo / step - 1e-9); k * step <= hi + step * 1e-9; k++) {
      ticks.push(Number((k * step).toPrecision(12)));
    }
    if (best.length === 0 || Math.abs(ticks.length - count) < Math.abs(best.length - count)) {
      best = ticks;
    }
  }
  return best;
}

/** Colour scale over the finite values of `values` (linear: [min, max]; log: positive ones). */
export function colorScale(values: ArrayLike<number>, log: boolean): IColorScale {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (Number.isFinite(v) && (!log || v > 0)) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
  }
  if (!(hi >= lo)) {
    [lo, hi] = log ? [1, 10] : [0, 1];
  } else if (hi === lo) {
    [lo, hi] = log ? [lo / 2, hi * 2] : [lo - 0.5, hi + 0.5];
  }
  if (!log) {
    return {
      lo,
      hi,
      log,
      normalize: v => (v - lo) / (hi - lo),
      ticks: n => niceTicks(lo, hi, n)
    };
  }
  const [llo, lhi] = [Math.log10(lo), Math.log10(hi)];
  return {
    lo,
    hi,
    log,
    normalize: v => (v > 0 ? (Math.log10(v) - llo) / (lhi - llo) : 0),
    ticks: n => logTicks(lo, hi, n)
  };
}

/** 1, 2, 5 x 10^k inside [lo, hi], thinned to `count`; plain ticks when the range is narrow. */
function logTicks(lo: number, hi: number, count: number): number[] {
  const candidates: number[] = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
    for (const m of [1, 2, 5]) {
      const v = Number((m * Math.pow(10, e)).toPrecision(12));
      if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) {
        candidates.push(v);
      }
    }
  }
  const decades = candidates.filter(v => Number(v.toExponential(0).split('e')[0]) === 1);
  if (decades.length >= 2) {
    return decades.length <= count ? decades : thin(decades, count);
  }
  if (candidates.length >= 2) {
    return thin(candidates, count);
  }
  return niceTicks(lo, hi, count).filter(v => v > 0);
}

function thin(ticks: number[], count: number): number[] {
  const every = Math.ceil(ticks.length / Math.max(count, 1));
  return ticks.filter((_, i) => i % every === 0);
}

/** Short label for a value: 3 significant digits, exponent notation when far from 1. */
export function formatValue(v: number): string {
  if (v === 0) {
    return '0';
  }
  const a = Math.abs(v);
  if (a >= 1e4 || a < 1e-3) {
    return v.toExponential(1).replace('e+', 'e');
  }
  return String(Number(v.toPrecision(3)));
}

/** Label for a signed integer, with a real minus sign. */
export function formatSigned(n: number): string {
  return n < 0 ? `\u2212${-n}` : String(n);
}
