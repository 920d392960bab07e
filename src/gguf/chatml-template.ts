/**
 * The Jinja chat templates stored as `tokenizer.chat_template` in generated
 * test models. Format: ChatML, one turn per message,
 *
 *   <|im_start|>ROLE\nTEXT<|im_end|>\n
 *
 * plus Hermes/Qwen-style tools: the tool list as JSON lines inside
 * <tools></tools> in the system turn, assistant calls as
 * <tool_call>\n{"name": ..., "arguments": ...}\n</tool_call>, and consecutive
 * tool results grouped into one user turn of <tool_response> blocks.
 *
 * Every tag trims surrounding whitespace ({%- -%}), and all newlines are
 * emitted explicitly as '\n' string literals, so the indentation below never
 * reaches the prompt. Content may be a string, a list of OpenAI content parts
 * (text parts are concatenated), or a JSON value (rendered with tojson).
 *
 * Both templates come from one builder, so they cannot drift apart: the
 * thinking one only splices in the three fragments below.
 */

/** Before the message loop: the index of the last user message (-1 without one). */
const THINKING_SETUP = String.raw`

{%- set last_user = namespace(index=-1) -%}
{%- for message in messages -%}
  {%- if message.role == 'user' -%}
    {%- set last_user.index = loop.index0 -%}
  {%- endif -%}
{%- endfor -%}`;

/** Right after an assistant turn's header. */
const HISTORY_REASONING = String.raw`
    {%- if loop.index0 > last_user.index and message.reasoning_content is string and message.reasoning_content -%}
      {{- '<think>\n' + message.reasoning_content.strip('\n') + '\n</think>\n\n' -}}
    {%- endif -%}`;

/** Right after the generation prompt's header. */
const THINKING_OPENER = String.raw`
  {%- if enable_thinking is defined and enable_thinking is not none and not enable_thinking -%}
    {{- '<think>\n\n</think>\n\n' -}}
  {%- else -%}
    {{- '<think>\n' -}}
  {%- endif -%}`;

/**
 * Without `thinking` this is exactly the original ChatML + tools template, byte
 * for byte: generated "chatml" models must keep their hashes.
 */
function chatmlTemplate(thinking: boolean): string {
  return String.raw`
{%- macro render_content(content) -%}
  {%- if content is string -%}
    {{- content -}}
  {%- elif content is mapping -%}
    {{- content | tojson -}}
  {%- elif content is iterable -%}
    {%- for part in content -%}
      {%- if part is string -%}
        {{- part -}}
      {%- elif part.type == 'text' -%}
        {{- part.text -}}
      {%- endif -%}
    {%- endfor -%}
  {%- elif content is not none and content is defined -%}
    {{- content | tojson -}}
  {%- endif -%}
{%- endmacro -%}

{%- set tool_list = tools if tools is defined and tools else [] -%}
{%- set has_tools = tool_list | length > 0 -%}
{%- set leading_system = messages | length > 0 and messages[0].role in ['system', 'developer'] -%}

{%- if has_tools -%}
  {{- '<|im_start|>system\n' -}}
  {%- if leading_system -%}
    {{- render_content(messages[0].content) -}}
    {{- '\n\n' -}}
  {%- endif -%}
  {{- '# Tools\n\nThe functions below are available. Each is described by a JSON object inside <tools></tools>:\n<tools>' -}}
  {%- for tool in tool_list -%}
    {{- '\n' -}}
    {{- tool | tojson -}}
  {%- endfor -%}
  {{- '\n</tools>\n\nTo use them, reply with one <tool_call></tool_call> block per call, each holding a JSON object with the function name and its arguments:\n<tool_call>\n{"name": <function name>, "arguments": <arguments as a JSON object>}\n</tool_call><|im_end|>\n' -}}
{%- endif -%}${thinking ? THINKING_SETUP : ""}

{%- for message in messages -%}
  {%- set role = message.role -%}
  {%- if role in ['system', 'developer'] -%}
    {%- if not (loop.first and has_tools) -%}
      {{- '<|im_start|>system\n' -}}
      {{- render_content(message.content) -}}
      {{- '<|im_end|>\n' -}}
    {%- endif -%}
  {%- elif role == 'assistant' -%}
    {{- '<|im_start|>assistant\n' -}}${thinking ? HISTORY_REASONING : ""}
    {%- if message.content -%}
      {{- render_content(message.content) -}}
    {%- endif -%}
    {%- if message.tool_calls -%}
      {%- for call in message.tool_calls -%}
        {%- set fn = call.function if call.function is defined else call -%}
        {%- if message.content or not loop.first -%}
          {{- '\n' -}}
        {%- endif -%}
        {{- '<tool_call>\n{"name": ' -}}
        {{- fn.name | tojson -}}
        {{- ', "arguments": ' -}}
        {%- if fn.arguments is string -%}
          {{- fn.arguments -}}
        {%- elif fn.arguments is defined and fn.arguments is not none -%}
          {{- fn.arguments | tojson -}}
        {%- else -%}
          {{- '{}' -}}
        {%- endif -%}
        {{- '}\n</tool_call>' -}}
      {%- endfor -%}
    {%- endif -%}
    {{- '<|im_end|>\n' -}}
  {%- elif role == 'tool' -%}
    {%- if loop.first or messages[loop.index0 - 1].role != 'tool' -%}
      {{- '<|im_start|>user' -}}
    {%- endif -%}
    {{- '\n<tool_response>\n' -}}
    {{- render_content(message.content) -}}
    {{- '\n</tool_response>' -}}
    {%- if loop.last or messages[loop.index0 + 1].role != 'tool' -%}
      {{- '<|im_end|>\n' -}}
    {%- endif -%}
  {%- else -%}
    {{- '<|im_start|>' + role + '\n' -}}
    {{- render_content(message.content) -}}
    {{- '<|im_end|>\n' -}}
  {%- endif -%}
{%- endfor -%}

{%- if add_generation_prompt -%}
  {{- '<|im_start|>assistant\n' -}}${thinking ? THINKING_OPENER : ""}
{%- endif -%}
`.trim();
}

/** The plain ChatML + tools template (no reasoning). */
export const CHATML_TOOLS_TEMPLATE = chatmlTemplate(false);

/**
 * Qwen3-style: the ChatML + tools template plus thinking.
 * - `enable_thinking` (default true when undefined or none): with
 *   `add_generation_prompt` the prompt ends `<|im_start|>assistant\n<think>\n`,
 *   or with `<|im_start|>assistant\n<think>\n\n</think>\n\n` when it is false.
 * - An assistant message with a non-empty string `reasoning_content` renders it
 *   as `<think>\n…\n</think>\n\n` before its content, but only after the last
 *   user message (the current tool-calling round); earlier turns drop it, as
 *   Qwen3 does. Leading and trailing newlines of the reasoning are stripped.
 */
export const CHATML_THINKING_TOOLS_TEMPLATE = chatmlTemplate(true);
