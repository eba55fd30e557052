import { describe, expect, it } from 'vitest';

import { arrayFromJSON, arrayToJSON } from '../serializers';

describe('arrayFromJSON / arrayToJSON', () => {
  it('reads a float32 DataView without copying and keeps the shape', () => {
    const src = new Float32Array([1.5, 2.5, 3.5, 4.5, 5.5, 6.5]);
    const out = arrayFromJSON({ dtype: 'float32', shape: [1, 2, 3], buffer: new DataView(src.buffer) })!;
    expect(out.shape).toEqual([1, 2, 3]);
    expect(out.data).toBeInstanceOf(Float32Array);
    expect(Array.from(out.data)).toEqual([1.5, 2.5, 3.5, 4.5, 5.5, 6.5]);
    expect(out.data.buffer).toBe(src.buffer);
  });

  it('copies a misaligned buffer', () => {
    const view = new DataView(new ArrayBuffer(13), 1, 12);
    [7, 8, 9].forEach((v, i) => view.setInt32(4 * i, v, true));
    const out = arrayFromJSON({ dtype: 'int32', shape: [3], buffer: view })!;
    expect(out.data).toBeInstanceOf(Int32Array);
    expect(Array.from(out.data)).toEqual([7, 8, 9]);
  });

  it('round trips through arrayToJSON', () => {
    const a = { dtype: 'float64' as const, shape: [2, 2], data: new Float64Array([1, 2, 3, 4]) };
    const back = arrayFromJSON(arrayToJSON(a))!;
    expect(back.shape).toEqual([2, 2]);
    expect(Array.from(back.data)).toEqual([1, 2, 3, 4]);
    expect(arrayFromJSON(null)).toBeNull();
  });

  it('rejects unknown dtypes and wrong byte counts', () => {
    expect(() => arrayFromJSON({ dtype: 'complex64', shape: [0], buffer: new ArrayBuffer(0) })).toThrow(
      /complex64/
    );
    expect(() => arrayFromJSON({ dtype: 'float32', shape: [3], buffer: new ArrayBuffer(8) })).toThrow(
      /12 bytes, got 8/
    );
  });
});
