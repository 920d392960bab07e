#!/usr/bin/env node
/** The `chatport` command line. */
import { Command } from "commander";
import { makeTestModelCommand } from "./make-test-model-command.js";
import { serveCommand } from "./serve-command.js";

const program = new Command("chatport")
  .description("OpenAI-compatible chat completions server")
  .addCommand(serveCommand())
  .addCommand(makeTestModelCommand());

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`chatport: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
