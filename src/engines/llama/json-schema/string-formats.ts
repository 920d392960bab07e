/**
 * `format` on strings and numbers, as GBNF. Each string grammar writes a
 * conservative core of its format: every string it allows passes the format
 * check of Ajv's `ajv-formats` (full mode, the strictest) and of the usual
 * client libraries, so an output is valid whoever validates it. A date's
 * day exists in its month (29 February is left out), times are UTC.
 */

const hour = '([01] [0-9] | "2" [0-3])';
const minute = "[0-5] [0-9]";
const date = String.raw`[0-9]{4} "-" ( ("0" [13578] | "1" [02]) "-" ("0" [1-9] | [12] [0-9] | "3" [01]) | ("0" [469] | "11") "-" ("0" [1-9] | [12] [0-9] | "30") | "02-" ("0" [1-9] | "1" [0-9] | "2" [0-8]) )`;
const time = `${hour} ":" ${minute} ":" ${minute} ("." [0-9]{1,3})? "Z"`;
const label = "[a-z0-9] ([a-z0-9-]{0,20} [a-z0-9])?";
const letters = "[a-z]{2,6}";
const hostname = `(${label} "."){0,3} ${label}`;
const domain = `(${label} "."){1,3} ${letters}`;
const octet = '("25" [0-5] | "2" [0-4] [0-9] | "1" [0-9] [0-9] | [1-9]? [0-9])';
const hex4 = "[0-9a-f]{1,4}";
const uriPath = '("/" [a-zA-Z0-9._~-]{0,30}){1,8}';
const uri = `("https" | "http") "://" ${domain} ${uriPath} ("?" [a-z0-9_]{1,20} "=" [a-zA-Z0-9._~-]{0,30})?`;
const duration = '"P" ([0-9]{1,4} [YMWD] | "T" [0-9]{1,4} [HMS])';
const base64 = "([A-Za-z0-9+/]{4}){0,64} ([A-Za-z0-9+/]{2} \"==\" | [A-Za-z0-9+/]{3} \"=\")?";

/** String formats and the grammar of the characters they allow. */
export const stringFormats: Readonly<Record<string, string>> = {
  "date-time": `${date} "T" ${time}`,
  date,
  time,
  duration,
  email: `[a-z0-9]{1,20} ("." [a-z0-9]{1,20}){0,2} "@" ${domain}`,
  "idn-email": `[a-z0-9]{1,20} ("." [a-z0-9]{1,20}){0,2} "@" ${domain}`,
  hostname,
  "idn-hostname": hostname,
  ipv4: `${octet} "." ${octet} "." ${octet} "." ${octet}`,
  ipv6: `${hex4} (":" ${hex4}){7}`,
  uuid: "[0-9a-f]{8} \"-\" [0-9a-f]{4} \"-\" [1-8] [0-9a-f]{3} \"-\" [89ab] [0-9a-f]{3} \"-\" [0-9a-f]{12}",
  uri,
  "uri-reference": uri,
  iri: uri,
  "iri-reference": uri,
  url: uri,
  "uri-template": uri,
  "json-pointer": '("/" [a-z0-9_]{0,20}){0,8}',
  "relative-json-pointer": '("0" | [1-9] [0-9]{0,3}) ("/" [a-z0-9_]{0,20}){0,8}',
  regex: "[a-zA-Z0-9 _]{0,30}",
  byte: base64,
  "iso-time": time,
  "iso-date-time": `${date} "T" ${time}`,
};


/** The fewest and most characters each string format's grammar writes (uri: https:// + host + path + query). */
export const stringFormatLengths: Readonly<Record<string, readonly [number, number]>> = {
  "date-time": [20, 24],
  date: [10, 10],
  time: [9, 13],
  duration: [3, 7],
  email: [6, 138],
  "idn-email": [6, 138],
  hostname: [1, 95],
  "idn-hostname": [1, 95],
  ipv4: [7, 15],
  ipv6: [15, 39],
  uuid: [36, 36],
  uri: [12, 383],
  "uri-reference": [12, 383],
  iri: [12, 383],
  "iri-reference": [12, 383],
  url: [12, 383],
  "uri-template": [12, 383],
  "json-pointer": [0, 168],
  "relative-json-pointer": [1, 172],
  regex: [0, 30],
  byte: [0, 260],
  "iso-time": [9, 13],
  "iso-date-time": [20, 24],
};

/** Number formats: the integer range or kind they mean. */
export const numberFormats: Readonly<Record<string, { integer: boolean; minimum: number | null; maximum: number | null }>> = {
  int32: { integer: true, minimum: -(2 ** 31), maximum: 2 ** 31 - 1 },
  int64: { integer: true, minimum: null, maximum: null },
  float: { integer: false, minimum: null, maximum: null },
  double: { integer: false, minimum: null, maximum: null },
};

/**
 * Patterns libraries emit beside a format (zod 4: z.email(), z.uuid(),
 * z.uuidv4(), z.guid(), z.ipv4(), z.ipv6(), z.hostname(), z.iso.datetime(),
 * z.iso.date(), z.iso.duration()), each with a grammar every string of which
 * passes both the format and the pattern (checked on samples in
 * test/json-schema-compiler): with one of them the pair is enforced. Any
 * other pattern beside a format is refused.
 */
const uuidV4 = "[0-9a-f]{8} \"-\" [0-9a-f]{4} \"-4\" [0-9a-f]{3} \"-\" [89ab] [0-9a-f]{3} \"-\" [0-9a-f]{12}";
export const patternsWithFormat: Readonly<Record<string, ReadonlyMap<string, string>>> = {
  email: new Map([
    [String.raw`^(?:[A-Za-z0-9_'+\-]+\.)*[A-Za-z0-9_'+\-]*[A-Za-z0-9_+-]@(?:[A-Za-z0-9][A-Za-z0-9\-]*\.)+[A-Za-z]{2,}$`, stringFormats.email ?? ""],
    [String.raw`^(?!\.)(?!.*\.\.)([A-Za-z0-9_'+\-\.]*)[A-Za-z0-9_+-]@([A-Za-z0-9][A-Za-z0-9\-]*\.)+[A-Za-z]{2,}$`, stringFormats.email ?? ""],
  ]),
  uuid: new Map([
    [String.raw`^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[1-8][0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}|00000000-0000-0000-0000-000000000000|ffffffff-ffff-ffff-ffff-ffffffffffff)$`, stringFormats.uuid ?? ""],
    [String.raw`^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$`, stringFormats.uuid ?? ""],
    [String.raw`^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-4[0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12})$`, uuidV4],
  ]),
  ipv4: new Map([[String.raw`^(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])$`, stringFormats.ipv4 ?? ""]]),
  ipv6: new Map([[String.raw`^(([0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4}|([0-9a-fA-F]{1,4}:){1,7}:|([0-9a-fA-F]{1,4}:){1,6}:[0-9a-fA-F]{1,4}|([0-9a-fA-F]{1,4}:){1,5}(:[0-9a-fA-F]{1,4}){1,2}|([0-9a-fA-F]{1,4}:){1,4}(:[0-9a-fA-F]{1,4}){1,3}|([0-9a-fA-F]{1,4}:){1,3}(:[0-9a-fA-F]{1,4}){1,4}|([0-9a-fA-F]{1,4}:){1,2}(:[0-9a-fA-F]{1,4}){1,5}|[0-9a-fA-F]{1,4}:((:[0-9a-fA-F]{1,4}){1,6})|:((:[0-9a-fA-F]{1,4}){1,7}|:))$`, stringFormats.ipv6 ?? ""]]),
  hostname: new Map([[String.raw`^(?=.{1,253}\.?$)[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[-0-9a-zA-Z]{0,61}[0-9a-zA-Z])?)*\.?$`, stringFormats.hostname ?? ""]]),
  "date-time": new Map([
    [String.raw`^(?:(?:\d\d[2468][048]|\d\d[13579][26]|\d\d0[48]|[02468][048]00|[13579][26]00)-02-29|\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\d|30)|(?:02)-(?:0[1-9]|1\d|2[0-8])))T(?:(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d+)?(?:Z))$`, stringFormats["date-time"] ?? ""],
    [String.raw`^(?:(?:\d\d[2468][048]|\d\d[13579][26]|\d\d0[48]|[02468][048]00|[13579][26]00)-02-29|\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\d|30)|(?:02)-(?:0[1-9]|1\d|2[0-8])))T(?:(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d+)?(?:Z|([+-](?:[01]\d|2[0-3]):[0-5]\d)))$`, stringFormats["date-time"] ?? ""],
  ]),
  date: new Map([[String.raw`^(?:(?:\d\d[2468][048]|\d\d[13579][26]|\d\d0[48]|[02468][048]00|[13579][26]00)-02-29|\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\d|30)|(?:02)-(?:0[1-9]|1\d|2[0-8])))$`, stringFormats.date ?? ""]]),
  duration: new Map([[String.raw`^P(?:(\d+W)|(?!.*W)(?=\d|T\d)(\d+Y)?(\d+M)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+([.,]\d+)?S)?)?)$`, stringFormats.duration ?? ""]]),
};
