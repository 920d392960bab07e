/**
 * One ledger row per request that reached a model, written from the engine's
 * own usage counts (not from what the client asked to see), including
 * requests cut short by a disconnect or an error. `finish` resolves once the
 * row is committed and the key's counters are booked, and the route awaits it
 * before it sends the end of a response, so no response reaches the client as
 * complete without its row.
 */
import { randomUUID } from "node:crypto";
import type { ModelPrices } from "../config.js";
import type { UsageCounts } from "../protocol/chat-events.js";
import type { Ledger, LedgerStatus } from "../store/types.js";
import type { Admission } from "./gatekeeper.js";
import type { ApiName } from "../protocol/api-surface.js";
import type { GatewayMetrics } from "./metrics.js";
import { costOf } from "./pricing.js";

export interface MeterOptions {
  ledger: Ledger;
  /** The API the request came in by, for metrics. */
  api: ApiName;
  admission: Admission;
  requestId: string;
  keyId: string | null;
  /** The key's name for metrics labels ("none" without a managed key). */
  keyName: string;
  metrics: GatewayMetrics;
  model: string;
  stream: boolean;
  prices: ModelPrices | undefined;
  /** ms since the HTTP request arrived. */
  elapsed: () => number;
}

export interface MeterOutcome {
  status: LedgerStatus;
  httpStatus: number;
}

export class RequestMeter {
  private readonly options: MeterOptions;
  private completionId: string | null = null;
  private ttftMs: number | null = null;
  private usage: UsageCounts | null = null;
  private finished: Promise<void> | null = null;

  constructor(options: MeterOptions) {
    this.options = options;
  }

  /** The admission whose reservation the row settles (the request's last, after a fallback). */
  setAdmission(admission: Admission): void {
    this.options.admission = admission;
  }

  /** The model that served (after aliases and fallbacks), and its prices. */
  setModel(model: string, prices: ModelPrices | undefined): void {
    this.options.model = model;
    this.options.prices = prices;
  }

  /**
   * The response id (`chatcmpl-…`); the ledger row's primary key. A request
   * that fails before it has one is keyed by an id of our own: the client's
   * x-request-id is only a correlation id (`request_id`), as clients may
   * repeat it.
   */
  setCompletionId(id: string): void {
    this.completionId = id;
  }

  firstToken(): void {
    this.ttftMs ??= this.options.elapsed();
  }

  setUsage(usage: UsageCounts): void {
    this.usage = usage;
  }

  /** Writes the row (once; later calls return the same promise). */
  finish(outcome: MeterOutcome): Promise<void> {
    this.finished ??= this.write(outcome);
    return this.finished;
  }

  private async write(outcome: MeterOutcome): Promise<void> {
    const o = this.options;
    const usage = this.usage;
    const tokens = {
      promptTokens: usage?.promptTokens ?? 0,
      cachedTokens: usage?.cachedTokens ?? 0,
      completionTokens: usage?.completionTokens ?? 0,
      reasoningTokens: usage?.reasoningTokens ?? 0,
    };
    const cost = costOf(tokens, o.prices);
    const latencyMs = Math.round(o.elapsed());
    o.metrics.observeRequest({
      api: o.api,
      model: o.model,
      status: outcome.status,
      httpStatus: outcome.httpStatus,
      keyName: o.keyName,
      stream: o.stream,
      usage,
      ttftMs: this.ttftMs,
      latencyMs,
    });
    await Promise.all([
      o.ledger.record({
        id: this.completionId ?? `req_${randomUUID().replaceAll("-", "")}`,
        requestId: o.requestId,
        keyId: o.keyId,
        model: o.model,
        ...tokens,
        cost,
        status: outcome.status,
        httpStatus: outcome.httpStatus,
        stream: o.stream,
        latencyMs,
        ttftMs: this.ttftMs === null ? null : Math.round(this.ttftMs),
        createdAt: new Date(),
        usageEstimated: usage?.estimated === true,
      }),
      o.admission.settle({ promptTokens: tokens.promptTokens, completionTokens: tokens.completionTokens, cost }),
    ]);
  }
}
