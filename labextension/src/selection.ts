/**
 * The selection shared by linked views, and the link from a bqplot scatter of singular values.
 *
 * The counterpart of `svdwidgets/widgets/selection.py`. A `SelectionModel` (no view) holds a
 * layer and indices into its `spectrum.values`. Views holding a reference to it write a user's
 * click into it and redraw their highlight when it changes — here, in the browser, so the links
 * work in an exported page without a kernel. One rule keeps them free of feedback loops: a
 * gesture writes the selection; a change of the selection only redraws highlights.
 */
import {
  ISerializers,
  WidgetModel,
  unpack_models
} from '@jupyter-widgets/base';

import { NDArray, arraySerializer } from './serializers';
import { MODULE_NAME, MODULE_VERSION } from './version';

/** The synced traits of `Selection`, in the order of the Python class. */
export interface ISelectionState {
  /** The layer the indices belong to. */
  layer: string;
  /** Selected indices into the layer's spectrum.values, ascending. */
  indices: number[];
}

export class SelectionModel extends WidgetModel {
  defaults(): any {
    const state: ISelectionState = { layer: '', indices: [] };
    return {
      ...super.defaults(),
      _model_name: SelectionModel.model_name,
      _model_module: SelectionModel.model_module,
      _model_module_version: SelectionModel.model_module_version,
      _view_name: null,
      _view_module: null,
      _view_module_version: '',
      ...state
    };
  }

  static model_name = 'SelectionModel';
  static model_module = MODULE_NAME;
  static model_module_version = MODULE_VERSION;
}

/** Sorted distinct non-negative integers. */
export function normalizeIndices(indices: Iterable<number>): number[] {
  const out = Array.from(new Set(Array.from(indices, Number))).filter(
    i => Number.isInteger(i) && i >= 0
  );
  return out.sort((a, b) => a - b);
}

/** Select `indices` of `layer` in a shared selection (one change event, one message). */
export function select(selection: WidgetModel, layer: string, indices: Iterable<number>): void {
  selection.set({ layer, indices: normalizeIndices(indices) });
  selection.save_changes();
}

/** The selected indices of `layer` (empty when the selection is of another layer). */
export function selectedIn(selection: WidgetModel | null, layer: string): number[] {
  if (!selection || selection.get('layer') !== layer) {
    return [];
  }
  const v = selection.get('indices');
  return Array.isArray(v) ? v.map(Number) : [];
}

/**
 * Is `value` a widget model? Duck-typed rather than `instanceof`: another module's models (a
 * bqplot bundled on its own) may extend another copy of WidgetModel.
 */
export function isModel(value: unknown): value is WidgetModel {
  const m = value as WidgetModel | null;
  return !!m && typeof m.get === 'function' && typeof m.on === 'function' && !!m.model_id;
}

/** A view's `selection` attribute: the shared model, or null. */
export function selectionOf(model: WidgetModel): WidgetModel | null {
  const s = model.get('selection');
  return isModel(s) ? s : null;
}

/** What `followSelection` needs of a view (a Backbone view: DOMWidgetView is one). */
interface IListener {
  model: WidgetModel;
  listenTo(other: WidgetModel, events: string, callback: () => void): unknown;
  stopListening(other?: WidgetModel): unknown;
}

/**
 * Follow the view's current `selection` (after `change:selection`, or on render): stop
 * listening to `previous`, call `redraw` on every change of the new one; returns it.
 */
export function followSelection(
  view: IListener,
  previous: WidgetModel | null,
  redraw: () => void
): WidgetModel | null {
  if (previous) {
    view.stopListening(previous);
  }
  const next = selectionOf(view.model);
  if (next) {
    view.listenTo(next, 'change:layer change:indices', redraw);
  }
  return next;
}

export const selectionSerializers: ISerializers = {
  selection: { deserialize: unpack_models }
};

/** The synced traits of `SpectrumLink`, in the order of the Python class. */
export interface ISpectrumLinkState {
  /** The bqplot Scatter of the values. */
  scatter: WidgetModel | null;
  /** The shared selection. */
  selection: WidgetModel | null;
  /** The layer the scatter shows. */
  layer: string;
  /** int32 (P,): the singular index of each scatter point. */
  indices: NDArray | null;
}

/**
 * Links a bqplot Scatter of singular values to a Selection.
 *
 * A click on point `j` (the scatter's `'select'` click interaction sets its `selected`) selects
 * `indices[j]` of `layer`; a selection of `layer` sets the scatter's `selected` to the points
 * it contains (bqplot draws them with `selected_style`). Changes the link makes itself are not
 * taken for clicks.
 */
export class SpectrumLinkModel extends WidgetModel {
  // `declare`: Backbone calls initialize() from its constructor, before field initialisers
  // would run (and reset what initialize() set).
  private declare _scatter: WidgetModel | null;
  private declare _selection: WidgetModel | null;
  private declare _updating: boolean;

  defaults(): any {
    const state: ISpectrumLinkState = {
      scatter: null,
      selection: null,
      layer: '',
      indices: null
    };
    return {
      ...super.defaults(),
      _model_name: SpectrumLinkModel.model_name,
      _model_module: SpectrumLinkModel.model_module,
      _model_module_version: SpectrumLinkModel.model_module_version,
      _view_name: null,
      _view_module: null,
      _view_module_version: '',
      ...state
    };
  }

  initialize(attributes: any, options: any): void {
    super.initialize(attributes, options);
    this._scatter = null;
    this._selection = null;
    this._updating = false;
    this.on('change:scatter change:selection', this._bind, this);
    this.on('change:layer change:indices', this.highlight, this);
    this._bind();
  }

  /** The singular index of each scatter point. */
  get pointIndices(): ArrayLike<number> {
    const a: NDArray | null = this.get('indices');
    return a ? a.data : [];
  }

  /** Set the scatter's selected points from the selection. */
  highlight(): void {
    const scatter = this._scatter;
    if (scatter === null) {
      return;
    }
    const chosen = new Set(selectedIn(this._selection, this.get('layer')));
    const points: number[] = [];
    const idx = this.pointIndices;
    for (let j = 0; j < idx.length; j++) {
      if (chosen.has(idx[j])) {
        points.push(j);
      }
    }
    const current = scatter.get('selected');
    const same =
      (current === null || current === undefined) && points.length === 0
        ? true
        : current !== null &&
          current !== undefined &&
          current.length === points.length &&
          points.every((p, k) => Number(current[k]) === p);
    if (same) {
      return;
    }
    this._updating = true;
    try {
      scatter.set('selected', points.length ? new Uint32Array(points) : null);
      scatter.save_changes();
    } finally {
      this._updating = false;
    }
  }

  private _bind(): void {
    if (this._scatter) {
      this.stopListening(this._scatter);
    }
    if (this._selection) {
      this.stopListening(this._selection);
    }
    const scatter = this.get('scatter');
    const selection = this.get('selection');
    this._scatter = isModel(scatter) ? scatter : null;
    this._selection = isModel(selection) ? selection : null;
    if (this._scatter) {
      this.listenTo(this._scatter, 'change:selected', this._onPoints);
    }
    if (this._selection) {
      this.listenTo(this._selection, 'change:layer change:indices', this.highlight);
    }
    this.highlight();
  }

  private _onPoints(): void {
    if (this._updating || this._selection === null || this._scatter === null) {
      return;
    }
    const picked = this._scatter.get('selected');
    const idx = this.pointIndices;
    const indices: number[] = [];
    if (picked) {
      for (const j of Array.from(picked as ArrayLike<number>)) {
        if (j >= 0 && j < idx.length) {
          indices.push(idx[j]);
        }
      }
    }
    select(this._selection, this.get('layer'), indices);
  }

  static serializers: ISerializers = {
    ...WidgetModel.serializers,
    scatter: { deserialize: unpack_models },
    selection: { deserialize: unpack_models },
    indices: arraySerializer
  };

  static model_name = 'SpectrumLinkModel';
  static model_module = MODULE_NAME;
  static model_module_version = MODULE_VERSION;
}
