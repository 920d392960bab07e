#!/usr/bin/env node
/** The `chatport` command line. */
import { Command } from "commander";
import { benchCommand } from "./bench-command.js";
import { keysCommand, usageCommand } from "./keys-command.js";
import { makeTestModelCommand } from "./make-test-model-command.js";
import { serveCommand } from "./serve-command.js";

const program = new Command("chatport")
  .description("OpenAI-compatible chat completions server")
  .addCommand(serveCommand())
  .addCommand(keysCommand())
  .addCommand(usageCommand())
  .addCommand(makeTestModelCommand())
  .addCommand(benchCommand());

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`chatport: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
