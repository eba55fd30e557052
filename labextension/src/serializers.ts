/**
 * Binary array wire format, the counterpart of `svdwidgets/widgets/serialization.py`.
 *
 * The kernel sends `{dtype, shape, buffer}` where `buffer` travels as a binary comm buffer
 * (a DataView on arrival; base64-decoded to a DataView in exported HTML). The front end gets
 * an `NDArray`: a typed array view on that buffer (no copy unless misaligned) plus its shape.
 */
import type { IWidgetManager } from '@jupyter-widgets/base';

/** Typed array constructors by dtype name (numpy spelling). */
const TYPED_ARRAYS = {
  int8: Int8Array,
  uint8: Uint8Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int32: Int32Array,
  uint32: Uint32Array,
  float32: Float32Array,
  float64: Float64Array
};

export type DType = keyof typeof TYPED_ARRAYS;

export type TypedArray =
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | Float32Array
  | Float64Array;

/** What `array_to_json` sends. */
export interface IArrayJSON {
  dtype: string;
  shape: number[];
  buffer: DataView | ArrayBuffer;
}

/** A C-ordered n-dimensional array: `data[((i * shape[1]) + j) * shape[2] + k]`. */
export interface NDArray {
  dtype: DType;
  shape: number[];
  data: TypedArray;
}

function isDType(dtype: string): dtype is DType {
  return Object.prototype.hasOwnProperty.call(TYPED_ARRAYS, dtype);
}

/** `{dtype, shape, buffer}` -> NDArray (a view on the buffer; copies only if misaligned). */
export function arrayFromJSON(
  value: IArrayJSON | null,
  _manager?: IWidgetManager
): NDArray | null {
  if (value === null || value === undefined) {
    return null;
  }
  const { dtype, shape } = value;
  if (!isDType(dtype)) {
    throw new Error(`svdwidgets: unsupported array dtype ${JSON.stringify(dtype)}`);
  }
  const Ctor = TYPED_ARRAYS[dtype];
  const b = value.buffer;
  const buffer = b instanceof DataView ? b.buffer : b;
  const offset = b instanceof DataView ? b.byteOffset : 0;
  const bytes = b.byteLength;
  const size = shape.reduce((a, n) => a * n, 1);
  if (bytes !== size * Ctor.BYTES_PER_ELEMENT) {
    throw new Error(
      `svdwidgets: a ${dtype} array of shape [${shape}] needs ` +
        `${size * Ctor.BYTES_PER_ELEMENT} bytes, got ${bytes}`
    );
  }
  const data =
    offset % Ctor.BYTES_PER_ELEMENT === 0
      ? new Ctor(buffer, offset, size)
      : new Ctor(buffer.slice(offset, offset + bytes));
  return { dtype, shape: [...shape], data };
}

/** NDArray -> `{dtype, shape, buffer}` (used when the front end sets an array trait). */
export function arrayToJSON(value: NDArray | null, _widget?: unknown): IArrayJSON | null {
  if (value === null || value === undefined) {
    return null;
  }
  const { data } = value;
  return {
    dtype: value.dtype,
    shape: [...value.shape],
    buffer: new DataView(data.buffer, data.byteOffset, data.byteLength)
  };
}

export const arraySerializer = {
  deserialize: arrayFromJSON,
  serialize: arrayToJSON
};
