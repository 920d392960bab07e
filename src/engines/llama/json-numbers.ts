/**
 * Numbers a JSON grammar may produce, so that what it lets a model write is
 * a number every client can use.
 *
 * node-llama-cpp's JSON-Schema grammars (and llama.cpp's json.gbnf) allow an
 * exponent of up to 16 digits on any number, integers included: a model may
 * then write `-5e141163` (parses to -Infinity) for a `number` or `80108e-3`
 * (a fraction) for an `integer`. Our schema compiler (json-schema/) and the
 * json_object grammar use these rules instead. Here an integer is digits only, and a number
 * has at most 16 integer and 16 fraction digits and a two-digit exponent, so
 * its magnitude stays below 1e116: always finite in a double.
 */

/** An optional minus, then 0 or up to 16 digits without a leading zero. */
export const integerGbnf = '"-"? ("0" | [1-9] [0-9]{0,15})';

/** An integer part, an optional fraction, an optional exponent of at most two digits. */
export const finiteNumberGbnf = `${integerGbnf} ("." [0-9]{1,16})? ([eE] [-+]? [0-9]{1,2})?`;

/**
 * Any JSON object (OpenAI's `json_object` mode): llama.cpp's json.gbnf with
 * finite numbers and the same bounded whitespace; string characters listed
 * positively (never a surrogate half or a value past U+10FFFF).
 */
export const jsonObjectGbnf = String.raw`root ::= object
value ::= object | array | string | number | ("true" | "false" | "null") ws
object ::= "{" ws ( string ":" ws value ("," ws string ":" ws value)* )? "}" ws
array ::= "[" ws ( value ("," ws value)* )? "]" ws
string ::= "\"" ( [\x20-\x21\x23-\x5B\x5D-\x7E\x80-\uD7FF\uE000-\U0010FFFF] | "\\" (["\\/bfnrt] | "u" [0-9a-fA-F]{4}) )* "\"" ws
number ::= ${finiteNumberGbnf} ws
ws ::= | " " | "\n" [ \t]{0,20}
`;
