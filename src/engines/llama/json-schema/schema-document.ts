/**
 * One JSON Schema document: its draft, where each subschema sits (a JSON
 * Pointer, for refusals) and its base URI, and `$ref` resolution within the
 * document — `#`, `#/$defs/…`, `#/definitions/…` or any JSON Pointer,
 * `$anchor`s (and draft-06/07 `$id: "#name"`), and `$id`-relative
 * references to resources embedded in the document. A reference outside the
 * document cannot be resolved (nothing is fetched).
 */
import { declaredDraft, schemaKeywords, schemaListKeywords, schemaMapKeywords, type SchemaDraft } from "../../../protocol/json-schema.js";
import { SchemaRefusal } from "./schema-refusal.js";

export type Draft = SchemaDraft;

/** The draft a `$schema` names; a missing or unrecognised one reads as draft-07, the default of OpenAI and Ajv. */
export function draftOf(schema: unknown): Draft {
  return (isObject(schema) ? declaredDraft(schema.$schema) : null) ?? "draft-07";
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}


const escapeToken = (token: string): string => token.replaceAll("~", "~0").replaceAll("/", "~1");
const defaultBase = "https://chatport.invalid/schema.json";

interface Placement {
  pointer: string;
  base: string;
  document: SchemaDocument;
}

/** Where every subschema object sits; shared by the documents compiled into one grammar. */
export class SchemaPlacements {
  private readonly placements = new WeakMap<object, Placement>();
  get(node: object): Placement | undefined {
    return this.placements.get(node);
  }
  set(node: object, placement: Placement): void {
    if (!this.placements.has(node)) this.placements.set(node, placement);
  }
}

export class SchemaDocument {
  readonly draft: Draft;
  private readonly resources = new Map<string, unknown>();
  private readonly anchors = new Map<string, unknown>();

  constructor(
    readonly root: unknown,
    private readonly placements: SchemaPlacements,
  ) {
    this.draft = draftOf(root);
    this.index(root, "", defaultBase);
  }

  pointerOf(node: unknown): string {
    return isObject(node) ? (this.placements.get(node)?.pointer ?? "") : "";
  }

  /** Records the pointer and base URI of `node` and the subschemas below it (iteratively: schemas can be deep). */
  private index(start: unknown, startPointer: string, startBase: string): void {
    const stack: Array<[unknown, string, string]> = [[start, startPointer, startBase]];
    while (stack.length > 0) {
      const [node, pointer, parentBase] = stack.pop() as [unknown, string, string];
      if (!isObject(node) || this.placements.get(node) !== undefined) continue;
      let base = parentBase;
      if (typeof node.$id === "string") {
        try {
          const url = new URL(node.$id, parentBase);
          const anchor = url.hash.slice(1);
          url.hash = "";
          if (anchor !== "" && !anchor.startsWith("/")) this.anchors.set(`${url.href}#${anchor}`, node);
          else {
            base = url.href;
            this.resources.set(base, node);
          }
        } catch {
          // not a URI: an annotation as far as references go
        }
      }
      if (pointer === "") this.resources.set(defaultBase, node);
      for (const key of ["$anchor", "$dynamicAnchor"]) {
        const anchor = node[key];
        if (typeof anchor === "string") this.anchors.set(`${base}#${anchor}`, node);
      }
      this.placements.set(node, { pointer, base, document: this });
      for (const key of schemaKeywords) {
        const value = node[key];
        if (isObject(value)) stack.push([value, `${pointer}/${key}`, base]);
      }
      for (const key of schemaListKeywords) {
        const value = node[key];
        if (Array.isArray(value)) value.forEach((sub: unknown, i) => stack.push([sub, `${pointer}/${key}/${i}`, base]));
      }
      for (const key of schemaMapKeywords) {
        const value = node[key];
        if (isObject(value)) for (const [name, sub] of Object.entries(value)) stack.push([sub, `${pointer}/${key}/${escapeToken(name)}`, base]);
      }
    }
  }

  /** The schema `ref` (found in `from`) points to; a refusal if it points nowhere in the document. */
  resolve(ref: string, from: object): unknown {
    const placement = this.placements.get(from);
    const at = `${placement?.pointer ?? ""}/$ref`;
    let url: URL;
    try {
      url = new URL(ref, placement?.base ?? defaultBase);
    } catch {
      throw new SchemaRefusal("$ref", at, `the reference ${JSON.stringify(ref)} is not a URI`);
    }
    const fragment = decodeURIComponent(url.hash.slice(1));
    url.hash = "";
    const resource = this.resources.get(url.href);
    if (resource === undefined) throw new SchemaRefusal("$ref", at, `the reference ${JSON.stringify(ref)} points outside the schema (nothing is fetched)`);
    if (fragment === "") return resource;
    if (!fragment.startsWith("/")) {
      const anchored = this.anchors.get(`${url.href}#${fragment}`);
      if (anchored === undefined) throw new SchemaRefusal("$ref", at, `the reference ${JSON.stringify(ref)} names no anchor of the schema`);
      return anchored;
    }
    let node: unknown = resource;
    for (const raw of fragment.split("/").slice(1)) {
      const token = raw.replaceAll("~1", "/").replaceAll("~0", "~");
      if (Array.isArray(node) && /^(0|[1-9]\d*)$/.test(token)) node = node[Number(token)];
      else if (isObject(node) && Object.hasOwn(node, token)) node = node[token];
      else throw new SchemaRefusal("$ref", at, `the reference ${JSON.stringify(ref)} points nowhere in the schema`);
    }
    if (isObject(node) && this.placements.get(node) === undefined) {
      const resourceBase = isObject(resource) ? (this.placements.get(resource)?.base ?? defaultBase) : defaultBase;
      this.index(node, fragment === "" ? "" : fragment, resourceBase);
    }
    return node;
  }
}
