import { VIRIDIS } from './palette';

/**
 * Viridis, the perceptually uniform colour map (matplotlib's default), at the 9 stops of the
 * palette (`svdwidgets/_palette.py`), interpolated linearly in RGB. Readable on light and dark
 * backgrounds and in greyscale.
 */

/** Colour of `t` in [0, 1] (clamped; NaN gives the lowest colour) as `rgb(r, g, b)`. */
export function viridis(t: number): string {
  const x = Number.isFinite(t) ? Math.min(1, Math.max(0, t)) : 0;
  const pos = x * (VIRIDIS.length - 1);
  const i = Math.min(Math.floor(pos), VIRIDIS.length - 2);
  const f = pos - i;
  const [a, b] = [VIRIDIS[i], VIRIDIS[i + 1]];
  const c = [0, 1, 2].map(k => Math.round(a[k] + f * (b[k] - a[k])));
  return `rgb(${c[0]}, ${c[1]}, ${c[2]})`;
}

/** Gradient stops (offset in [0, 1], colour) for a colour bar. */
export function viridisStops(n = 17): Array<[number, string]> {
  return Array.from({ length: n }, (_, i) => [i / (n - 1), viridis(i / (n - 1))]);
}
