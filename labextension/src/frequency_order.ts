/**
 * The order of a circular convolution's singular values, derived from its frequency map.
 *
 * The counterpart of `value_order` in `svdwidgets/widgets/frequency_map.py`, which checks that
 * this order is the spectrum's before the map is sent. An `fft` spectrum (Sedghi, Gupta & Long,
 * ICLR 2019) is every half-plane frequency's block values, each repeated by its multiplicity
 * (2 for `0 < f_w < N_w/2`, whose conjugate is in the other half; 1 in the columns `f_w = 0`
 * and `N_w/2`, which hold their own conjugates), sorted descending with ties in position order
 * (`FFTSpectrum`: a stable sort). So the map's values alone name every index: which frequency
 * `values[i]` belongs to (to outline a selection), which index a frequency's rank-th value
 * is and its conjugate twin (what a click selects), and the sorted values themselves (the
 * exported page's status lines). No index table travels with the map.
 *
 * Within one frequency the values are sorted descending (the map's layout), so the global
 * order visits a frequency's positions in increasing order: its `j`-th index is the one at its
 * `j`-th position.
 */
import { IArrayJSON, arrayFromJSON, arrayToJSON } from './serializers';
import type { NDArray, TypedArray } from './serializers';

/** Half-plane columns of an `N_w`-wide grid. */
export function halfWidth(nw: number): number {
  return Math.floor(nw / 2) + 1;
}

/** How often half-plane column `fw` occurs in the full plane (1 or 2). */
export function multiplicity(fw: number, nw: number): number {
  return fw === 0 || 2 * fw === nw ? 1 : 2;
}

/**
 * The full plane `(N_h, N_w, r)` from the half plane `(N_h, N_w//2 + 1, r)` of a real layer's
 * map: `(f_h, f_w)` with `f_w > N_w/2` has the values of its conjugate `(-f_h, N_w - f_w)`.
 */
export function fullPlane(half: NDArray, width: number): NDArray {
  const [nh, hw, r] = half.shape;
  if (hw !== halfWidth(width)) {
    throw new Error(
      `svdwidgets: a half plane of ${hw} columns is not that of a ${width}-wide frequency grid`
    );
  }
  const Ctor = half.data.constructor as new (n: number) => TypedArray;
  const out = new Ctor(nh * width * r);
  for (let fh = 0; fh < nh; fh++) {
    for (let fw = 0; fw < width; fw++) {
      const [sh, sw] = fw < hw ? [fh, fw] : [(nh - fh) % nh, width - fw];
      const from = (sh * hw + sw) * r;
      out.set(half.data.subarray(from, from + r), (fh * width + fw) * r);
    }
  }
  return { dtype: half.dtype, shape: [nh, width, r], data: out };
}

export class FrequencyOrder {
  /** How many values are named (the spectrum's length; fewer than all for a top-k one). */
  readonly n: number;
  private readonly _nh: number;
  private readonly _nw: number;
  private readonly _hw: number;
  private readonly _r: number;
  /** Per half-plane cell `fh * hw + fw`: its first position in the expanded values. */
  private readonly _start: Int32Array;
  /** Index -> half-plane cell. */
  private readonly _cell: Int32Array;
  /** Position -> index (-1: beyond `n`). */
  private readonly _inverse: Int32Array;
  /** The values in order (length `n`). */
  readonly values: TypedArray;

  /**
   * `frequencyValues`: the map's `(N_h, N_w, r)` values (full plane, each cell descending);
   * `n`: how many of the layer's values the spectrum has (`n_values`).
   */
  constructor(frequencyValues: NDArray, n: number) {
    const [nh, nw, r] = frequencyValues.shape;
    const hw = halfWidth(nw);
    const fv = frequencyValues.data;
    this._nh = nh;
    this._nw = nw;
    this._hw = hw;
    this._r = r;
    const cells = nh * hw;
    const start = new Int32Array(cells + 1);
    for (let c = 0; c < cells; c++) {
      start[c + 1] = start[c] + r * multiplicity(c % hw, nw);
    }
    this._start = start;
    const total = start[cells];
    this.n = Math.max(0, Math.min(n, total));
    // the half plane's entries, in position order (cell-major, then rank)
    const entries = new Float64Array(cells * r);
    for (let c = 0; c < cells; c++) {
      const fh = Math.floor(c / hw);
      const from = (fh * nw + (c % hw)) * r;
      for (let k = 0; k < r; k++) {
        entries[c * r + k] = fv[from + k];
      }
    }
    const ids = new Int32Array(entries.length);
    for (let e = 0; e < ids.length; e++) {
      ids[e] = e;
    }
    // descending by value, ties by position (an entry's id grows with its position)
    ids.sort((a, b) => entries[b] - entries[a] || a - b);
    const Ctor = fv.constructor as new (n: number) => TypedArray;
    const values = new Ctor(this.n);
    const cellOf = new Int32Array(this.n);
    const inverse = new Int32Array(total).fill(-1);
    let i = 0;
    for (let s = 0; s < ids.length && i < this.n; s++) {
      const e = ids[s];
      const c = Math.floor(e / r);
      const m = multiplicity(c % hw, nw);
      const first = start[c] + (e % r) * m;
      for (let copy = 0; copy < m && i < this.n; copy++, i++) {
        values[i] = entries[e];
        cellOf[i] = c;
        inverse[first + copy] = i;
      }
    }
    this.values = values;
    this._cell = cellOf;
    this._inverse = inverse;
  }

  /** The half-plane DFT frequency `(f_h, f_w)` of `values[i]`, or null beyond `n`. */
  frequencyOf(i: number): [number, number] | null {
    if (!(i >= 0 && i < this.n)) {
      return null;
    }
    const c = this._cell[i];
    return [Math.floor(c / this._hw), c % this._hw];
  }

  /**
   * What a click on DFT frequency `(fh, fw)` (full plane) selects at `rank`: the index of that
   * frequency's rank-th value and of its conjugate twin (the other real vector of the pair),
   * `-1` where there is none (a self-conjugate frequency, or beyond a top-k spectrum).
   */
  rankIndices(fh: number, fw: number, rank: number): [number, number] {
    const nh = this._nh;
    const nw = this._nw;
    const hw = this._hw;
    const [h, w] = fw < hw ? [fh, fw] : [(nh - fh) % nh, nw - fw];
    if (!(rank >= 0 && rank < this._r)) {
      return [-1, -1];
    }
    const at = (cell: number, offset: number): number => this._inverse[this._start[cell] + offset];
    if (multiplicity(w, nw) === 2) {
      const c = h * hw + w;
      return [at(c, 2 * rank), at(c, 2 * rank + 1)];
    }
    // columns f_w = 0 and N_w/2: the conjugate is the same rank at (-f_h, f_w)
    const ch = (nh - h) % nh;
    return [at(h * hw + w, rank), ch === h ? -1 : at(ch * hw + w, rank)];
  }
}

/** One `FrequencyOrder` per values array (they are replaced, never changed in place). */
const cache = new WeakMap<TypedArray, Map<number, FrequencyOrder>>();

/** The order of `frequencyValues` naming `n` values, computed once per array and `n`. */
export function frequencyOrder(frequencyValues: NDArray, n: number): FrequencyOrder {
  let byN = cache.get(frequencyValues.data);
  if (!byN) {
    byN = new Map();
    cache.set(frequencyValues.data, byN);
  }
  let order = byN.get(n);
  if (!order) {
    order = new FrequencyOrder(frequencyValues, n);
    byN.set(n, order);
  }
  return order;
}

/** The wire format of a map's values: an array, with `width` when it is the half plane. */
export interface IFrequencyValuesJSON extends IArrayJSON {
  width?: number;
}

/** `frequency_values` from the kernel (`frequency_values_to_json`), as the full plane. */
export function frequencyValuesFromJSON(value: IFrequencyValuesJSON | null): NDArray | null {
  const a = arrayFromJSON(value);
  return a && value && typeof value.width === 'number' ? fullPlane(a, value.width) : a;
}

export const frequencyValuesSerializer = {
  deserialize: frequencyValuesFromJSON,
  serialize: arrayToJSON
};
