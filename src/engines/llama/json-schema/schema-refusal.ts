/**
 * A schema the compiler will not turn into a grammar: a keyword of the JSON
 * Schema vocabulary it cannot enforce, a reference it cannot resolve, a
 * schema that can never be satisfied, or a grammar that would be too big.
 * `keyword` and `pointer` (a JSON Pointer into the schema) say where.
 */
export class SchemaRefusal extends Error {
  constructor(
    readonly keyword: string,
    readonly pointer: string,
    readonly reason: string,
  ) {
    super(`${reason} (keyword '${keyword}' at '${pointer === "" ? "/" : pointer}')`);
    this.name = "SchemaRefusal";
  }
}
