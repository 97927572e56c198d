/**
 * Binary min-heap ordered by (priority, insertion order): equal priorities leave first-in first-out.
 */
export class PriorityQueue<T> {
  private heap: { p: number; seq: number; v: T }[] = [];
  private seq = 0;

  get size(): number {
    return this.heap.length;
  }

  push(priority: number, value: T): void {
    this.heap.push({ p: priority, seq: this.seq++, v: value });
    let i = this.heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  peek(): T | undefined {
    return this.heap[0]?.v;
  }

  pop(): T | undefined {
    const top = this.heap[0];
    if (!top) return undefined;
    const last = this.heap.pop();
    if (this.heap.length > 0 && last) {
      this.heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < this.heap.length && this.less(l, m)) m = l;
        if (r < this.heap.length && this.less(r, m)) m = r;
        if (m === i) break;
        this.swap(i, m);
        i = m;
      }
    }
    return top.v;
  }

  /** Remove every entry for which `pred` holds (cancelled requests). */
  removeWhere(pred: (v: T) => boolean): void {
    const keep = this.heap.filter((e) => !pred(e.v));
    if (keep.length === this.heap.length) return;
    this.heap = [];
    for (const e of keep.sort((a, b) => a.p - b.p || a.seq - b.seq)) this.heap.push(e);
  }

  private less(a: number, b: number): boolean {
    const x = this.heap[a];
    const y = this.heap[b];
    if (!x || !y) return false;
    return x.p < y.p || (x.p === y.p && x.seq < y.seq);
  }

  private swap(a: number, b: number): void {
    const t = this.heap[a];
    const u = this.heap[b];
    if (t === undefined || u === undefined) return;
    this.heap[a] = u;
    this.heap[b] = t;
  }
}
