/**
 * Viridis, the perceptually uniform colour map (matplotlib's default), sampled at 9 stops and
 * interpolated linearly in RGB. Readable on light and dark backgrounds and in greyscale.
 */
const VIRIDIS: ReadonlyArray<readonly [number, number, number]> = [
  [0x44, 0x01, 0x54],
  [0x47, 0x2d, 0x7b],
  [0x3b, 0x52, 0x8b],
  [0x2c, 0x72, 0x8e],
  [0x21, 0x91, 0x8c],
  [0x28, 0xae, 0x80],
  [0x5e, 0xc9, 0x62],
  [0xad, 0xdc, 0x30],
  [0xfd, 0xe7, 0x25]
];

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
