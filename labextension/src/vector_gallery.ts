/**
 * VectorGallery: singular vectors as feature-visualization images, beside dataset examples.
 *
 * The counterpart of `svdwidgets/widgets/vector_gallery.py`. One card per direction: the
 * rendered image (PNG bytes from the kernel), σ, the objective before and after, and the
 * dataset inputs that score highest on it. Clicking a card selects its direction in the shared
 * selection; a selection made elsewhere highlights the card of the direction (or of its
 * conjugate twin, listed in `aliases`) and scrolls it into view. Every caption is set as text,
 * never parsed as HTML.
 *
 * A card the kernel finishes arrives alone, as a `card` message (`ICardMessage`): the model
 * replaces that item and the views redraw that card only; `items` as a whole changes only
 * when the set of cards does (a new layer, an added card, a cancel).
 */
import {
  DOMWidgetModel,
  DOMWidgetView,
  ISerializers,
  WidgetModel,
  put_buffers
} from '@jupyter-widgets/base';

import { followSelection, select, selectedIn, selectionSerializers } from './selection';
import { MODULE_NAME, MODULE_VERSION } from './version';

/** One card, as the kernel sends it. */
export interface IGalleryItem {
  layer: string;
  index: number;
  aliases: number[];
  sigma: number;
  label: string;
  image: DataView | ArrayBuffer | null;
  before: number | null;
  after: number | null;
  state: 'pending' | 'rendering' | 'done' | 'cancelled' | 'error';
  examples: Array<DataView | ArrayBuffer>;
  example_ids: number[];
  example_labels: string[];
  example_scores: number[];
  message: string;
}

/** One updated card (`_CardMessage` in Python): its PNGs travel as binary buffers. */
export interface ICardMessage {
  event: 'card';
  position: number;
  card: IGalleryItem;
  buffer_paths: Array<Array<string | number>>;
}

/** The synced traits, in the order of the Python class. */
export interface IVectorGalleryState {
  title: string;
  layer: string;
  items: IGalleryItem[];
  selection: WidgetModel | null;
  image_px: number;
  busy: boolean;
  progress: number;
  status: string;
  error: string;
}

/** The MIME type of image bytes by their signature: WebP or JPEG (an exported page's compact
 * cards) or PNG (what the kernel sends). */
export function imageType(bytes: Uint8Array): string {
  if (bytes.length > 2 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) {
    return 'image/jpeg';
  }
  const ascii = (from: number, to: number) => String.fromCharCode(...bytes.subarray(from, to));
  if (bytes.length >= 12 && ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') {
    return 'image/webp';
  }
  return 'image/png';
}

export class VectorGalleryModel extends DOMWidgetModel {
  defaults(): any {
    const state: IVectorGalleryState = {
      title: '',
      layer: '',
      items: [],
      selection: null,
      image_px: 112,
      busy: false,
      progress: 0,
      status: '',
      error: ''
    };
    return {
      ...super.defaults(),
      _model_name: VectorGalleryModel.model_name,
      _model_module: VectorGalleryModel.model_module,
      _model_module_version: VectorGalleryModel.model_module_version,
      _view_name: VectorGalleryModel.view_name,
      _view_module: VectorGalleryModel.view_module,
      _view_module_version: VectorGalleryModel.view_module_version,
      ...state
    };
  }

  static serializers: ISerializers = {
    ...DOMWidgetModel.serializers,
    ...selectionSerializers
  };

  initialize(attributes: any, options: any): void {
    super.initialize(attributes, options);
    this.on('msg:custom', this._onMessage, this);
  }

  /**
   * A `card` message: replace item `position` and trigger `card` (its index) for the views.
   * The item is replaced in the attributes directly: a local copy of the kernel's state that
   * is never sent back, and no `change:items` (which redraws every card).
   */
  private _onMessage(content: any, buffers?: any[]): void {
    if (!content || content.event !== 'card') {
      return;
    }
    const msg = content as ICardMessage;
    const holder = { card: msg.card };
    put_buffers(holder as any, msg.buffer_paths || [], (buffers || []) as any);
    const items = this.get('items');
    const k = Number(msg.position);
    if (!Array.isArray(items) || !(k >= 0 && k < items.length)) {
      return;
    }
    const next = items.slice();
    next[k] = holder.card;
    this.attributes.items = next;
    this.trigger('card', k);
  }

  static model_name = 'VectorGalleryModel';
  static model_module = MODULE_NAME;
  static model_module_version = MODULE_VERSION;
  static view_name = 'VectorGalleryView';
  static view_module = MODULE_NAME;
  static view_module_version = MODULE_VERSION;
}

/** Does `item` stand for singular index `i` of `layer` (itself or a conjugate twin)? */
export function cardHas(item: IGalleryItem, layer: string, i: number): boolean {
  return item.layer === layer && (item.index === i || (item.aliases || []).includes(i));
}

/** `1.23` for σ, with 4 significant digits. */
export function formatNumber(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) {
    return '–';
  }
  return Number(v.toPrecision(4)).toString();
}

const STATE_TEXT: Record<string, string> = {
  pending: 'waiting to render',
  rendering: 'rendering …',
  cancelled: 'cancelled',
  error: 'failed'
};

export class VectorGalleryView extends DOMWidgetView {
  private _title!: HTMLDivElement;
  private _status!: HTMLDivElement;
  private _bar!: HTMLDivElement;
  private _cancel!: HTMLButtonElement;
  private _error!: HTMLDivElement;
  private _cards!: HTMLDivElement;
  private _urls = new Map<number, string[]>();
  private _selection: WidgetModel | null = null;
  private _scrolledTo = '';

  render(): void {
    this.el.classList.add('svdw-gallery');
    const header = document.createElement('div');
    header.className = 'svdw-gl-header';
    this._title = document.createElement('div');
    this._title.className = 'svdw-gl-title';
    const progress = document.createElement('div');
    progress.className = 'svdw-gl-progress';
    this._bar = document.createElement('div');
    this._bar.className = 'svdw-gl-bar';
    progress.appendChild(this._bar);
    this._cancel = document.createElement('button');
    this._cancel.className = 'svdw-gl-cancel jupyter-button';
    this._cancel.textContent = 'cancel';
    this._cancel.title = 'stop rendering (the kernel keeps what is done)';
    this._cancel.addEventListener('click', this._onCancel);
    header.append(this._title, progress, this._cancel);
    this._status = document.createElement('div');
    this._status.className = 'svdw-gl-status';
    this._error = document.createElement('div');
    this._error.className = 'svdw-gl-error';
    this._cards = document.createElement('div');
    this._cards.className = 'svdw-gl-cards';
    this._cards.addEventListener('click', this._onClick);
    this.el.append(header, this._status, this._error, this._cards);

    this.listenTo(this.model, 'change:title change:layer', this._updateHeader);
    this.listenTo(this.model, 'change:busy change:progress change:status', this._updateProgress);
    this.listenTo(this.model, 'change:error', this._updateError);
    this.listenTo(this.model, 'change:items change:image_px', this.draw);
    this.listenTo(this.model, 'card', this.drawCard);
    this.listenTo(this.model, 'change:selection', this._bindSelection);
    this._bindSelection();
    this._updateHeader();
    this._updateProgress();
    this._updateError();
    this.draw();
  }

  remove(): any {
    this._cards?.removeEventListener('click', this._onClick);
    this._cancel?.removeEventListener('click', this._onCancel);
    this._revoke();
    return super.remove();
  }

  /** The cards as the kernel sent them. */
  get items(): IGalleryItem[] {
    const items = this.model.get('items');
    return Array.isArray(items) ? items : [];
  }

  /** Rebuild the cards (items or size changed). */
  draw(): void {
    this._revoke();
    const cards = this._cards;
    while (cards.firstChild) {
      cards.removeChild(cards.firstChild);
    }
    const px = Math.max(16, Number(this.model.get('image_px')) || 112);
    const items = this.items;
    if (items.length === 0) {
      const empty = document.createElement('div');
      empty.className = 'svdw-gl-empty';
      empty.textContent = 'no directions to show';
      cards.appendChild(empty);
    }
    items.forEach((item, k) => cards.appendChild(this._card(item, k, px)));
    this._updateSelection();
  }

  /** Redraw card `k` only (a `card` message replaced its item). */
  drawCard(k: number): void {
    const old = this._cards.querySelector(`.svdw-gl-card[data-card="${k}"]`);
    const item = this.items[k];
    if (!old || !item) {
      this.draw();
      return;
    }
    this._revoke(k);
    const px = Math.max(16, Number(this.model.get('image_px')) || 112);
    old.replaceWith(this._card(item, k, px));
    this._updateSelection();
  }

  private _card(item: IGalleryItem, k: number, px: number): HTMLElement {
    const card = document.createElement('div');
    card.className = `svdw-gl-card svdw-gl-${item.state}`;
    card.dataset.card = String(k);
    card.dataset.index = String(item.index);
    card.style.width = `${px + 16}px`;
    const frame = document.createElement('div');
    frame.className = 'svdw-gl-frame';
    frame.style.width = `${px}px`;
    frame.style.height = `${px}px`;
    if (item.image) {
      const img = document.createElement('img');
      img.className = 'svdw-gl-image';
      img.src = this._url(item.image, k);
      img.width = px;
      img.height = px;
      img.alt = `feature visualization of ${item.layer}:${item.index}`;
      frame.appendChild(img);
    }
    if (item.state !== 'done') {
      const note = document.createElement('div');
      note.className = 'svdw-gl-note';
      note.textContent = item.message || STATE_TEXT[item.state] || item.state;
      frame.appendChild(note);
    }
    const caption = document.createElement('div');
    caption.className = 'svdw-gl-caption';
    const head = document.createElement('div');
    head.className = 'svdw-gl-head';
    const twins = (item.aliases || []).length ? ` (= ${item.aliases.join(', ')})` : '';
    // each "name = value" stays on one line; a narrow card wraps at the " · " only
    const part = (text: string): HTMLSpanElement => {
      const span = document.createElement('span');
      span.className = 'svdw-gl-nowrap';
      span.textContent = text;
      return span;
    };
    head.append(
      part(`i = ${item.index}${twins}`),
      ' · ',
      part(`σ = ${formatNumber(item.sigma)}`)
    );
    caption.appendChild(head);
    if (item.label) {
      const label = document.createElement('div');
      label.className = 'svdw-gl-label';
      label.textContent = item.label;
      caption.appendChild(label);
    }
    if (item.after !== null && item.after !== undefined) {
      const score = document.createElement('div');
      score.className = 'svdw-gl-score';
      score.textContent = `objective ${formatNumber(item.before)} → ${formatNumber(item.after)}`;
      score.title = 'the singular-direction objective on the random start and on the result';
      caption.appendChild(score);
    }
    card.append(frame, caption);
    if (item.examples && item.examples.length) {
      const row = document.createElement('div');
      row.className = 'svdw-gl-examples';
      row.title = 'dataset inputs with the largest score on this direction';
      const thumb = Math.max(16, Math.floor((px - 4) / 3));
      item.examples.forEach((bytes, e) => {
        const img = document.createElement('img');
        img.className = 'svdw-gl-example';
        img.src = this._url(bytes, k);
        img.width = thumb;
        img.height = thumb;
        const id = item.example_ids?.[e];
        const label = item.example_labels?.[e] ?? '';
        const s = item.example_scores?.[e];
        img.alt = `input ${id} (${label})`;
        img.title = `input #${id} · ${label} · score ${formatNumber(s)}`;
        row.appendChild(img);
      });
      card.appendChild(row);
    }
    return card;
  }

  private _url(bytes: DataView | ArrayBuffer, k: number): string {
    const view =
      bytes instanceof DataView
        ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
        : new Uint8Array(bytes);
    if (typeof URL.createObjectURL !== 'function') {
      let binary = '';
      for (let k = 0; k < view.length; k++) {
        binary += String.fromCharCode(view[k]);
      }
      return `data:${imageType(view)};base64,${btoa(binary)}`;
    }
    const url = URL.createObjectURL(new Blob([view], { type: imageType(view) }));
    const urls = this._urls.get(k) ?? [];
    urls.push(url);
    this._urls.set(k, urls);
    return url;
  }

  /** Release the object URLs of card `k`, or of every card. */
  private _revoke(k?: number): void {
    const keys = k === undefined ? [...this._urls.keys()] : [k];
    for (const key of keys) {
      for (const url of this._urls.get(key) ?? []) {
        URL.revokeObjectURL(url);
      }
      this._urls.delete(key);
    }
  }

  private _bindSelection(): void {
    this._selection = followSelection(this, this._selection, () => this._updateSelection());
    this._updateSelection();
  }


  /**
   * Mark the cards of the selected directions; scroll the first one into view once per
   * selection (when it is made, or when its card arrives later), never on other redraws.
   */
  private _updateSelection(): void {
    const layer = this._selection?.get('layer') ?? '';
    const chosen = selectedIn(this._selection, layer);
    const items = this.items;
    let first: HTMLElement | null = null;
    this._cards.querySelectorAll('.svdw-gl-card').forEach(card => {
      const item = items[Number((card as HTMLElement).dataset.card)];
      const on = !!item && chosen.some(i => cardHas(item, layer, i));
      card.classList.toggle('svdw-gl-selected', on);
      first = first ?? (on ? (card as HTMLElement) : null);
    });
    this._cards.classList.toggle('svdw-gl-has-selection', first !== null);
    const key = `${layer}:${chosen.join(',')}`;
    if (first === null || key === this._scrolledTo) {
      return;
    }
    this._scrolledTo = key;
    const target = first as HTMLElement;
    if (typeof target.scrollIntoView === 'function') {
      target.scrollIntoView({ block: 'nearest', inline: 'nearest' });
    }
  }

  private _updateHeader(): void {
    const title = this.model.get('title') || 'Singular vectors';
    const layer = this.model.get('layer');
    this._title.textContent = layer ? `${title} · ${layer}` : title;
  }

  private _updateProgress(): void {
    const busy = !!this.model.get('busy');
    const p = Math.min(Math.max(Number(this.model.get('progress')) || 0, 0), 1);
    this._bar.style.width = `${Math.round(p * 100)}%`;
    this._bar.parentElement?.classList.toggle('svdw-gl-busy', busy);
    this._cancel.style.display = busy ? '' : 'none';
    this._cancel.disabled = !this.model.comm_live;
    this._status.textContent = this.model.get('status') || '';
  }

  private _updateError(): void {
    const error = this.model.get('error') || '';
    this._error.textContent = error;
    this._error.style.display = error ? '' : 'none';
  }

  private _onClick = (ev: MouseEvent): void => {
    const card = (ev.target as Element | null)?.closest?.('.svdw-gl-card') as HTMLElement | null;
    const selection = this._selection;
    if (!card || !selection) {
      return;
    }
    const item = this.items[Number(card.dataset.card)];
    if (!item) {
      return;
    }
    const current = selectedIn(selection, item.layer);
    let next: number[];
    if (ev.shiftKey || ev.metaKey || ev.ctrlKey) {
      next = current.includes(item.index)
        ? current.filter(i => i !== item.index)
        : [...current, item.index];
    } else {
      next = current.length === 1 && cardHas(item, item.layer, current[0]) ? [] : [item.index];
    }
    select(selection, item.layer, next);
  };

  private _onCancel = (): void => {
    this.send({ event: 'cancel' });
  };
}
