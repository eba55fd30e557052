/**
 * The in-browser stand-in for the kernel in an exported Explorer page.
 *
 * The counterpart of `svdwidgets/widgets/page_controller.py` (only exported pages have one,
 * so a live dashboard never gets double updates). It replays what the kernel drew for each
 * layer when the dropdown changes or a selection of another layer arrives (a hypergraph node),
 * turns "brush a range" into the figure's brush and a settled brush into a selection, shows
 * the compared methods' curves when their box is ticked, keeps both status lines in step with
 * the selection, and hides the controls that need a kernel.
 */
import {
  DOMWidgetModel,
  DOMWidgetView,
  ISerializers,
  WidgetModel,
  unpack_models
} from '@jupyter-widgets/base';

import { FrequencyOrder, frequencyValuesFromJSON } from './frequency_order';
import { isModel, normalizeIndices, select } from './selection';
import { arrayFromJSON } from './serializers';
import { MODULE_NAME, MODULE_VERSION } from './version';

type State = { [key: string]: unknown };

/** What the status lines say about `indices` of a layer with singular `values`. */
export function describeSelection(
  indices: number[],
  values: ArrayLike<number> | null
): { summary: string; status: string } {
  if (indices.length === 0) {
    return { summary: '', status: 'nothing selected — click a point, or brush a range of ranks' };
  }
  if (indices.length === 1) {
    const i = indices[0];
    const s = values && i < values.length ? Number(values[i]) : NaN;
    if (!Number.isFinite(s)) {
      return { summary: `selected i = ${i}`, status: `selected i = ${i}` };
    }
    const f = (x: number): string => formatG(x);
    return {
      summary: `selected i = ${i}, σ = ${f(s)}`,
      status: `selected i = ${i} (σ = ${f(s)}, λ = ${f(s * s)})`
    };
  }
  return {
    summary: `selected ${indices.length} directions`,
    status: `selected ${indices.length} indices, i = ${indices[0]} … ${indices[indices.length - 1]}`
  };
}

/**
 * A gallery state with its cards' dataset examples put back from the page's table, where a
 * card carries only their ids (`page_card`: each input travels once, however many cards show
 * it); a card whose examples are all there, or one naming an input the table lacks, as it is.
 */
export function withExamples(state: State, table: { [id: string]: unknown } | null): State {
  const items = state.items;
  if (!table || !Array.isArray(items)) {
    return state;
  }
  return {
    ...state,
    items: items.map((item: any) => {
      const ids: unknown[] = Array.isArray(item?.example_ids) ? item.example_ids : [];
      if ((item.examples && item.examples.length) || !ids.every(id => String(id) in table)) {
        return item;
      }
      return { ...item, examples: ids.map(id => table[String(id)]) };
    })
  };
}

/** Python's `format(x, '.4g')`. */
export function formatG(x: number): string {
  if (x === 0) {
    return '0';
  }
  const exp = Math.floor(Math.log10(Math.abs(x)));
  if (exp < -4 || exp >= 4) {
    const [m, e] = x.toExponential(3).split('e');
    const n = Number(e);
    return `${String(Number(m))}e${n < 0 ? '-' : '+'}${String(Math.abs(n)).padStart(2, '0')}`;
  }
  return String(Number(x.toPrecision(4)));
}

/** The indices whose rank `i + 1` lies in `[x0, x1]` (Python's `brush_to_indices`). */
export function brushToIndices(x0: number, x1: number, n: number): number[] {
  const lo = Math.min(x0, x1);
  const hi = Math.max(x0, x1);
  const first = Math.max(Math.ceil(lo) - 1, 0);
  const last = Math.min(Math.floor(hi) - 1, n - 1);
  const out: number[] = [];
  for (let i = first; i <= last; i++) {
    out.push(i);
  }
  return out;
}

/** The label a Dropdown shows (ipywidgets 8 syncs its `index` into `_options_labels`). */
function pickedLayer(picker: WidgetModel): string {
  const labels = picker.get('_options_labels') || [];
  const i = picker.get('index');
  return i === null || i === undefined ? '' : String(labels[i]);
}

/** Selected indices drawn one by one up to this many (the spectrum view's MAX_HIGHLIGHT). */
const MAX_HIGHLIGHT = 2000;

/** Set a bqplot mark's x and y (float64), through its own deserializers. */
function setArrays(mark: WidgetModel, x: number[], y: number[]): void {
  const wire = (a: number[]) => {
    const data = Float64Array.from(a);
    return { value: new DataView(data.buffer), dtype: 'float64', shape: [data.length] };
  };
  void (mark.constructor as any)
    ._deserialize_state({ x: wire(x), y: wire(y) }, mark.widget_manager)
    .then((state: State) => mark.set(state));
}

/**
 * Each `λ` on the ESD's staircase outline (`x` = edges repeated, `y` = densities repeated):
 * the `λ` inside the histogram's range and the density of its bin (NaN for an empty bin).
 */
export function onHistogram(
  lam: number[],
  x: ArrayLike<number>,
  y: ArrayLike<number>
): { lam: number[]; density: number[] } {
  const bins = Math.floor(x.length / 2);
  const out = { lam: [] as number[], density: [] as number[] };
  if (bins < 1) {
    return out;
  }
  const edge = (k: number): number => Number(k === 0 ? x[0] : x[2 * k - 1]);
  for (const v of lam) {
    if (v < edge(0)) {
      continue; // left of the first log-spaced bin (the kernel leaves these out too)
    }
    let lo = 0;
    let hi = bins; // the last k with edge(k) <= v, clipped to the bins
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (edge(mid) <= v) {
        lo = mid;
      } else {
        hi = mid - 1;
      }
    }
    out.lam.push(v);
    out.density.push(Number(y[2 * Math.min(lo, bins - 1)]));
  }
  return out;
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export class PageControllerModel extends DOMWidgetModel {
  private declare _layer: string;
  private declare _updating: boolean;
  private declare _cache: Map<string, Promise<State[]>>;
  private declare _sorted: Map<number, ArrayLike<number>>;
  /** Resolves when the last layer switch has been applied (for tests and timing). */
  declare applied: Promise<void>;

  defaults(): any {
    return {
      ...super.defaults(),
      _model_name: PageControllerModel.model_name,
      _model_module: PageControllerModel.model_module,
      _model_module_version: PageControllerModel.model_module_version,
      _view_name: PageControllerModel.view_name,
      _view_module: PageControllerModel.view_module,
      _view_module_version: PageControllerModel.view_module_version,
      picker: null,
      selection: null,
      layers: [],
      targets: [],
      snapshots: [],
      values: [],
      summary: null,
      examples: {},
      summary_base: [],
      status: null,
      status_head: [],
      status_tail: [],
      mode_buttons: null,
      brush_index: -1,
      figure: null,
      brush: null,
      method_boxes: {},
      overlays: {},
      curves: {},
      legend: null,
      legend_base: [],
      legend_keys: {},
      clear_button: null,
      hidden: [],
      link: null,
      sel_points: null,
      sel_esd: null,
      hist: null
    };
  }

  initialize(attributes: any, options: any): void {
    super.initialize(attributes, options);
    this._cache = new Map();
    this._sorted = new Map();
    this._updating = false;
    this.applied = Promise.resolve();
    const picker = this.ref('picker');
    this._layer = picker ? pickedLayer(picker) : '';
    if (picker) {
      this.listenTo(picker, 'change:index', () => this.showLayer(pickedLayer(picker)));
    }
    const selection = this.ref('selection');
    if (selection) {
      this.listenTo(selection, 'change:layer change:indices', this._onSelection);
    }
    const mode = this.ref('mode_buttons');
    if (mode) {
      this.listenTo(mode, 'change:index', this._onMode);
    }
    const brush = this.ref('brush');
    if (brush) {
      this.listenTo(brush, 'change:brushing', this._onBrush);
    }
    const boxes = this.get('method_boxes') || {};
    for (const box of Object.values(boxes)) {
      if (isModel(box)) {
        this.listenTo(box, 'change:value', () => this._drawOverlays());
      }
    }
    const clear = this.ref('clear_button');
    if (clear) {
      // the page has no kernel to send the click to: the click is ours
      (clear as any).send = (content: any): void => {
        if (content && content.event === 'click' && selection) {
          select(selection, String(selection.get('layer') || this._layer), []);
        }
      };
    }
    for (const w of this.get('hidden') || []) {
      const layout = isModel(w) ? w.get('layout') : null;
      if (isModel(layout)) {
        layout.set('display', 'none');
      }
    }
    this._drawOverlays();
    this._describe();
  }

  /** The layer every view shows. */
  get layer(): string {
    return this._layer;
  }

  /** Show `layer` in every view, as the kernel would (the picker follows). */
  showLayer(layer: string): Promise<void> {
    const l = (this.get('layers') as string[]).indexOf(layer);
    if (l < 0 || layer === this._layer) {
      return this.applied;
    }
    this._layer = layer;
    const picker = this.ref('picker');
    if (picker && pickedLayer(picker) !== layer) {
      picker.set('index', (picker.get('_options_labels') || []).indexOf(layer));
    }
    const selection = this.ref('selection');
    if (selection && selection.get('layer') !== layer) {
      select(selection, layer, []);
    }
    const brush = this.ref('brush');
    if (brush) {
      brush.set('selected', null);
    }
    this._drawOverlays();
    this._describe();
    this.applied = this._states(l).then(states => {
      if (this._layer !== layer) {
        return; // a later switch won
      }
      const targets = this.get('targets') as WidgetModel[];
      this._updating = true;
      try {
        states.forEach((state, t) => targets[t] && targets[t].set(state));
      } finally {
        this._updating = false;
      }
      // the spectrum's link re-marks the points of a selection kept across the switch
      for (const t of targets) {
        if (t.get('_model_name') === 'SpectrumLinkModel') {
          (t as any).highlight?.();
        }
      }
      this._drawOverlays();
      this._describe();
    });
    return this.applied;
  }

  private ref(name: string): WidgetModel | null {
    const v = this.get(name);
    return isModel(v) ? v : null;
  }

  /** Layer `l`'s target states, deserialized once. */
  private _states(l: number): Promise<State[]> {
    const key = String(l);
    let found = this._cache.get(key);
    if (!found) {
      const targets = this.get('targets') as WidgetModel[];
      const snaps = (this.get('snapshots') as State[][])[l];
      const examples = this.get('examples') || null;
      found = Promise.all(
        snaps.map((s, t) =>
          ((targets[t].constructor as any)._deserialize_state(
            { ...s },
            targets[t].widget_manager
          ) as Promise<State>).then(state =>
            targets[t].get('_model_name') === 'VectorGalleryModel'
              ? withExamples(state, examples)
              : state
          )
        )
      );
      this._cache.set(key, found);
    }
    return found;
  }

  private _index(): number {
    return (this.get('layers') as string[]).indexOf(this._layer);
  }

  private _onSelection(): void {
    const selection = this.ref('selection');
    if (!selection) {
      return;
    }
    const layer = String(selection.get('layer') || '');
    if (layer && layer !== this._layer && this.get('layers').includes(layer)) {
      void this.showLayer(layer); // a direction of another layer: every view follows
    }
    this._describe();
  }

  private _onMode(): void {
    const mode = this.ref('mode_buttons');
    const figure = this.ref('figure');
    if (!mode || !figure) {
      return;
    }
    const brushing = mode.get('index') === this.get('brush_index');
    figure.set('interaction', brushing ? this.ref('brush') : null);
  }

  private _onBrush(): void {
    const brush = this.ref('brush');
    const selection = this.ref('selection');
    if (!brush || !selection || brush.get('brushing')) {
      return;
    }
    const range = brush.get('selected');
    if (!range || range.length !== 2) {
      return;
    }
    const values = this._values(this._index());
    const n = values ? values.length : Number.MAX_SAFE_INTEGER;
    select(selection, this._layer, brushToIndices(Number(range[0]), Number(range[1]), n));
  }

  private _values(l: number): ArrayLike<number> | null {
    const v = (this.get('values') as any[])[l];
    if (v && typeof v.from_target === 'number') {
      // the layer's frequency map carries every value: order them once, as the map does (the
      // kernel checked that this gives its values exactly)
      let sorted = this._sorted.get(l);
      if (!sorted) {
        const snaps = (this.get('snapshots') as State[][])[l];
        const sent = snaps?.[v.from_target]?.[v.key as string];
        const fv = sent ? frequencyValuesFromJSON(sent as any) : null;
        if (!fv) {
          return null;
        }
        sorted = new FrequencyOrder(fv, Number(v.n)).values;
        this._sorted.set(l, sorted);
      }
      return sorted;
    }
    const a = v ? arrayFromJSON(v) : null;
    return a ? a.data : null;
  }

  private _drawOverlays(): void {
    const l = this._index();
    if (l < 0) {
      return;
    }
    const boxes = this.get('method_boxes') || {};
    const overlays = this.get('overlays') || {};
    const curves = this.get('curves') || {};
    const keys = this.get('legend_keys') || {};
    let legend = (this.get('legend_base') as string[])[l] || '';
    const shown: string[] = [];
    for (const [m, line] of Object.entries(overlays)) {
      const box = boxes[m];
      const curve = (curves[m] || [])[l];
      const on = isModel(box) && !!box.get('value') && !!curve;
      if (!isModel(line)) {
        continue;
      }
      if (on) {
        void (line.constructor as any)
          ._deserialize_state({ ...curve }, line.widget_manager)
          .then((state: State) => line.set(state));
        shown.push((keys[m] || [])[l] || '');
      } else {
        line.set('visible', false);
      }
    }
    const legendModel = this.ref('legend');
    if (legendModel && shown.length) {
      // the overlays' keys go after the main curve's (the first line of the legend)
      const parts = legend.split('<br>');
      legend = [parts[0], ...shown.filter(k => k), ...parts.slice(1)].join('<br>');
    }
    if (legendModel) {
      legendModel.set('value', legend);
    }
  }

  private _describe(): void {
    const l = this._index();
    const selection = this.ref('selection');
    if (l < 0) {
      return;
    }
    const picked =
      selection && selection.get('layer') === this._layer
        ? normalizeIndices(selection.get('indices') || [])
        : [];
    const values = this._values(l);
    this._markSelection(picked, values);
    const text = describeSelection(picked, values);
    const summary = this.ref('summary');
    if (summary) {
      const base = (this.get('summary_base') as string[])[l] || '';
      summary.set('value', text.summary ? `${base} · ${escapeHtml(text.summary)}` : base);
    }
    const status = this.ref('status');
    if (status) {
      const head = (this.get('status_head') as string[])[l] || '';
      const tail = (this.get('status_tail') as string[])[l] || '';
      status.set('value', head + escapeHtml(text.status) + tail);
    }
  }

  /** The large outlined markers of the selection on the sorted plot and on the ESD. */
  private _markSelection(picked: number[], values: ArrayLike<number> | null): void {
    const points = this.ref('sel_points');
    const onEsd = this.ref('sel_esd');
    if (!values || (!points && !onEsd)) {
      return;
    }
    let chosen = picked.filter(i => i < values.length && values[i] > 0);
    if (chosen.length > MAX_HIGHLIGHT) {
      // as the kernel does: only those on the drawn curve
      const link = this.ref('link') as any;
      const sent = new Set<number>(link ? Array.from(link.pointIndices as ArrayLike<number>) : []);
      chosen = chosen.filter(i => sent.has(i));
    }
    const sigma = chosen.map(i => Number(values[i]));
    if (points) {
      setArrays(points, chosen.map(i => i + 1), sigma);
    }
    const hist = this.ref('hist');
    if (onEsd && hist) {
      const { lam, density } = onHistogram(
        sigma.map(s => s * s),
        hist.get('x') as ArrayLike<number>,
        hist.get('y') as ArrayLike<number>
      );
      setArrays(onEsd, lam, density);
    }
  }

  static serializers: ISerializers = {
    ...DOMWidgetModel.serializers,
    picker: { deserialize: unpack_models },
    selection: { deserialize: unpack_models },
    targets: { deserialize: unpack_models },
    summary: { deserialize: unpack_models },
    status: { deserialize: unpack_models },
    mode_buttons: { deserialize: unpack_models },
    figure: { deserialize: unpack_models },
    brush: { deserialize: unpack_models },
    method_boxes: { deserialize: unpack_models },
    overlays: { deserialize: unpack_models },
    legend: { deserialize: unpack_models },
    clear_button: { deserialize: unpack_models },
    hidden: { deserialize: unpack_models },
    link: { deserialize: unpack_models },
    sel_points: { deserialize: unpack_models },
    sel_esd: { deserialize: unpack_models },
    hist: { deserialize: unpack_models }
  };

  static model_name = 'PageControllerModel';
  static model_module = MODULE_NAME;
  static model_module_version = MODULE_VERSION;
  static view_name = 'PageControllerView';
  static view_module = MODULE_NAME;
  static view_module_version = MODULE_VERSION;
}

/** Nothing to draw: the controller works through the other views. */
export class PageControllerView extends DOMWidgetView {
  render(): void {
    this.el.classList.add('svdw-page-controller');
    this.el.dataset.ready = 'true';
  }
}
