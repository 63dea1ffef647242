/**
 * What one row's decoder cache holds in its worker, learned from the bytes the worker reports
 * after the first two steps of a group (the model's warm-up caption teaches it before serving):
 * a part kept for the whole sequence (the encoder's states and projections, there from the first
 * step) and a part per token (the self-attention pasts, one position per fed token).
 */
export class CacheSizer {
  private keptPerRow: number | undefined;
  private perToken: number | undefined;
  private first: { group: string; rows: number; bytes: number } | undefined;

  /** The cache of `group` holds `bytes` for `rows` rows after step `step` (0 = the first). */
  observe(group: string, step: number, rows: number, bytes: number): void {
    if (this.perToken !== undefined || rows === 0) return;
    if (step === 0) this.first = { group, rows, bytes };
    else if (step === 1 && this.first?.group === group && this.first.rows === rows) {
      // After step s the pasts hold s + 1 positions: bytes / rows = kept + (s + 1) × perToken.
      const [afterFirst, afterSecond] = [this.first.bytes / rows, bytes / rows];
      this.perToken = afterSecond - afterFirst;
      this.keptPerRow = afterFirst - this.perToken;
    }
  }

  /** A row's bytes once it has fed `tokens` tokens (the start token included); undefined until learned. */
  rowBytes(tokens: number): number | undefined {
    if (this.perToken === undefined || this.keptPerRow === undefined) return undefined;
    return this.keptPerRow + tokens * this.perToken;
  }
}
