import { describe, expect, it } from 'vitest';

import {
  FrequencyOrder,
  frequencyValuesFromJSON,
  fullPlane,
  halfWidth,
  multiplicity
} from '../frequency_order';
import type { NDArray } from '../serializers';

/**
 * A real layer's map, (N_h, N_w, r) full plane from `half(fh, fw, k)` on the half plane, each
 * frequency descending in k: what `FFTSpectrum.frequency_values` is.
 */
function realMap(nh: number, nw: number, r: number, half: (fh: number, fw: number, k: number) => number): NDArray {
  const data = new Float32Array(nh * nw * r);
  for (let fh = 0; fh < nh; fh++) {
    for (let fw = 0; fw < nw; fw++) {
      const [h, w] = 2 * fw <= nw ? [fh, fw] : [(nh - fh) % nh, nw - fw];
      const cell = Array.from({ length: r }, (_, k) => Math.fround(half(h, w, k)));
      cell.sort((a, b) => b - a);
      data.set(cell, (fh * nw + fw) * r);
    }
  }
  return { dtype: 'float32', shape: [nh, nw, r], data };
}

interface IElement {
  v: number;
  cell: [number, number];
  k: number;
  copy: number;
  pos: number;
}

/**
 * The definition, element by element: every half-plane value once per copy (2 off the columns
 * f_w = 0 and N_w/2), in position order, then a stable sort by value, descending.
 */
function bruteForce(fv: NDArray): IElement[] {
  const [nh, nw, r] = fv.shape;
  const out: IElement[] = [];
  for (let fh = 0; fh < nh; fh++) {
    for (let fw = 0; fw < halfWidth(nw); fw++) {
      const m = fw === 0 || 2 * fw === nw ? 1 : 2;
      for (let k = 0; k < r; k++) {
        for (let copy = 0; copy < m; copy++) {
          out.push({ v: fv.data[(fh * nw + fw) * r + k], cell: [fh, fw], k, copy, pos: out.length });
        }
      }
    }
  }
  return out.sort((a, b) => b.v - a.v || a.pos - b.pos);
}

function check(fv: NDArray, n: number): void {
  const [nh, nw, r] = fv.shape;
  const order = new FrequencyOrder(fv, n);
  const want = bruteForce(fv).slice(0, n);
  expect(order.n).toBe(want.length);
  expect(Array.from(order.values)).toEqual(want.map(e => e.v));
  want.forEach((e, i) => expect(order.frequencyOf(i)).toEqual(e.cell));
  expect(order.frequencyOf(want.length)).toBeNull();
  const indexOf = (fh: number, fw: number, k: number, copy: number): number =>
    want.findIndex(e => e.cell[0] === fh && e.cell[1] === fw && e.k === k && e.copy === copy);
  for (let fh = 0; fh < nh; fh++) {
    for (let fw = 0; fw < nw; fw++) {
      const [h, w] = 2 * fw <= nw ? [fh, fw] : [(nh - fh) % nh, nw - fw];
      for (let rank = 0; rank < r; rank++) {
        let expected: [number, number];
        if (multiplicity(w, nw) === 2) {
          expected = [indexOf(h, w, rank, 0), indexOf(h, w, rank, 1)];
        } else {
          const ch = (nh - h) % nh;
          expected = [indexOf(h, w, rank, 0), ch === h ? -1 : indexOf(ch, w, rank, 0)];
        }
        expect(order.rankIndices(fh, fw, rank)).toEqual(expected);
        // what a click shows is what it selects
        const [i] = order.rankIndices(fh, fw, rank);
        if (i >= 0) {
          expect(order.values[i]).toBe(fv.data[(fh * nw + fw) * r + rank]);
        }
      }
    }
  }
}

describe('FrequencyOrder', () => {
  const random = (seed: number) => () => {
    seed = (seed * 16807) % 2147483647;
    return seed / 2147483647;
  };
  it.each([
    [4, 5, 3],
    [4, 6, 2],
    [5, 5, 1],
    [3, 4, 3],
    [1, 4, 2],
    [2, 1, 2]
  ])('names every value of a %ix%i grid with %i values per frequency', (nh, nw, r) => {
    const rnd = random(nh * 100 + nw * 10 + r);
    const table = new Map<string, number>();
    const fv = realMap(nh, nw, r, (fh, fw, k) => {
      const key = `${fh},${fw},${k}`;
      if (!table.has(key)) {
        table.set(key, rnd());
      }
      return table.get(key)!;
    });
    check(fv, nh * nw * r);
  });

  it('breaks ties by position, as a stable sort does', () => {
    // an orthogonal layer: every value 1; and values equal across frequencies and ranks
    check(realMap(4, 6, 2, () => 1), 48);
    check(realMap(3, 4, 3, (fh, fw, k) => (fh + fw + k) % 2), 36);
  });

  it('names only the top n of a top-k spectrum', () => {
    const fv = realMap(4, 5, 3, (fh, fw, k) => 10 * fh + fw - k / 10);
    check(fv, 7);
    const order = new FrequencyOrder(fv, 7);
    expect(order.rankIndices(0, 0, 3)).toEqual([-1, -1]); // no such rank
  });
});

describe('the half plane on the wire', () => {
  it('restores the full plane from the half plane and the width', () => {
    for (const [nh, nw] of [
      [4, 5],
      [4, 6],
      [3, 1],
      [5, 2]
    ]) {
      const full = realMap(nh, nw, 2, (fh, fw, k) => 100 * fh + 10 * fw + k);
      const hw = halfWidth(nw);
      const half = new Float32Array(nh * hw * 2);
      for (let fh = 0; fh < nh; fh++) {
        half.set(full.data.subarray(fh * nw * 2, (fh * nw + hw) * 2), fh * hw * 2);
      }
      const sent = { dtype: 'float32', shape: [nh, hw, 2], buffer: new DataView(half.buffer), width: nw };
      const back = frequencyValuesFromJSON(sent)!;
      expect(back.shape).toEqual([nh, nw, 2]);
      expect(Array.from(back.data)).toEqual(Array.from(full.data));
    }
    // a map sent whole stays as it is
    const whole = { dtype: 'float32', shape: [1, 2, 1], buffer: new DataView(new Float32Array([1, 2]).buffer) };
    expect(Array.from(frequencyValuesFromJSON(whole)!.data)).toEqual([1, 2]);
    expect(() => fullPlane({ dtype: 'float32', shape: [2, 2, 1], data: new Float32Array(4) }, 5)).toThrow(
      /2 columns is not that of a 5-wide/
    );
  });
});
