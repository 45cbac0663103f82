/**
 * A Map for per-process caches keyed by something unbounded (webhook ids, URLs): adding a new
 * key when `max` are held empties it first. Cheaper than tracking use order, and what is
 * dropped is only computed again.
 */
export class BoundedMap<K, V> extends Map<K, V> {
  private readonly max: number;

  constructor(max: number) {
    super();
    this.max = max;
  }

  override set(key: K, value: V): this {
    if (this.size >= this.max && !this.has(key)) this.clear();
    return super.set(key, value);
  }
}
