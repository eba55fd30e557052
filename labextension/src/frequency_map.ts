/**
 * FrequencyMap: a heat map of one singular value per frequency of a circular convolution.
 *
 * The counterpart of `svdwidgets/widgets/frequency_map.py`. Frequencies are drawn centred
 * (fftshift: (0, 0) in the middle, signed frequencies on the axes, f_h down, f_w across); the
 * synced `selected_frequency` uses the DFT indices `0 <= f < N` of `FFTSpectrum.frequency_of`.
 */
import {
  DOMWidgetModel,
  DOMWidgetView,
  ISerializers,
  WidgetModel
} from '@jupyter-widgets/base';

import { viridis, viridisStops } from './colormap';
import { IColorScale, colorScale, formatSigned, formatValue } from './scale';
import { followSelection, select, selectedIn, selectionSerializers } from './selection';
import { FrequencyOrder, frequencyOrder, frequencyValuesSerializer } from './frequency_order';
import { NDArray } from './serializers';
import { MODULE_NAME, MODULE_VERSION } from './version';

const SVG_NS = 'http://www.w3.org/2000/svg';

/** The synced traits, in the order of the Python class. */
export interface IFrequencyMapState {
  /** Title: the layer's name. */
  layer_name: string;
  /**
   * float32 (float64 for a float64 spectrum), shape (N_h, N_w, r): each frequency's singular
   * values, descending (the kernel sends the half plane; the serializer restores the rest).
   */
  frequency_values: NDArray | null;
  /** Which of the r values to show: 0 is the largest (σ_max). */
  rank: number;
  /** Logarithmic colour scale. */
  log_scale: boolean;
  /** DFT indices (f_h, f_w) of the selected frequency, or null. */
  selected_frequency: [number, number] | null;
  /** A selection shared with linked views, or null. */
  selection: WidgetModel | null;
  /** How many of the layer's values are named by index (`frequency_order.ts`); 0: none. */
  n_values: number;
}

export class FrequencyMapModel extends DOMWidgetModel {
  defaults(): any {
    const state: IFrequencyMapState = {
      layer_name: '',
      frequency_values: null,
      rank: 0,
      log_scale: false,
      selected_frequency: null,
      selection: null,
      n_values: 0
    };
    return {
      ...super.defaults(),
      _model_name: FrequencyMapModel.model_name,
      _model_module: FrequencyMapModel.model_module,
      _model_module_version: FrequencyMapModel.model_module_version,
      _view_name: FrequencyMapModel.view_name,
      _view_module: FrequencyMapModel.view_module,
      _view_module_version: FrequencyMapModel.view_module_version,
      ...state
    };
  }

  static serializers: ISerializers = {
    ...DOMWidgetModel.serializers,
    frequency_values: frequencyValuesSerializer,
    ...selectionSerializers
  };

  static model_name = 'FrequencyMapModel';
  static model_module = MODULE_NAME;
  static model_module_version = MODULE_VERSION;
  static view_name = 'FrequencyMapView';
  static view_module = MODULE_NAME;
  static view_module_version = MODULE_VERSION;
}

/** Display position of DFT index `k` on an axis of `n` frequencies (fftshift). */
export function shiftedPosition(k: number, n: number): number {
  return (k + Math.floor(n / 2)) % n;
}

/** Signed frequency of DFT index `k` as drawn (in [-floor(n/2), n - 1 - floor(n/2)]). */
export function signedFrequency(k: number, n: number): number {
  return shiftedPosition(k, n) - Math.floor(n / 2);
}

/** Conjugate frequency of (f_h, f_w): (-f_h mod N_h, -f_w mod N_w); same singular values. */
export function conjugate(f: [number, number], grid: [number, number]): [number, number] {
  return [(grid[0] - f[0]) % grid[0], (grid[1] - f[1]) % grid[1]];
}

interface ILayout {
  cell: number;
  left: number;
  top: number;
  width: number;
  height: number;
  barX: number;
}

const MARGIN = { left: 46, right: 90, top: 22, bottom: 42 };
const MAX_PLOT = 560;
const MIN_PLOT = 112;
const FALLBACK_WIDTH = 480;

export class FrequencyMapView extends DOMWidgetView {
  private _title!: HTMLDivElement;
  private _logInput!: HTMLInputElement;
  private _status!: HTMLDivElement;
  private _svg!: SVGSVGElement;
  private _selection!: SVGGElement;
  private _tooltip!: HTMLDivElement;
  private _layout: ILayout | null = null;
  private _resizeObserver: ResizeObserver | null = null;
  private _lastWidth = -1;
  private _frame = 0;
  private _shared: WidgetModel | null = null;

  render(): void {
    this.el.classList.add('svdw-frequency-map');
    const header = document.createElement('div');
    header.className = 'svdw-fm-header';
    this._title = document.createElement('div');
    this._title.className = 'svdw-fm-title';
    const toggle = document.createElement('label');
    toggle.className = 'svdw-fm-log';
    this._logInput = document.createElement('input');
    this._logInput.type = 'checkbox';
    this._logInput.addEventListener('change', this._onLogToggle);
    toggle.append(this._logInput, document.createTextNode(' log colour scale'));
    header.append(this._title, toggle);
    this._status = document.createElement('div');
    this._status.className = 'svdw-fm-status';
    this._svg = document.createElementNS(SVG_NS, 'svg');
    this._svg.setAttribute('class', 'svdw-fm-svg');
    this._svg.addEventListener('click', this._onClick);
    this._svg.addEventListener('mousemove', this._onHover);
    this._svg.addEventListener('mouseleave', this._hideTooltip);
    this._tooltip = document.createElement('div');
    this._tooltip.className = 'svdw-fm-tooltip';
    this._tooltip.style.display = 'none';
    this.el.append(header, this._status, this._svg, this._tooltip);

    this.listenTo(this.model, 'change:layer_name', this._updateHeader);
    this.listenTo(this.model, 'change:log_scale', () => {
      this._updateHeader();
      this.draw();
    });
    this.listenTo(this.model, 'change:frequency_values change:rank', this.draw);
    this.listenTo(
      this.model,
      'change:selected_frequency change:frequency_values change:n_values',
      this._updateSelection
    );
    this.listenTo(this.model, 'change:selection', this._bindShared);
    this._bindShared();

    if (typeof ResizeObserver !== 'undefined') {
      this._resizeObserver = new ResizeObserver(() => this._scheduleResize());
      this._resizeObserver.observe(this.el);
    }
    this._updateHeader();
    this.draw();
    // The first draw happens before the view is attached (no width yet): draw again once shown.
    this.displayed.then(() => this._scheduleResize());
  }

  remove(): any {
    this._resizeObserver?.disconnect();
    cancelAnimationFrame(this._frame);
    this._svg?.removeEventListener('click', this._onClick);
    this._svg?.removeEventListener('mousemove', this._onHover);
    this._svg?.removeEventListener('mouseleave', this._hideTooltip);
    this._logInput?.removeEventListener('change', this._onLogToggle);
    return super.remove();
  }

  /** (N_h, N_w, r) of the synced values, or null before any arrive. */
  get grid(): [number, number, number] | null {
    const fv: NDArray | null = this.model.get('frequency_values');
    // an empty map (no spectrum yet, e.g. a dashboard on a layer without one) draws nothing
    return fv && fv.shape.length === 3 && fv.shape.every(n => n > 0)
      ? [fv.shape[0], fv.shape[1], fv.shape[2]]
      : null;
  }

  /** The shown value of DFT frequency (fh, fw) at the current rank. */
  valueAt(fh: number, fw: number): number {
    const fv: NDArray = this.model.get('frequency_values');
    const [, nw, r] = fv.shape;
    return fv.data[(fh * nw + fw) * r + this._rank(r)];
  }

  /** Redraw cells, axes and colour bar (data, rank, scale or width changed). */
  draw(): void {
    const svg = this._svg;
    while (svg.firstChild) {
      svg.removeChild(svg.firstChild);
    }
    const grid = this.grid;
    if (grid === null) {
      this._layout = null;
      svg.setAttribute('width', '0');
      svg.setAttribute('height', '0');
      this._updateStatus();
      return;
    }
    const [nh, nw, r] = grid;
    const rank = this._rank(r);
    const fv: NDArray = this.model.get('frequency_values');
    const shown = new Float64Array(nh * nw);
    for (let i = 0; i < nh * nw; i++) {
      shown[i] = fv.data[i * r + rank];
    }
    const scale = colorScale(shown, !!this.model.get('log_scale'));
    const layout = this._computeLayout(nh, nw);
    this._layout = layout;
    const { cell, left, top, width, height } = layout;
    svg.setAttribute('width', String(width));
    svg.setAttribute('height', String(height));
    svg.setAttribute('viewBox', `0 0 ${width} ${height}`);

    const cells = el('g', { class: 'svdw-fm-cells' });
    for (let fh = 0; fh < nh; fh++) {
      const y = top + shiftedPosition(fh, nh) * cell;
      for (let fw = 0; fw < nw; fw++) {
        const x = left + shiftedPosition(fw, nw) * cell;
        cells.appendChild(
          el('rect', {
            class: 'svdw-fm-cell',
            x: fmt(x),
            y: fmt(y),
            width: fmt(cell),
            height: fmt(cell),
            fill: viridis(scale.normalize(shown[fh * nw + fw])),
            'data-fh': String(fh),
            'data-fw': String(fw)
          })
        );
      }
    }
    svg.appendChild(cells);
    svg.appendChild(
      el('rect', {
        class: 'svdw-fm-frame',
        x: fmt(left),
        y: fmt(top),
        width: fmt(cell * nw),
        height: fmt(cell * nh)
      })
    );
    this._drawAxes(nh, nw, layout);
    this._drawColorBar(scale, rank, layout);
    this._selection = el('g', { class: 'svdw-fm-selection-layer' }) as SVGGElement;
    svg.appendChild(this._selection);
    this._updateSelection();
  }

  private _rank(r: number): number {
    const rank = Number(this.model.get('rank')) || 0;
    return Math.min(Math.max(rank, 0), Math.max(r - 1, 0));
  }

  private _computeLayout(nh: number, nw: number): ILayout {
    const available = this.el.clientWidth || FALLBACK_WIDTH;
    const side = Math.min(
      MAX_PLOT,
      Math.max(MIN_PLOT, available - MARGIN.left - MARGIN.right - 2)
    );
    const cell = side / Math.max(nh, nw);
    const left = MARGIN.left;
    const top = MARGIN.top;
    const barX = left + cell * nw + 16;
    return {
      cell,
      left,
      top,
      width: Math.ceil(left + cell * nw + MARGIN.right),
      height: Math.ceil(top + cell * nh + MARGIN.bottom),
      barX
    };
  }

  private _drawAxes(nh: number, nw: number, layout: ILayout): void {
    const { cell, left, top } = layout;
    const g = el('g', { class: 'svdw-fm-axes' });
    const bottom = top + cell * nh;
    // x: f_w across, one tick per `step` frequencies, always including 0.
    const stepW = tickStep(cell, 24);
    for (let s = -Math.floor(nw / 2); s <= nw - 1 - Math.floor(nw / 2); s++) {
      if (s % stepW !== 0) {
        continue;
      }
      const x = left + (s + Math.floor(nw / 2) + 0.5) * cell;
      g.appendChild(el('line', { class: 'svdw-fm-tick', x1: fmt(x), x2: fmt(x), y1: fmt(bottom), y2: fmt(bottom + 4) }));
      g.appendChild(text(formatSigned(s), x, bottom + 15, 'middle', 'svdw-fm-ticklabel'));
    }
    g.appendChild(axisLabel('f', 'w', left + (cell * nw) / 2, bottom + 34, 'middle'));
    // y: f_h down.
    const stepH = tickStep(cell, 16);
    for (let s = -Math.floor(nh / 2); s <= nh - 1 - Math.floor(nh / 2); s++) {
      if (s % stepH !== 0) {
        continue;
      }
      const y = top + (s + Math.floor(nh / 2) + 0.5) * cell;
      g.appendChild(el('line', { class: 'svdw-fm-tick', x1: fmt(left - 4), x2: fmt(left), y1: fmt(y), y2: fmt(y) }));
      g.appendChild(text(formatSigned(s), left - 7, y + 4, 'end', 'svdw-fm-ticklabel'));
    }
    const yl = axisLabel('f', 'h', 12, top + (cell * nh) / 2, 'middle');
    yl.setAttribute('transform', `rotate(-90 12 ${fmt(top + (cell * nh) / 2)})`);
    g.appendChild(yl);
    this._svg.appendChild(g);
  }

  private _drawColorBar(scale: IColorScale, rank: number, layout: ILayout): void {
    const { barX, top, cell } = layout;
    const nh = this.grid![0];
    const h = cell * nh;
    const w = 14;
    const id = `svdw-fm-gradient-${this.cid}`;
    const defs = el('defs', {});
    const grad = el('linearGradient', { id, x1: '0', y1: '1', x2: '0', y2: '0' });
    for (const [offset, colour] of viridisStops()) {
      grad.appendChild(el('stop', { offset: fmt(offset), 'stop-color': colour }));
    }
    defs.appendChild(grad);
    const g = el('g', { class: 'svdw-fm-colorbar' });
    g.appendChild(defs);
    g.appendChild(
      el('rect', { class: 'svdw-fm-colorbar-fill', x: fmt(barX), y: fmt(top), width: String(w), height: fmt(h), fill: `url(#${id})` })
    );
    const maxTicks = Math.min(8, Math.max(2, Math.floor(h / 40)));
    for (const v of scale.ticks(maxTicks)) {
      const y = top + h * (1 - scale.normalize(v));
      if (y < top - 0.5 || y > top + h + 0.5) {
        continue;
      }
      g.appendChild(el('line', { class: 'svdw-fm-tick', x1: fmt(barX + w), x2: fmt(barX + w + 4), y1: fmt(y), y2: fmt(y) }));
      g.appendChild(text(formatValue(v), barX + w + 7, y + 4, 'start', 'svdw-fm-ticklabel'));
    }
    const label = axisLabel('σ', rank === 0 ? 'max' : String(rank + 1), barX, top - 8, 'start');
    if (scale.log) {
      const t = document.createElementNS(SVG_NS, 'tspan');
      t.setAttribute('dy', '-4');
      t.textContent = ' (log)';
      label.appendChild(t);
    }
    g.appendChild(label);
    this._svg.appendChild(g);
  }

  /** Outline the selected frequency (solid) and its conjugate (dashed). */
  private _updateSelection(): void {
    this._updateStatus();
    const layer = this._selection;
    const grid = this.grid;
    if (!layer || !grid || !this._layout) {
      return;
    }
    while (layer.firstChild) {
      layer.removeChild(layer.firstChild);
    }
    const sel = this._selected(grid);
    if (sel === null) {
      return;
    }
    const conj = conjugate(sel, [grid[0], grid[1]]);
    const marks: Array<[[number, number], string]> = [[sel, 'svdw-fm-selected']];
    if (conj[0] !== sel[0] || conj[1] !== sel[1]) {
      marks.push([conj, 'svdw-fm-selected svdw-fm-conjugate']);
    }
    const { cell, left, top } = this._layout;
    for (const [[fh, fw], cls] of marks) {
      const attrs = {
        x: fmt(left + shiftedPosition(fw, grid[1]) * cell + 1),
        y: fmt(top + shiftedPosition(fh, grid[0]) * cell + 1),
        width: fmt(Math.max(cell - 2, 1)),
        height: fmt(Math.max(cell - 2, 1)),
        'data-fh': String(fh),
        'data-fw': String(fw)
      };
      layer.appendChild(el('rect', { ...attrs, class: 'svdw-fm-halo' }));
      layer.appendChild(el('rect', { ...attrs, class: cls }));
    }
  }

  /** Follow the shared selection (if any): its changes redraw the outline. */
  private _bindShared(): void {
    this._shared = followSelection(this, this._shared, () => this._updateSelection());
    if (this._selection) {
      this._updateSelection();
    }
  }


  /** The order naming the layer's values by index, or null (no values, or none named). */
  private _order(): FrequencyOrder | null {
    const fv: NDArray | null = this.model.get('frequency_values');
    const n = Number(this.model.get('n_values')) || 0;
    return fv && this.grid && n > 0 ? frequencyOrder(fv, n) : null;
  }

  /**
   * The frequency to outline: with a shared selection, that of its first index on this layer
   * (`FrequencyOrder.frequencyOf`); without one, `selected_frequency`.
   */
  private _selected(grid: [number, number, number]): [number, number] | null {
    if (this._shared) {
      const picked = selectedIn(this._shared, this.model.get('layer_name'));
      const order = picked.length ? this._order() : null;
      return order ? order.frequencyOf(picked[0]) : null;
    }
    const sel = this.model.get('selected_frequency');
    if (!Array.isArray(sel) || sel.length !== 2) {
      return null;
    }
    const [fh, fw] = sel.map(Number);
    if (!(fh >= 0 && fh < grid[0] && fw >= 0 && fw < grid[1])) {
      return null;
    }
    return [fh, fw];
  }

  private _updateHeader(): void {
    this._title.textContent = this.model.get('layer_name') || '';
    this._logInput.checked = !!this.model.get('log_scale');
  }

  private _updateStatus(): void {
    const grid = this.grid;
    if (grid === null) {
      this._status.textContent = 'no spectrum';
      return;
    }
    const [nh, nw, r] = grid;
    const rank = this._rank(r);
    const what = rank === 0 ? 'σ_max' : `σ_${rank + 1}`;
    const sel = this._selected(grid);
    if (sel === null) {
      this._status.textContent = `${what} by frequency, ${nh}×${nw} grid · click a cell to select a frequency`;
      return;
    }
    const conj = conjugate(sel, [nh, nw]);
    const pair = (f: [number, number]) =>
      `(${formatSigned(signedFrequency(f[0], nh))}, ${formatSigned(signedFrequency(f[1], nw))})`;
    const same = conj[0] === sel[0] && conj[1] === sel[1];
    this._status.textContent =
      `selected (f_h, f_w) = ${pair(sel)}` +
      (same ? ' (self-conjugate)' : ` and its conjugate ${pair(conj)}`) +
      ` · ${what} = ${formatValue(this.valueAt(sel[0], sel[1]))}`;
  }

  private _scheduleResize(): void {
    cancelAnimationFrame(this._frame);
    this._frame = requestAnimationFrame(() => {
      const w = this.el.clientWidth;
      if (w > 0 && w !== this._lastWidth) {
        this._lastWidth = w;
        this.draw();
      }
    });
  }

  private _cellAt(ev: Event): [number, number] | null {
    const target = ev.target as Element | null;
    const rect = target?.closest?.('rect.svdw-fm-cell');
    if (!rect) {
      return null;
    }
    return [Number(rect.getAttribute('data-fh')), Number(rect.getAttribute('data-fw'))];
  }

  private _onClick = (ev: MouseEvent): void => {
    const f = this._cellAt(ev);
    if (f === null) {
      return;
    }
    const cur = this.model.get('selected_frequency');
    const same = Array.isArray(cur) && cur[0] === f[0] && cur[1] === f[1];
    this.model.set('selected_frequency', same ? null : f);
    this.model.save_changes();
    if (this._shared) {
      const order = same ? null : this._order();
      const grid = this.grid;
      const picked =
        order && grid ? order.rankIndices(f[0], f[1], this._rank(grid[2])).filter(i => i >= 0) : [];
      select(this._shared, this.model.get('layer_name'), picked);
    }
  };

  private _onLogToggle = (): void => {
    this.model.set('log_scale', this._logInput.checked);
    this.model.save_changes();
  };

  private _onHover = (ev: MouseEvent): void => {
    const f = this._cellAt(ev);
    const grid = this.grid;
    if (f === null || grid === null) {
      this._hideTooltip();
      return;
    }
    const [nh, nw, r] = grid;
    const rank = this._rank(r);
    const what = rank === 0 ? 'σ_max' : `σ_${rank + 1}`;
    const tip = this._tooltip;
    tip.textContent =
      `(f_h, f_w) = (${formatSigned(signedFrequency(f[0], nh))}, ` +
      `${formatSigned(signedFrequency(f[1], nw))})\n` +
      `${what} = ${this.valueAt(f[0], f[1]).toPrecision(4)}`;
    tip.style.display = 'block';
    const box = this.el.getBoundingClientRect();
    let x = ev.clientX - box.left + 14;
    const y = ev.clientY - box.top + 14;
    if (x + tip.offsetWidth > this.el.clientWidth) {
      x = ev.clientX - box.left - tip.offsetWidth - 10;
    }
    tip.style.left = `${Math.max(x, 0)}px`;
    tip.style.top = `${y}px`;
  };

  private _hideTooltip = (): void => {
    this._tooltip.style.display = 'none';
  };
}

/** Every how many frequencies to put a tick so that labels are at least `minPx` apart. */
function tickStep(cell: number, minPx: number): number {
  for (const s of [1, 2, 5, 10, 20, 50, 100, 200, 500]) {
    if (s * cell >= minPx) {
      return s;
    }
  }
  return 1000;
}

function fmt(v: number): string {
  return String(Math.round(v * 100) / 100);
}

function el(tag: string, attrs: Record<string, string>): SVGElement {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) {
    e.setAttribute(k, v);
  }
  return e;
}

function text(content: string, x: number, y: number, anchor: string, cls: string): SVGElement {
  const t = el('text', { class: cls, x: fmt(x), y: fmt(y), 'text-anchor': anchor });
  t.textContent = content;
  return t;
}

/** `base` with a subscript, e.g. f_h or σ_max. */
function axisLabel(base: string, sub: string, x: number, y: number, anchor: string): SVGElement {
  const t = el('text', { class: 'svdw-fm-axislabel', x: fmt(x), y: fmt(y), 'text-anchor': anchor });
  t.appendChild(document.createTextNode(base));
  const s = document.createElementNS(SVG_NS, 'tspan');
  s.setAttribute('class', 'svdw-fm-sub');
  s.setAttribute('dy', '4');
  s.textContent = sub;
  t.appendChild(s);
  return t;
}
