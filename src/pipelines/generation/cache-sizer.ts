/**
 * What one row's decoder cache holds in its worker, learned from the bytes the worker reports
 * for one group of rows at two lengths (the model's warm-up caption teaches it before serving):
 * a part kept for the whole sequence (the encoder's states and projections, or the
 * cross-attention caches) and a part per token (the self-attention pasts, one position per fed
 * token).
 */
export class CacheSizer {
  private keptPerRow: number | undefined;
  private perToken: number | undefined;
  private first: { group: string; rows: number; length: number; bytes: number } | undefined;

  /** The cache of `group` holds `bytes` for `rows` rows of `length` positions each. */
  observe(group: string, length: number, rows: number, bytes: number): void {
    if (this.perToken !== undefined || rows === 0) return;
    const first = this.first;
    if (!first || first.group !== group || first.rows !== rows || first.length === length) {
      this.first = { group, rows, length, bytes };
      return;
    }
    // bytes / rows = kept + length × perToken, at two lengths.
    this.perToken = (bytes / rows - first.bytes / rows) / (length - first.length);
    this.keptPerRow = first.bytes / rows - first.length * this.perToken;
  }

  /** A row's bytes once it has fed `tokens` tokens (the start token included); undefined until learned. */
  rowBytes(tokens: number): number | undefined {
    if (this.perToken === undefined || this.keptPerRow === undefined) return undefined;
    return this.keptPerRow + tokens * this.perToken;
  }
}
